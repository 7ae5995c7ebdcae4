"""Compact event rows for the shapes of event that runs write most.

An event of a shape listed in :data:`SHAPES` (its type and exactly its set of data
keys) is stored with a one-character code as its ``type`` and its data as a JSON
array of the values, in the order of the sorted keys: ``step.succeeded`` with
``{"attempt": 1, "duration_s": 0.5, "kind": "tool", "name": "echo"}`` becomes
``"4"`` and ``[1,0.5,"tool","echo"]``. Any other event keeps its type (prefixed
with ``~`` when it is one character long or starts with ``~``, so that it cannot
be taken for a code) and its data as a JSON object.

Reading gives back the same event either way: the data dict comes back with its
keys in sorted order, as from a JSON object written with sorted keys. The codes
are part of the store's format: a change to :data:`SHAPES` other than appending
to it needs a new :data:`~nexus.store._schema.SCHEMA_VERSION`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nexus.errors import StoreError

#: (type, data keys in the order the engine writes them); the position is the code.
SHAPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("run.created", ("plan",)),
    ("run.started", ("completed_steps",)),
    ("run.resumed", ("completed_steps",)),
    ("step.started", ("kind", "name", "attempt")),
    ("step.succeeded", ("kind", "name", "attempt", "duration_s")),
    ("run.succeeded", ("duration_s",)),
    ("step.started", ("kind",)),
    ("step.succeeded", ("kind", "duration_s")),
    ("step.skipped", ("kind", "reason")),
    ("step.failed", ("attempt", "error", "duration_s")),
    ("step.failed", ("attempt", "error")),
    ("step.retrying", ("attempt", "delay_s", "error")),
    ("step.cancelled", ()),
    ("step.waiting", ("question", "options", "default")),
    ("step.answered", ("answer",)),
    ("run.failed", ("error",)),
    ("run.waiting_input", ("steps",)),
    ("run.cancelled", ()),
    ("run.cancelled", ("by",)),
    ("workspace.committed", ("commit",)),
    ("workspace.rolled_back", ("commit", "step")),
    ("agent.turn", ("agent", "turn", "model")),
    (
        "model.responded",
        ("agent", "turn", "model", "response", "usage", "cost_usd", "replayed"),
    ),
    (
        "usage.recorded",
        ("agent", "model", "input_tokens", "output_tokens", "cache_read_tokens", "cost_usd"),
    ),
    ("tool.called", ("agent", "turn", "tool", "arguments", "ok", "summary")),
)

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ESCAPE = "~"

#: code → (type, sorted data keys)
_DECODE: dict[str, tuple[str, tuple[str, ...]]] = {}
#: (type, data keys as written or sorted) → (code, sorted data keys)
_ENCODE: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...]]] = {}
for _i, (_type, _keys) in enumerate(SHAPES):
    _code, _sorted = _ALPHABET[_i], tuple(sorted(_keys))
    _DECODE[_code] = (_type, _sorted)
    _ENCODE[(_type, _keys)] = _ENCODE[(_type, _sorted)] = (_code, _sorted)


def encode(type_: str, data: Any, dumps: Callable[[Any], str]) -> tuple[str, str | None]:
    """The stored (type, data) of an event; ``dumps`` writes JSON. Empty data is NULL."""
    shape = _ENCODE.get((type_, tuple(data))) if type(data) is dict else None
    if shape is not None:
        code, keys = shape
        return code, dumps([data[k] for k in keys]) if keys else None
    if len(type_) <= 1 or type_[0] == _ESCAPE:
        type_ = _ESCAPE + type_
    return type_, dumps(data) if data else None


def decode(
    stored_type: str, text: str | None, loads: Callable[[str], Any]
) -> tuple[str, dict[str, Any]]:
    """The (type, data) of a stored event row."""
    if len(stored_type) == 1 and stored_type != _ESCAPE:
        shape = _DECODE.get(stored_type)
        if shape is None:
            raise StoreError(f"unknown event type code {stored_type!r} in the store")
        type_, keys = shape
        if text is None:
            return type_, {}
        return type_, dict(zip(keys, loads(text), strict=True))
    if stored_type[0] == _ESCAPE:
        stored_type = stored_type[1:]
    return stored_type, loads(text) if text else {}
