"""The agent registry (A6, A7): definitions by id, live status, and outcome tracking.

Live status: each agent is ``idle``, ``processing`` (with the steps it works
on) or ``error`` (its last step failed). Subscribers are called on every
change. Outcomes: every finished agent step records success, confidence,
latency and cost; :meth:`AgentRegistry.stats` aggregates them per agent. They
are kept in memory; an :class:`OutcomeSink` given to the registry receives each
one, so a store can persist them, and :meth:`AgentRegistry.load_outcomes`
seeds the registry from stored ones.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from nexus.agents.definition import AgentDefinition, load_team
from nexus.errors import NotFoundError

__all__ = [
    "AgentOutcome",
    "AgentRegistry",
    "AgentState",
    "AgentStats",
    "AgentStatus",
    "OutcomeSink",
    "StatusListener",
]

log = logging.getLogger(__name__)

AgentState = Literal["idle", "processing", "error"]


@dataclass(slots=True)
class AgentStatus:
    """What an agent is doing now."""

    agent_id: str
    state: AgentState = "idle"
    steps: list[str] = field(default_factory=list)  # "run_id/step_key" it works on
    since: float = field(default_factory=time.time)
    last_error: str | None = None

    @property
    def current_step(self) -> str | None:
        return self.steps[-1] if self.steps else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["current_step"] = self.current_step
        return data


@dataclass(frozen=True, slots=True)
class AgentOutcome:
    """The result of one agent step."""

    agent_id: str
    success: bool
    confidence: float | None = None
    latency_s: float = 0.0
    cost_usd: float = 0.0
    run_id: str = ""
    step_key: str = ""
    model: str | None = None
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class AgentStats:
    """An agent's track record."""

    agent_id: str
    steps: int
    successes: int
    success_rate: float | None
    mean_confidence: float | None
    mean_latency_s: float | None
    total_cost_usd: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class OutcomeSink(Protocol):
    """Receives every outcome (e.g. to persist it)."""

    def record(self, outcome: AgentOutcome) -> None: ...


StatusListener = Callable[[AgentStatus], None]


class AgentRegistry:
    """Agent definitions by id, with live status and outcomes."""

    def __init__(
        self,
        agents: Mapping[str, AgentDefinition] | Iterable[AgentDefinition] = (),
        *,
        sink: OutcomeSink | None = None,
    ) -> None:
        self._agents: dict[str, AgentDefinition] = {}
        self._status: dict[str, AgentStatus] = {}
        self._outcomes: dict[str, list[AgentOutcome]] = {}
        self._listeners: list[StatusListener] = []
        self._lock = threading.Lock()
        self.sink = sink
        self.register(*(agents.values() if isinstance(agents, Mapping) else agents))

    @classmethod
    def from_team(
        cls, ref: str = "builtin:software", base_dir: Path | None = None
    ) -> AgentRegistry:
        """A registry holding the agents of a team file (default: the built-in software team)."""
        return cls(load_team(ref, base_dir))

    # definitions ------------------------------------------------------------
    def register(self, *agents: AgentDefinition) -> None:
        """Add agents, replacing definitions with the same id."""
        for agent in agents:
            self._agents[agent.id] = agent
            self._status.setdefault(agent.id, AgentStatus(agent.id))

    def get(self, agent_id: str) -> AgentDefinition:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise NotFoundError(
                f"unknown agent '{agent_id}'; known agents: {', '.join(self.ids()) or 'none'}",
                agent=agent_id,
            )
        return agent

    def ids(self) -> list[str]:
        return list(self._agents)

    def definitions(self) -> list[AgentDefinition]:
        return list(self._agents.values())

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._agents

    # live status ------------------------------------------------------------
    def subscribe(self, listener: StatusListener) -> Callable[[], None]:
        """Call ``listener`` with an agent's status whenever it changes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def status_of(self, agent_id: str) -> AgentStatus:
        """The live status of one agent (NotFoundError for an unknown id)."""
        self.get(agent_id)
        return self._status[agent_id]

    def statuses(self) -> list[AgentStatus]:
        return [self._status[a] for a in self._agents]

    def mark_processing(self, agent_id: str, run_id: str, step_key: str) -> None:
        with self._lock:
            status = self._status.setdefault(agent_id, AgentStatus(agent_id))
            status.steps.append(f"{run_id}/{step_key}")
            status.state = "processing"
            status.since = time.time()
        self._notify(status)

    def mark_done(
        self, agent_id: str, run_id: str, step_key: str, error: str | None = None
    ) -> None:
        """The step ended; the agent is idle again (or ``error`` when it failed and has no
        other step running)."""
        with self._lock:
            status = self._status.setdefault(agent_id, AgentStatus(agent_id))
            entry = f"{run_id}/{step_key}"
            if entry in status.steps:
                status.steps.remove(entry)
            if error is not None:
                status.last_error = error
            if status.steps:
                status.state = "processing"
            else:
                status.state = "error" if error is not None else "idle"
            status.since = time.time()
        self._notify(status)

    def _notify(self, status: AgentStatus) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(status)
            except Exception:  # a broken subscriber must not break a step
                log.exception("agent status listener failed")

    # outcomes ---------------------------------------------------------------
    def record_outcome(self, outcome: AgentOutcome) -> None:
        with self._lock:
            self._outcomes.setdefault(outcome.agent_id, []).append(outcome)
        if self.sink is not None:
            try:
                self.sink.record(outcome)
            except Exception:
                log.exception("outcome sink failed for agent %s", outcome.agent_id)

    def load_outcomes(self, outcomes: Iterable[AgentOutcome]) -> None:
        """Seed the track record (e.g. from a store) without calling the sink."""
        with self._lock:
            for outcome in outcomes:
                self._outcomes.setdefault(outcome.agent_id, []).append(outcome)

    def outcomes(self, agent_id: str) -> list[AgentOutcome]:
        return list(self._outcomes.get(agent_id, []))

    def stats(self, agent_id: str) -> AgentStats:
        outcomes = self._outcomes.get(agent_id, [])
        count = len(outcomes)
        successes = sum(1 for o in outcomes if o.success)
        confidences = [o.confidence for o in outcomes if o.confidence is not None]
        return AgentStats(
            agent_id=agent_id,
            steps=count,
            successes=successes,
            success_rate=successes / count if count else None,
            mean_confidence=sum(confidences) / len(confidences) if confidences else None,
            mean_latency_s=sum(o.latency_s for o in outcomes) / count if count else None,
            total_cost_usd=round(sum(o.cost_usd for o in outcomes), 8),
        )

    def working_runs(self) -> list[str]:
        """The run id of every agent step in progress now (one entry per step)."""
        with self._lock:
            return [entry.split("/", 1)[0] for st in self._status.values() for entry in st.steps]

    def status(self) -> list[dict[str, Any]]:
        """Every agent with its live status and track record, for CLI, API and dashboard."""
        rows = []
        for agent in self._agents.values():
            rows.append(
                {
                    "id": agent.id,
                    "name": agent.name,
                    "role": agent.role,
                    "model": agent.model,
                    "status": self._status[agent.id].to_dict(),
                    "stats": self.stats(agent.id).to_dict(),
                }
            )
        return rows
