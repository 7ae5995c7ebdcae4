"""Formatting shared by the CLI's views: durations, costs, times, one-line text, JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from rich.text import Text

STATUS_STYLES: dict[str, str] = {
    "created": "dim",
    "pending": "dim",
    "queued": "cyan",
    "running": "bold cyan",
    "retrying": "yellow",
    "waiting_input": "bold magenta",
    "succeeded": "green",
    "failed": "bold red",
    "skipped": "dim",
    "cancelled": "yellow",
}

OUTPUT_WIDTH = 60


def fmt_duration(seconds: float | None) -> str:
    """``0.42s``, ``12.3s``, ``2m05s``, ``1h02m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def fmt_cost(cost: float | None) -> str:
    """A USD amount: ``$0.0042``, ``$1.25``; ``-`` when unknown."""
    if cost is None:
        return "-"
    return f"${cost:.4f}" if cost < 1 else f"${cost:.2f}"


def fmt_time(ts: float | None) -> str:
    """A timestamp as local ``YYYY-MM-DD HH:MM:SS``; ``-`` when unknown."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def fmt_clock(ts: float) -> str:
    """A timestamp as local ``HH:MM:SS.mmm`` (event logs)."""
    return dt.datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")[:-3]


def one_line(text: str, width: int) -> str:
    """``text`` on one line (newlines become spaces), cut to ``width`` with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: max(0, width - 1)] + "…"


def summarize_output(value: Any, width: int = OUTPUT_WIDTH) -> str:
    """A step output as one short line: strings as they are, anything else as compact JSON."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(jsonable(value), ensure_ascii=False)
    return one_line(text, width)


def jsonable(value: Any) -> Any:
    """``value`` with dataclasses, enums, paths and tuples turned into JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def dumps(value: Any) -> str:
    """The one JSON document a ``--json`` command prints."""
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False)


def styled(status: str) -> Text:
    """A status word in its colour."""
    return Text(status, style=STATUS_STYLES.get(status, ""))


def pick(data: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    """The first of ``names`` that ``data`` has a non-None value for."""
    for name in names:
        if name in data and data[name] is not None:
            return data[name]
    return default


def as_number(value: Any) -> float | None:
    """``value`` as a float when it is a number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
