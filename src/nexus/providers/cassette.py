"""Cassettes: recorded model interactions that the offline provider replays.

A cassette is a YAML file::

    task: "Add a function slugify(...) ..."
    model_label: "openai:gpt-4o"          # what the recording was made with (display only)
    interactions:
      - agent: code
        step: implement                   # the step key, e.g. validate[2]/fix
        turn: 1                           # the model call within the step, from 1
        response:
          text: "I'll read the spec first."
          tool_calls: [{name: read_file, arguments: {path: scratchpads/aria_to_code.md}}]
          usage: {input_tokens: 1530, output_tokens: 42}

Matching is stateless, so a run that crashed and resumed finds the same answers:
the key is (normalised task, agent id, step key, turn). The task is normalised by
collapsing whitespace and case (:func:`normalize_task`). An interaction may carry
its own ``task`` to override the cassette's.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nexus.domain.messages import Message, ModelResponse, Part, TextPart, ToolCall, Usage
from nexus.errors import ConfigError

__all__ = [
    "Cassette",
    "CassetteLibrary",
    "Interaction",
    "InteractionKey",
    "RecordedResponse",
    "RecordedToolCall",
    "dump_cassette",
    "load_cassette",
    "normalize_task",
    "record_from_response",
    "response_from_record",
]

CASSETTE_SUFFIXES = (".yaml", ".yml")


def normalize_task(task: str | None) -> str:
    """The matching form of a task text: whitespace collapsed, case folded; None → ``""``."""
    return " ".join((task or "").split()).casefold()


class RecordedToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None


class RecordedResponse(BaseModel):
    """A model reply as recorded: text, tool calls and token usage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = ""
    tool_calls: tuple[RecordedToolCall, ...] = ()
    usage: Usage = Field(default_factory=Usage)
    stop_reason: Literal["end_turn", "tool_use", "max_tokens", "error"] | None = None


class Interaction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: str
    step: str
    turn: int = Field(ge=1)
    task: str | None = None
    response: RecordedResponse


class Cassette(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str | None = None
    model_label: str = "offline:replay"
    description: str | None = None
    interactions: list[Interaction] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class InteractionKey:
    task: str
    agent: str
    step: str
    turn: int

    @classmethod
    def of(cls, task: str | None, agent: str | None, step: str | None, turn: int) -> InteractionKey:
        return cls(normalize_task(task), agent or "", step or "", int(turn))


def key_of(cassette: Cassette, interaction: Interaction) -> InteractionKey:
    task = interaction.task if interaction.task is not None else cassette.task
    return InteractionKey.of(task, interaction.agent, interaction.step, interaction.turn)


def response_from_record(
    record: RecordedResponse | dict[str, Any], model: str, *, turn: int = 1
) -> ModelResponse:
    """A canonical response from a recorded one.

    Tool calls recorded without an id get ``call_<turn>_<i>``.
    """
    if isinstance(record, RecordedResponse):
        rec = record
    else:
        rec = RecordedResponse.model_validate(record)
    parts: list[Part] = []
    if rec.text:
        parts.append(TextPart(text=rec.text))
    for i, call in enumerate(rec.tool_calls, start=1):
        call_id = call.id or f"call_{turn}_{i}"
        parts.append(ToolCall(id=call_id, name=call.name, arguments=dict(call.arguments)))
    stop = rec.stop_reason or ("tool_use" if rec.tool_calls else "end_turn")
    return ModelResponse(
        model=model,
        message=Message(role="assistant", parts=tuple(parts)),
        stop_reason=stop,
        usage=rec.usage.model_copy(),
    )


def record_from_response(response: ModelResponse) -> RecordedResponse:
    """The recordable form of a response (text, tool calls, usage without cost)."""
    calls = tuple(
        RecordedToolCall(name=c.name, arguments=dict(c.arguments))
        for c in response.message.tool_calls
    )
    usage = response.usage.model_copy(update={"cost_usd": 0.0})
    default_stop = "tool_use" if calls else "end_turn"
    stop = None if response.stop_reason == default_stop else response.stop_reason
    return RecordedResponse(
        text=response.message.text_content, tool_calls=calls, usage=usage, stop_reason=stop
    )


def load_cassette(path: str | Path) -> Cassette:
    """Parse one cassette file; errors name the file and the interaction."""
    file = Path(path)
    try:
        stat = file.stat()
    except OSError as exc:
        raise ConfigError(f"cassette {file}: cannot be read: {exc}", path=str(file)) from exc
    return _load_cached(str(file.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _load_cached(path: str, mtime_ns: int, size: int) -> Cassette:
    data = _read_yaml(Path(path))
    cassette = _parse(data, path)
    if cassette is None:
        raise ConfigError(f"cassette {path}: not a cassette (no 'interactions' list)", path=path)
    return cassette


def _read_yaml(file: Path) -> Any:
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cassette {file}: cannot be read: {exc}", path=str(file)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"cassette {file}: invalid YAML: {exc}", path=str(file)) from exc


def _parse(data: Any, path: str) -> Cassette | None:
    if not isinstance(data, dict) or "interactions" not in data:
        return None
    raw = data.get("interactions")
    if not isinstance(raw, list):
        raise ConfigError(f"cassette {path}: 'interactions' must be a list", path=path)
    for index, item in enumerate(raw, start=1):
        try:
            Interaction.model_validate(item)
        except ValidationError as exc:
            where = _describe(item, index)
            raise ConfigError(f"cassette {path}: {where} is invalid: {exc}", path=path) from exc
    try:
        cassette = Cassette.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"cassette {path}: invalid: {exc}", path=path) from exc
    seen: set[InteractionKey] = set()
    for interaction in cassette.interactions:
        key = key_of(cassette, interaction)
        if key in seen:
            raise ConfigError(
                f"cassette {path}: two interactions for agent '{key.agent}', step '{key.step}',"
                f" turn {key.turn}",
                path=path,
            )
        seen.add(key)
    return cassette


def _describe(item: Any, index: int) -> str:
    if isinstance(item, dict):
        return (
            f"interaction {index} (agent {item.get('agent')!r}, step {item.get('step')!r},"
            f" turn {item.get('turn')!r})"
        )
    return f"interaction {index}"


def dump_cassette(cassette: Cassette, path: str | Path) -> None:
    """Write ``cassette`` to ``path`` atomically, multi-line text as YAML block scalars."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    data = cassette.model_dump(mode="json", exclude_none=True)
    for item in data.get("interactions", []):
        response = item["response"]
        response["usage"] = {k: v for k, v in response.get("usage", {}).items() if v}
        if not response.get("tool_calls"):
            response.pop("tool_calls", None)
    text = yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)
    fd, tmp = tempfile.mkstemp(prefix=".cassette-", suffix=".yaml", dir=file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _BlockDumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


class CassetteLibrary:
    """The interactions of every cassette found in some files and directories.

    A directory contributes its ``*.yaml``/``*.yml`` files that are cassettes
    (other YAML files, such as a plan, are skipped) and those of its
    ``cassettes/`` subdirectory. Earlier sources win when two hold the same key.
    """

    def __init__(self, sources: Iterable[str | Path]) -> None:
        self.sources: tuple[Path, ...] = tuple(Path(s) for s in sources)
        self._index: dict[InteractionKey, tuple[Path, Cassette, Interaction]] = {}
        self._tasks: set[str] = set()
        self.files: list[Path] = []
        for file in _cassette_files(self.sources):
            cassette = _load_if_cassette(file)
            if cassette is None:
                continue
            self.files.append(file)
            for interaction in cassette.interactions:
                key = key_of(cassette, interaction)
                self._tasks.add(key.task)
                self._index.setdefault(key, (file, cassette, interaction))

    def __len__(self) -> int:
        return len(self._index)

    def find(self, key: InteractionKey) -> tuple[Path, Cassette, Interaction] | None:
        """The file, cassette and interaction recorded for ``key``, or None."""
        return self._index.get(key)

    @property
    def tasks(self) -> frozenset[str]:
        """The normalised tasks that have recordings."""
        return frozenset(self._tasks)

    def has_task(self, task: str | None) -> bool:
        """Whether any cassette holds a recording for this task."""
        return normalize_task(task) in self._tasks


def _cassette_files(sources: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    seen: set[Path] = set()
    for source in sources:
        candidates: list[Path] = []
        if source.is_file():
            candidates = [source]
        elif source.is_dir():
            for folder in (source, source / "cassettes"):
                if folder.is_dir():
                    candidates.extend(
                        sorted(p for p in folder.iterdir() if p.suffix in CASSETTE_SUFFIXES)
                    )
        for path in candidates:
            resolved = path.resolve()
            if resolved not in seen and resolved.is_file():
                seen.add(resolved)
                files.append(resolved)
    return files


def _load_if_cassette(file: Path) -> Cassette | None:
    stat = file.stat()
    return _maybe_cached(str(file), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _maybe_cached(path: str, mtime_ns: int, size: int) -> Cassette | None:
    return _parse(_read_yaml(Path(path)), path)
