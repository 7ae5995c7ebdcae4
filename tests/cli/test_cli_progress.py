"""The live progress renderer and the plain line printer, fed with synthetic events."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from nexus.cli.progress import (
    PlainProgress,
    RunProgress,
    actor_for,
    plan_actors,
    usage_cost,
    usage_tokens,
)
from nexus.domain.plan import NODE_KINDS, Plan
from nexus.domain.runs import Event

PLAN: dict[str, Any] = {
    "name": "demo",
    "steps": {
        "greet": {"tool": "echo", "with": {"message": "hi"}},
        "shape": {"needs": ["greet"], "transform": {"text": "${{ steps.greet.output }}"}},
        "review": {"needs": ["shape"], "agent": "beta", "prompt": "review"},
        "validate": {
            "needs": ["review"],
            "loop": {"max": 2, "steps": {"fix": {"agent": "code", "prompt": "fix"}}},
        },
    },
}


def with_kinds(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan dict with the ``kind`` of every node spelled out, as ``Plan`` expects."""

    def nodes(steps: dict[str, Any]) -> dict[str, Any]:
        result = {}
        for key, node in steps.items():
            kind = next(k for k in NODE_KINDS if k in node)
            node = {**node, "kind": kind}
            if kind == "loop":
                node["loop"] = {**node["loop"], "steps": nodes(node["loop"]["steps"])}
            result[key] = node
        return result

    return {**plan, "steps": nodes(plan["steps"])}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Feed:
    """Builds the events of run ``r1`` with increasing seq numbers."""

    def __init__(self) -> None:
        self.seq = 0

    def __call__(
        self, type_: str, ts: float, step: str | None = None, run_id: str = "r1", **data: Any
    ) -> Event:
        self.seq += 1
        return Event(run_id, self.seq, type_, data, "corr-1", step, ts)


def render_text(progress: RunProgress) -> str:
    console = Console(record=True, width=140, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(progress.render())
    return console.export_text()


def test_plan_actors_cover_nested_steps_and_loop_iterations() -> None:
    actors = plan_actors(PLAN)
    assert actors == {
        "greet": "tool echo",
        "shape": "transform",
        "review": "agent beta",
        "validate": "loop",
        "validate/fix": "agent code",
    }
    assert actor_for(actors, "validate[2]/fix") == "agent code"
    assert actor_for(actors, "unknown") == ""
    # a Plan object gives the same answer as its dict
    assert plan_actors(Plan.model_validate(with_kinds(PLAN))) == actors


def test_usage_events_count_tokens_and_cost() -> None:
    assert usage_tokens({"input_tokens": 120, "output_tokens": 30}) == 150
    assert usage_tokens({"total_tokens": 99, "input_tokens": 1}) == 99
    assert usage_tokens({"usage": {"prompt_tokens": 5, "completion_tokens": 6}}) == 11
    assert usage_tokens({}) == 0
    assert usage_cost({"cost_usd": 0.25}) == 0.25
    assert usage_cost({"usage": {"cost": 0.5}}) == 0.5
    assert usage_cost({"cost_usd": "n/a"}) == 0.0


def test_progress_tracks_steps_attempts_durations_and_usage() -> None:
    clock = Clock(1000.0)
    progress = RunProgress("r1", plan=PLAN, clock=clock)
    ev = Feed()
    # before anything happens, every top-level step is listed as pending, in plan order
    assert [(s.key, s.actor, s.status) for s in progress.steps()] == [
        ("greet", "tool echo", "pending"),
        ("shape", "transform", "pending"),
        ("review", "agent beta", "pending"),
        ("validate", "loop", "pending"),
    ]
    for event in [
        ev("run.created", 1000.0),
        ev("run.started", 1000.5),
        ev("step.started", 1001.0, "greet", kind="tool", name="echo", attempt=1),
        ev("step.succeeded", 1001.25, "greet", kind="tool", duration_s=0.25),
        ev("step.started", 1001.5, "shape"),
        ev("step.succeeded", 1002.0, "shape"),
        ev("step.started", 1002.0, "review", kind="agent", name="beta", attempt=1),
        ev("step.retrying", 1003.0, "review", attempt=1, delay_s=0.5, error={"message": "flaky"}),
        ev("step.started", 1003.5, "review", kind="agent", name="beta", attempt=2),
        ev("agent.turn", 1003.6, "review", agent="beta", turn=1),
        ev("usage.recorded", 1003.7, "review", input_tokens=100, output_tokens=20, cost_usd=0.01),
        ev("tool.called", 1003.8, "review", tool="read_file"),
        ev("step.started", 1004.0, "validate[1]/fix", kind="agent", name="code", attempt=1),
        ev("usage.recorded", 1004.1, "validate[1]/fix", input_tokens=50, output_tokens=5),
    ]:
        progress.handle(event)
    # an event of another run changes nothing
    progress.handle(ev("step.failed", 1004.2, "greet", run_id="other"))
    clock.now = 1005.0
    steps = {s.key: s for s in progress.steps()}
    assert progress.status == "running"
    assert steps["greet"].status == "succeeded"
    assert steps["greet"].elapsed(clock.now) == 0.25
    assert steps["shape"].attempt == 1  # counted even without an attempt field
    assert steps["shape"].elapsed(clock.now) == 0.5
    assert (steps["review"].status, steps["review"].attempt) == ("running", 2)
    assert steps["review"].elapsed(clock.now) == 1.5  # the second attempt, still running
    assert steps["review"].note == "called read_file"
    assert steps["review"].tokens == 120
    assert steps["validate"].status == "pending"
    assert steps["validate[1]/fix"].actor == "agent code"  # resolved through the loop
    assert steps["validate[1]/fix"].tokens == 55
    assert progress.tokens == 175
    assert progress.cost == 0.01
    assert progress.elapsed() == 5.0  # since run.created
    assert progress.counts() == {"succeeded": 2, "running": 2, "pending": 1}

    text = render_text(progress)
    assert "run r1  demo  running  2/5 steps  5.00s  175 tokens  $0.0100" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "tool echo" in lines["greet"] and "0.25s" in lines["greet"]
    assert "agent beta" in lines["review"] and "1.50s" in lines["review"]
    assert "called read_file" in lines["review"]

    progress.handle(ev("step.failed", 1005.5, "validate[1]/fix", error={"message": "boom"}))
    progress.handle(ev("run.failed", 1006.0, error={"message": "step failed"}))
    clock.now = 2000.0  # time passes after the end: the run's elapsed time stays put
    assert progress.status == "failed"
    assert progress.elapsed() == 6.0
    fix = {s.key: s for s in progress.steps()}["validate[1]/fix"]
    assert (fix.status, fix.note, fix.elapsed(clock.now)) == ("failed", "boom", 1.5)


def test_retrying_and_waiting_steps_say_why() -> None:
    progress = RunProgress("r1", clock=Clock(10.0))
    ev = Feed()
    progress.handle(ev("step.started", 1.0, "call", kind="tool", name="http", attempt=1))
    progress.handle(
        ev("step.retrying", 2.0, "call", attempt=1, delay_s=1.5, error={"message": "503"})
    )
    progress.handle(ev("step.waiting", 3.0, "ask", question="Ship it?", options=["yes", "no"]))
    progress.handle(ev("run.waiting_input", 3.1, steps=["ask"]))
    steps = {s.key: s for s in progress.steps()}
    assert steps["call"].actor == "tool http"  # learnt from the event without a plan
    assert (steps["call"].status, steps["call"].note) == ("retrying", "retry in 1.5s: 503")
    assert (steps["ask"].status, steps["ask"].note) == ("waiting_input", "Ship it?")
    assert progress.status == "waiting_input"
    progress.handle(ev("step.answered", 4.0, "ask", answer="yes"))
    progress.handle(ev("run.resumed", 4.1))
    steps = {s.key: s for s in progress.steps()}
    assert (steps["ask"].status, steps["ask"].note) == ("succeeded", "answered 'yes'")
    assert progress.status == "running"


def test_plain_progress_prints_one_line_per_run_and_step_event() -> None:
    lines: list[str] = []
    plain = PlainProgress("r1", lines.append, plan=PLAN)
    ev = Feed()
    for event in [
        ev("run.created", 100.0),
        ev("run.started", 100.0),
        ev("step.started", 100.5, "greet", kind="tool", name="echo", attempt=1),
        ev("agent.turn", 100.6, "greet"),  # not a step event: no line
        ev("step.succeeded", 100.75, "greet"),
        ev("step.started", 101.0, "review", attempt=1),
        ev("step.retrying", 101.5, "review", attempt=1, error={"message": "rate\nlimited"}),
        ev("step.started", 102.0, "review", attempt=2),
        ev("step.failed", 103.0, "review", attempt=2, error={"message": "gave up"}),
        ev("step.skipped", 103.0, "validate", reason="needs failed"),
        ev("run.failed", 103.5, error={"message": "step 'review' failed"}),
        ev("run.started", 200.0, run_id="other"),
    ]:
        plain.handle(event)
    assert lines == [
        "[  0.00s] run created        run r1",
        "[  0.00s] run started        run r1",
        "[  0.50s] step started       greet (tool echo)",
        "[  0.75s] step succeeded     greet (tool echo) in 0.25s",
        "[  1.00s] step started       review (agent beta)",
        "[  1.50s] step retrying      review (agent beta): rate limited",
        "[  2.00s] step started       review (agent beta) attempt 2",
        "[  3.00s] step failed        review (agent beta) in 1.00s: gave up",
        "[  3.00s] step skipped       validate (loop)",
        "[  3.50s] run failed         run r1 in 3.50s: step 'review' failed",
    ]
