"""Replay at zero cost (X2): a parent run's recorded model outputs, by step key and turn."""

from __future__ import annotations

from typing import Any

from nexus.store.base import RunStore


async def recorded_model_outputs(store: RunStore, run_id: str) -> dict[str, dict[str, Any]]:
    """``{step_key: {turn: response}}`` from the run's ``model.responded`` events."""
    index: dict[str, dict[str, Any]] = {}
    after = 0
    while True:
        batch = await store.read_events(run_id, after_seq=after, limit=1000)
        if not batch:
            break
        for ev in batch:
            if ev.type == "model.responded" and ev.step_key:
                index.setdefault(ev.step_key, {})[str(ev.data.get("turn"))] = ev.data.get(
                    "response"
                )
        after = batch[-1].seq
    return index
