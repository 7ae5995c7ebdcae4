"""Live progress of one run, built from its events (E5) and shown while it executes.

:class:`RunProgress` keeps the state of a run — its status, every step with its
agent or tool, status, attempt, elapsed time and latest activity, the tokens and
cost spent — and renders it as a Rich table; ``rich.live.Live`` re-renders it a
few times a second so elapsed times tick. :class:`PlainProgress` prints one line
per run and step event instead, for output that is not a terminal (CI logs).

Both are fed with :meth:`handle` by the ``Nexus.subscribe`` listener and know
nothing about the facade, so tests drive them with synthetic events.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nexus.cli._format import STATUS_STYLES, fmt_cost, fmt_duration, one_line
from nexus.domain.plan import NODE_KINDS, Plan
from nexus.domain.runs import Event

Clock = Callable[[], float]

_RUN_END = {"run.succeeded": "succeeded", "run.failed": "failed", "run.cancelled": "cancelled"}
_STEP_STATUS = {
    "step.started": "running",
    "step.cancelled": "cancelled",
    "step.answered": "succeeded",
    "step.succeeded": "succeeded",
    "step.failed": "failed",
    "step.retrying": "retrying",
    "step.skipped": "skipped",
    "step.waiting": "waiting_input",
}
_STEP_END = frozenset(
    {"step.succeeded", "step.failed", "step.skipped", "step.cancelled", "step.answered"}
)
_ITERATION = re.compile(r"\[\d+\]")


_GROUP_KEYS = ("loop", "parallel", "sequence")


def node_actor(node: Mapping[str, Any]) -> str:
    """Who does a node's work, for display: ``agent aria``, ``tool echo``, ``gate`` …"""
    for kind in ("agent", "tool"):
        if isinstance(node.get(kind), str):
            return f"{kind} {node[kind]}"
    declared = node.get("kind")
    if isinstance(declared, str):
        return declared
    return next((name for name in NODE_KINDS if name in node), "")


def _node_children(node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for group in _GROUP_KEYS:
        spec = node.get(group)
        if isinstance(spec, Mapping) and isinstance(spec.get("steps"), Mapping):
            return spec["steps"]  # type: ignore[no-any-return]
    return None


def plan_steps(plan: Plan | Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The top-level steps of a plan given as a :class:`Plan` or as its JSON dict."""
    if plan is None:
        return {}
    if isinstance(plan, Plan):
        plan = plan.model_dump(mode="json", by_alias=True, exclude_none=True)
    steps = plan.get("steps")
    return steps if isinstance(steps, Mapping) else {}


def plan_actors(plan: Plan | Mapping[str, Any] | None) -> dict[str, str]:
    """Every step path of a plan (``a``, ``group/b``) mapped to its :func:`node_actor`."""
    actors: dict[str, str] = {}

    def walk(steps: Mapping[str, Any], prefix: str) -> None:
        for key, node in steps.items():
            if not isinstance(node, Mapping):
                continue
            path = f"{prefix}{key}"
            actors[path] = node_actor(node)
            children = _node_children(node)
            if children:
                walk(children, f"{path}/")

    walk(plan_steps(plan), "")
    return actors


def actor_for(actors: Mapping[str, str], step_key: str) -> str:
    """The actor of a step key; loop iterations (``validate[2]/fix``) map to their node."""
    return actors.get(step_key) or actors.get(_ITERATION.sub("", step_key), "")


def _actor_of_event(data: Mapping[str, Any]) -> str:
    """The actor a ``step.started`` event names (``kind`` and ``name``)."""
    kind = data.get("kind")
    name = data.get("name")
    if isinstance(kind, str) and isinstance(name, str) and kind in ("agent", "tool"):
        return f"{kind} {name}"
    return kind if isinstance(kind, str) else ""


def _plan_name(plan: Plan | Mapping[str, Any] | None) -> str:
    if isinstance(plan, Plan):
        return plan.name
    return str(plan.get("name", "")) if plan else ""


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def usage_tokens(data: Mapping[str, Any]) -> int:
    """Tokens of one ``usage.recorded`` event: ``total_tokens`` or the sum of its parts."""
    if "total_tokens" in data:
        return int(_number(data["total_tokens"]))
    usage = data.get("usage")
    if isinstance(usage, Mapping):
        return usage_tokens(usage)
    given = _number(data.get("input_tokens", data.get("prompt_tokens")))
    produced = _number(data.get("output_tokens", data.get("completion_tokens")))
    return int(given + produced)


def usage_cost(data: Mapping[str, Any]) -> float:
    """Cost in USD of one ``usage.recorded`` event (``cost_usd`` or ``cost``)."""
    for name in ("cost_usd", "cost"):
        if name in data:
            return _number(data[name])
    usage = data.get("usage")
    return usage_cost(usage) if isinstance(usage, Mapping) else 0.0


def error_text(data: Mapping[str, Any]) -> str:
    """The error message an event carries, if any."""
    error = data.get("error")
    if isinstance(error, Mapping):
        return str(error.get("message") or error.get("code") or "")
    if error is not None:
        return str(error)
    return str(data.get("message") or data.get("reason") or "")


@dataclass(slots=True)
class StepView:
    """What the progress display knows about one step."""

    key: str
    actor: str = ""
    status: str = "pending"
    attempt: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    note: str = ""
    tokens: int = 0

    def elapsed(self, now: float) -> float | None:
        """Seconds the step has run: its duration once finished, else up to ``now``."""
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else now
        return max(0.0, end - self.started_at)


def _activity(event: Event) -> str:
    """A short description of an agent/tool/workspace event, for a step's note."""
    data = event.data
    if event.type == "agent.turn":
        agent = data.get("agent", "")
        turn = data.get("turn")
        return f"{agent} turn {turn}".strip() if turn is not None else f"{agent} thinking".strip()
    if event.type == "tool.called":
        return f"called {data.get('tool') or data.get('name') or 'a tool'}"
    if event.type == "message.sent":
        return f"message to {data.get('to') or data.get('recipient') or '?'}"
    if event.type == "workspace.committed":
        commit = str(data.get("commit") or data.get("sha") or "")[:8]
        return f"committed {commit}".strip()
    if event.type == "workspace.rolled_back":
        commit = str(data.get("commit") or data.get("to") or "")[:8]
        return f"rolled back {commit}".strip()
    return ""


class RunProgress:
    """Live state of one run, fed event by event; thread-safe to render while it is fed."""

    def __init__(
        self,
        run_id: str,
        *,
        plan: Plan | Mapping[str, Any] | None = None,
        title: str | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.run_id = run_id
        self.title = title if title is not None else _plan_name(plan)
        self.status = "created"
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.tokens = 0
        self.cost = 0.0
        self._clock = clock
        self._lock = threading.Lock()
        self._actors = plan_actors(plan)
        self._steps: dict[str, StepView] = {
            key: StepView(key, actor=self._actors.get(key, "")) for key in plan_steps(plan)
        }

    # feeding -----------------------------------------------------------------
    def handle(self, event: Event) -> None:
        """Apply one event of this run (events of other runs are ignored)."""
        if event.run_id != self.run_id:
            return
        with self._lock:
            self._apply(event)

    def _apply(self, event: Event) -> None:
        data = event.data
        if event.type.startswith("run."):
            if self.started_at is None:
                self.started_at = event.ts
            if event.type in ("run.started", "run.resumed"):
                self.status = "running"
                self.finished_at = None
            elif event.type == "run.waiting_input":
                self.status = "waiting_input"
            elif event.type in _RUN_END:
                self.status = _RUN_END[event.type]
                self.finished_at = event.ts
            return
        if self.started_at is None:
            self.started_at = event.ts
        if event.type == "usage.recorded":
            tokens = usage_tokens(data)
            self.tokens += tokens
            self.cost += usage_cost(data)
            if event.step_key:
                self._step(event.step_key).tokens += tokens
            return
        if not event.step_key:
            return
        step = self._step(event.step_key)
        if event.type in _STEP_STATUS:
            self._apply_step(step, event)
        else:
            note = _activity(event)
            if note:
                step.note = note
            agent = data.get("agent")
            if event.type == "agent.turn" and isinstance(agent, str) and not step.actor:
                step.actor = f"agent {agent}"

    def _apply_step(self, step: StepView, event: Event) -> None:
        data = event.data
        step.status = _STEP_STATUS[event.type]
        attempt = data.get("attempt")
        if event.type == "step.started":
            step.attempt = attempt if isinstance(attempt, int) else step.attempt + 1
            step.started_at = event.ts
            step.finished_at = None
            step.note = ""
            if not step.actor:
                step.actor = _actor_of_event(data)
        elif isinstance(attempt, int):
            step.attempt = max(step.attempt, attempt)
        if event.type in _STEP_END:
            step.finished_at = event.ts
            if event.type in ("step.succeeded", "step.failed") and not step.attempt:
                step.attempt = 1  # an instant step (transform, gate) has no started event
            if step.started_at is None:
                step.started_at = event.ts
        if event.type == "step.failed":
            step.note = error_text(data)
        elif event.type == "step.retrying":
            delay = data.get("delay_s", data.get("delay"))
            wait = f"retry in {_number(delay):.1f}s" if delay is not None else "retrying"
            reason = error_text(data)
            step.note = f"{wait}: {reason}" if reason else wait
            step.finished_at = event.ts
        elif event.type == "step.skipped":
            step.note = str(data.get("reason") or "")
        elif event.type == "step.waiting":
            step.note = str(data.get("question") or data.get("prompt") or "waiting for input")
            if step.started_at is None:
                step.started_at = event.ts
        elif event.type == "step.answered":
            step.note = f"answered {data.get('answer')!r}"

    def _step(self, key: str) -> StepView:
        step = self._steps.get(key)
        if step is None:
            step = StepView(key, actor=actor_for(self._actors, key))
            self._steps[key] = step
        return step

    # reading -----------------------------------------------------------------
    def steps(self) -> list[StepView]:
        """A snapshot of the steps, in the order they were first seen (plan order first)."""
        with self._lock:
            return [replace(step) for step in self._steps.values()]

    def elapsed(self) -> float:
        """Seconds since the run's first event (up to its end once it has finished)."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else self._clock()
        return max(0.0, end - self.started_at)

    def counts(self) -> dict[str, int]:
        """How many steps are in each status."""
        result: dict[str, int] = {}
        for step in self.steps():
            result[step.status] = result.get(step.status, 0) + 1
        return result

    def render(self) -> RenderableType:
        """The run's header line and its steps table."""
        now = self._clock()
        steps = self.steps()
        done = sum(1 for s in steps if s.status in ("succeeded", "skipped"))
        header = Text.assemble(
            ("run ", "dim"),
            (self.run_id, "bold"),
            f"  {self.title}  " if self.title else "  ",
            (self.status, STATUS_STYLES.get(self.status, "")),
            f"  {done}/{len(steps)} steps  {fmt_duration(self.elapsed())}",
            f"  {self.tokens} tokens  {fmt_cost(self.cost)}",
        )
        table = Table(expand=False, show_edge=False, pad_edge=False)
        table.add_column("step", no_wrap=True)
        table.add_column("agent/tool", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("try", justify="right")
        table.add_column("time", justify="right", no_wrap=True)
        table.add_column("activity", overflow="ellipsis", no_wrap=True, max_width=60)
        for step in steps:
            table.add_row(
                step.key,
                step.actor,
                Text(step.status, style=STATUS_STYLES.get(step.status, "")),
                str(step.attempt) if step.attempt else "",
                fmt_duration(step.elapsed(now)) if step.started_at is not None else "",
                one_line(step.note, 60),
            )
        return Group(header, table)

    def __rich__(self) -> RenderableType:
        return self.render()


class PlainProgress:
    """Prints one line per run and step event: readable in CI logs and tests."""

    def __init__(
        self,
        run_id: str,
        write: Callable[[str], None],
        *,
        plan: Plan | Mapping[str, Any] | None = None,
    ) -> None:
        self.run_id = run_id
        self._write = write
        self._actors = plan_actors(plan)
        self._origin: float | None = None
        self._started: dict[str, float] = {}

    def handle(self, event: Event) -> None:
        """Write the line for ``event`` if it is a run or step event of this run."""
        if event.run_id != self.run_id:
            return
        line = self.format(event)
        if line is not None:
            self._write(line)

    def format(self, event: Event) -> str | None:
        """The line for one event, or None for events that get no line (agent turns …)."""
        if not event.type.startswith(("run.", "step.")):
            return None
        if self._origin is None:
            self._origin = event.ts
        stamp = f"[{fmt_duration(event.ts - self._origin):>7}]"
        label = event.type.replace(".", " ", 1)
        data = event.data
        if event.type.startswith("run."):
            detail = f"run {event.run_id}"
            if event.type in _RUN_END:
                detail += f" in {fmt_duration(event.ts - self._origin)}"
                reason = error_text(data) if event.type != "run.succeeded" else ""
                if reason:
                    detail += f": {one_line(reason, 200)}"
            return f"{stamp} {label:<18} {detail}"
        key = event.step_key or "?"
        actor = actor_for(self._actors, key) or _actor_of_event(data)
        detail = f"{key} ({actor})" if actor else key
        if event.type == "step.started":
            self._started[key] = event.ts
            attempt = data.get("attempt")
            if isinstance(attempt, int) and attempt > 1:
                detail += f" attempt {attempt}"
        elif event.type in ("step.succeeded", "step.failed") and key in self._started:
            detail += f" in {fmt_duration(event.ts - self._started[key])}"
        if event.type in ("step.failed", "step.retrying"):
            reason = error_text(data)
            if reason:
                detail += f": {one_line(reason, 200)}"
        elif event.type == "step.waiting":
            question = data.get("question") or data.get("prompt")
            if question:
                detail += f": {one_line(str(question), 200)}"
        return f"{stamp} {label:<18} {detail}"
