"""Events come back exactly as written, whatever their shape, on every backend.

Common shapes are stored compactly (a type code and positional data); these tests
write each of them, shapes that only look like them, and types that could be taken
for a code, and compare what is read back.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from nexus.domain.runs import Event
from nexus.errors import ConfigError, StoreError
from nexus.store import _event_codes
from nexus.store.base import RunStore
from nexus.store.sql import SqliteStore
from tests.store.test_conformance import make_run

ERROR = {"code": "ToolError", "message": "boom", "step": "a", "detail": {"x": [1, 2.5]}}

#: one event data per listed shape, keys in the order the engine writes them
ENGINE_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("run.created", {"plan": "bench-pipeline"}),
    ("run.started", {"completed_steps": 0}),
    ("run.resumed", {"completed_steps": 3}),
    ("step.started", {"kind": "tool", "name": "fake_model", "attempt": 1}),
    ("step.succeeded", {"kind": "agent", "name": "dev", "attempt": 2, "duration_s": 7.9e-05}),
    ("run.succeeded", {"duration_s": 0.0053904056549072266}),
    ("step.started", {"kind": "parallel"}),
    ("step.succeeded", {"kind": "transform", "duration_s": 0.0}),
    ("step.skipped", {"kind": "tool", "reason": "if: x is false"}),
    ("step.failed", {"attempt": 3, "error": ERROR, "duration_s": 1.5}),
    ("step.failed", {"attempt": 1, "error": ERROR}),
    ("step.retrying", {"attempt": 1, "delay_s": 0.25, "error": ERROR}),
    ("step.cancelled", {}),
    ("step.waiting", {"question": "Ship?", "options": ["yes", "no"], "default": None}),
    ("step.answered", {"answer": {"nested": ["yes"]}}),
    ("run.failed", {"error": ERROR}),
    ("run.waiting_input", {"steps": ["ask", "ask2"]}),
    ("run.cancelled", {}),
    ("run.cancelled", {"by": "request"}),
    ("workspace.committed", {"commit": "abc123"}),
    ("workspace.rolled_back", {"commit": "abc123", "step": "implement"}),
    ("agent.turn", {"agent": "dev", "turn": 1, "model": "offline:echo"}),
    (
        "model.responded",
        {
            "agent": "dev",
            "turn": 1,
            "model": "m",
            "response": {"message": {"role": "assistant", "content": "ünïcode"}},
            "usage": {"input_tokens": 3},
            "cost_usd": 0.0,
            "replayed": False,
        },
    ),
    (
        "usage.recorded",
        {
            "agent": "dev",
            "model": "m",
            "input_tokens": 1,
            "output_tokens": 2,
            "cache_read_tokens": 0,
            "cost_usd": 1e-06,
        },
    ),
    (
        "tool.called",
        {"agent": "d", "turn": 2, "tool": "t", "arguments": {}, "ok": True, "summary": None},
    ),
]

#: shapes that are not listed, or types that must not be taken for a code
OTHER_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("step.started", {"kind": "tool", "name": "x", "attempt": 1, "extra": True}),
    ("step.started", {"kind": "tool"} | {"name": "x"}),
    ("run.created", {}),
    ("run.created", {"plan": "p", "by": "me"}),
    ("custom.thing", {"b": 1, "a": [None, {"z": 1, "y": 2}]}),
    ("custom.empty", {}),
    ("3", {"looks": "like a code"}),
    ("a", {}),
    ("~", {"n": 1}),
    ("~x", {"n": 2}),
    ("", {"n": 3}),
    ("message.sent", {"from": "a", "to": "b", "text": "hi"}),
]


@pytest.mark.parametrize("shapes", [ENGINE_EVENTS, OTHER_EVENTS], ids=["listed", "other"])
async def test_events_round_trip_exactly(
    store: RunStore, shapes: list[tuple[str, dict[str, Any]]]
) -> None:
    await store.create_run(make_run("r1"))
    written = [
        Event("r1", i, type_, data, "cid-r1", "a" if i % 2 else None, 1_700_000_000.0 + i / 3)
        for i, (type_, data) in enumerate(shapes, start=1)
    ]
    await store.append_events(written[:3], durable=False)
    await store.append_events(written[3:])
    read = await store.read_events("r1")
    assert read == written
    for got, sent in zip(read, written, strict=True):
        assert list(got.data) == sorted(sent.data)  # keys in sorted order, as before


def test_every_listed_shape_has_its_own_code() -> None:
    shapes = _event_codes.SHAPES
    assert len(set(shapes)) == len(shapes)
    assert len({(t, tuple(sorted(k))) for t, k in shapes}) == len(shapes)
    codes = {_event_codes.encode(t, dict.fromkeys(k, 0), str)[0] for t, k in shapes}
    assert len(codes) == len(shapes) and all(len(c) == 1 for c in codes)


def test_the_compact_form_is_shorter() -> None:
    def dumps(value: Any) -> str:
        return str(value).replace(" ", "")

    type_, data = _event_codes.encode(
        "step.succeeded",
        {"kind": "tool", "name": "fake_model", "attempt": 1, "duration_s": 0.5},
        dumps,
    )
    assert (type_, data) == ("4", "[1,0.5,'tool','fake_model']")


def test_an_unknown_code_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unknown event type code '#'"):
        _event_codes.decode("#", None, str)


async def test_a_store_of_schema_version_1_is_refused_with_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "nexus.db"
    async with SqliteStore(f"sqlite:///{path}"):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with pytest.raises(ConfigError, match="has schema version 1; this Nexus needs 2"):
        await SqliteStore(f"sqlite:///{path}").open()
