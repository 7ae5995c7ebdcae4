"""Parsing of command-line values: ``KEY=VALUE`` assignments and plan-or-task arguments.

Values are read as JSON when they parse as JSON (``3``, ``true``, ``[1, 2]``,
``{"a": 1}``, ``"quoted"``) and as the plain string otherwise, so
``--input task=add a slugify function`` and ``--input max_fix_rounds=2`` both do
what one expects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nexus.errors import NotFoundError, UserError

PLAN_SUFFIXES = (".yaml", ".yml", ".json")


class ArgumentError(UserError):
    """A command-line argument that cannot be parsed; the message names the argument."""

    code = "bad_argument"


def parse_value(text: str) -> Any:
    """``text`` as JSON when it is valid JSON, else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_assignment(item: str, option: str = "--input") -> tuple[str, Any]:
    """Split one ``KEY=VALUE`` argument into its key and parsed value.

    Raises :class:`ArgumentError` naming the option and the argument when the
    ``=`` is missing or the key is empty.
    """
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep:
        raise ArgumentError(f"{option} {item!r}: expected KEY=VALUE (no '=' found)")
    if not key:
        raise ArgumentError(f"{option} {item!r}: expected KEY=VALUE (the key is empty)")
    if any(ch.isspace() for ch in key):
        raise ArgumentError(f"{option} {item!r}: the key {key!r} contains whitespace")
    return key, parse_value(raw)


def parse_assignments(items: Iterable[str], option: str = "--input") -> dict[str, Any]:
    """Parse repeated ``KEY=VALUE`` arguments into a dict; a repeated key keeps the last value."""
    values: dict[str, Any] = {}
    for item in items:
        key, value = parse_assignment(item, option)
        values[key] = value
    return values


def is_plan_reference(argument: str) -> bool:
    """Whether ``nexus run ARGUMENT`` names a plan file rather than a free-text task.

    It does when the path exists as a file or ends in ``.yaml``, ``.yml`` or ``.json``
    (a missing plan file is then reported as such, not run as a task).
    """
    if argument.lower().endswith(PLAN_SUFFIXES):
        return True
    try:
        return Path(argument).is_file()
    except (OSError, ValueError):  # a long free-text task can be an invalid path
        return False


def plan_path(argument: str) -> Path:
    """The plan file ``argument`` names; :class:`NotFoundError` when it is missing."""
    path = Path(argument).expanduser()
    if not path.exists():
        raise NotFoundError(f"plan file not found: {argument}")
    if not path.is_file():
        raise ArgumentError(f"plan path is not a file: {argument}")
    return path
