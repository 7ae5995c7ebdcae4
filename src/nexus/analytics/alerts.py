"""A run's alerts: the events that call for attention, read back from its event log.

Alert events: ``cost.anomaly`` (a step or the run far above its usual cost,
from :mod:`nexus.analytics.anomaly`) and ``budget.exceeded`` (a model call
refused by a budget, from :mod:`nexus.budgets`). ``nexus runs show`` and the run
summary list them.
"""

from __future__ import annotations

from typing import Any

from nexus.domain.runs import Event
from nexus.store.base import RunStore

__all__ = ["ALERT_TYPES", "alert_of", "read_alerts"]

ALERT_TYPES = frozenset({"cost.anomaly", "budget.exceeded"})
_PAGE = 1000


def alert_of(event: Event) -> dict[str, Any]:
    """One alert event as a flat dict: type, step, seq, time, message and the event's data."""
    data = dict(event.data)
    return {
        "type": event.type,
        "step": event.step_key,
        "seq": event.seq,
        "ts": event.ts,
        "message": str(data.pop("message", "") or event.type),
        **data,
    }


async def read_alerts(store: RunStore, run_id: str) -> list[dict[str, Any]]:
    """Every alert event of a run, oldest first."""
    alerts: list[dict[str, Any]] = []
    after = 0
    while True:
        batch = await store.read_events(run_id, after_seq=after, limit=_PAGE)
        alerts.extend(alert_of(ev) for ev in batch if ev.type in ALERT_TYPES)
        if len(batch) < _PAGE:
            return alerts
        after = batch[-1].seq
