"""Plans parsed once per content and dumped once per plan object, for runs by the thousand.

A run stores its plan as a dict; executing it needs the parsed :class:`Plan`. The
cache keys parsed plans by the plan's canonical JSON, so a thousand runs of one plan
parse it once. Creating a run needs the plan as a fresh dict: the dump is done once
per plan object and each run gets a copy loaded from its JSON (with orjson when that
reads back exactly what json would, else with json).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from nexus.domain.plan import Plan
from nexus.domain.runs import RunRecord
from nexus.engine.plan_loader import parse_plan, plan_to_dict
from nexus.store._codec import encode as canonical_json

#: Entries kept before a cache starts over.
LIMIT = 256


class PlanCache:
    """Parsed plans by canonical JSON; plan dicts (as JSON, with their key) by plan object."""

    def __init__(self) -> None:
        self._parsed: dict[str, Plan] = {}
        #: id(plan) → (plan, its dict as JSON, a loader of that JSON, its key in _parsed)
        self._dumped: dict[int, tuple[Plan, str, Callable[[str], Any], str]] = {}

    @staticmethod
    def key_of(plan_dict: dict[str, Any]) -> str:
        """The canonical JSON of a plan dict: equal for plans equal as JSON."""
        return canonical_json(plan_dict)

    def remember(self, key: str, plan: Plan) -> None:
        """Note that ``plan`` is the parse of the plan dict whose key is ``key``."""
        if key not in self._parsed:
            if len(self._parsed) >= LIMIT:
                self._parsed.clear()
            self._parsed[key] = plan

    def plan_of(self, run: RunRecord) -> Plan:
        """The run's parsed plan; parsed once per distinct plan, not once per run."""
        key = self.key_of(run.plan)
        plan = self._parsed.get(key)
        if plan is None:
            plan = parse_plan(run.plan, source=f"run {run.run_id}")
            self.remember(key, plan)
        return plan

    def dict_of(self, plan: Plan) -> tuple[dict[str, Any], str]:
        """``plan_to_dict(plan)`` as a fresh dict, and its key."""
        cached = self._dumped.get(id(plan))
        if cached is not None and cached[0] is plan:
            return cached[2](cached[1]), cached[3]
        data = plan_to_dict(plan)
        text = json.dumps(data)
        loads: Callable[[str], Any] = json.loads
        try:
            if repr(orjson.loads(text)) == repr(json.loads(text)):
                loads = orjson.loads  # its numbers and strings read back exactly as json's
        except orjson.JSONDecodeError:  # NaN or infinities: json only
            pass
        key = self.key_of(data)
        if len(self._dumped) >= LIMIT:
            self._dumped.clear()
        self._dumped[id(plan)] = (plan, text, loads, key)
        self.remember(key, plan)
        return data, key
