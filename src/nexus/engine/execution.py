"""One run being executed: walks the plan's DAG, journals every step, replays what is done.

The walk is deterministic given the recorded step outputs, so resuming a run is
simply walking it again: a step whose record says ``succeeded`` (or ``skipped``)
returns its recorded output at once and never runs again (E3).

Step keys are paths: ``implement``, ``checks/lint`` (a child of a group),
``validate[2]/run_tests`` (iteration 2 of a loop).
"""

from __future__ import annotations

import asyncio
import time
from collections import ChainMap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nexus.domain.plan import (
    AgentNode,
    ConditionNode,
    GateNode,
    HumanNode,
    LoopNode,
    Node,
    ParallelNode,
    Plan,
    SequenceNode,
    ToolNode,
    TransformNode,
)
from nexus.domain.runs import Event, RunRecord, StepRecord, StepStatus
from nexus.engine.expressions import render, truthy
from nexus.engine.gates import evaluate_gate
from nexus.engine.replay import recorded_model_outputs
from nexus.engine.retry import DEFAULT_RETRY, backoff_delay, should_retry
from nexus.engine.steps import (
    _PARKED,
    Parked,
    StepFailed,
    StepView,
    _error_dict,
    _view,
)
from nexus.errors import GateFailed, StepTimeout
from nexus.handlers.base import StepContext

if TYPE_CHECKING:
    from nexus.engine.scheduler import Engine
    from nexus.workspace.git import GitWorkspace


class RunExecution:
    """Executes one run. Created by :class:`~nexus.engine.scheduler.Engine`."""

    def __init__(
        self,
        engine: Engine,
        run: RunRecord,
        plan: Plan,
        steps: dict[str, StepRecord],
        last_seq: int,
        workspace: GitWorkspace | None,
    ) -> None:
        self.engine = engine
        self.store = engine.store
        self.run = run
        self.plan = plan
        self.steps = steps
        self.seq = last_seq
        self.workspace = workspace
        self.cancel_requested = False
        self._plan_sem = asyncio.Semaphore(plan.settings.max_concurrency)
        self._replay: dict[str, dict[str, Any]] | None = None
        self._base_scope: dict[str, Any] = {
            "inputs": run.inputs,
            "run": {"id": run.run_id, "correlation_id": run.correlation_id},
        }

    # events -------------------------------------------------------------------
    def event(self, type_: str, step_key: str | None = None, **data: Any) -> Event:
        self.seq += 1
        ev = Event(
            self.run.run_id, self.seq, type_, data, self.run.correlation_id, step_key, time.time()
        )
        self.engine.bus.publish(ev)
        return ev

    def _emitter(self, step_key: str) -> Any:
        def emit(type_: str, data: dict[str, Any]) -> None:
            ev = self.event(type_, step_key, **data)
            self.engine.spawn_write(self.store.append_events([ev], durable=False))

        return emit

    async def _save(self, rec: StepRecord, *events: Event, durable: bool = True) -> None:
        self.steps[rec.step_key] = rec
        await self.store.save_step(rec, events, durable=durable)

    # the walk ----------------------------------------------------------------
    async def walk(self) -> dict[str, StepView]:
        return await self._scope("", self.plan.steps, ChainMap(), None, sequential=False)

    def _scope_vars(
        self, view: Mapping[str, StepView], loop: dict[str, Any] | None
    ) -> dict[str, Any]:
        scope = dict(self._base_scope)
        scope["steps"] = view
        if loop is not None:
            scope["loop"] = loop
        return scope

    async def _scope(
        self,
        prefix: str,
        nodes: Mapping[str, Node],
        outer: ChainMap[str, StepView],
        limit: int | None,
        *,
        sequential: bool,
        loop: dict[str, Any] | None = None,
    ) -> dict[str, StepView]:
        local: dict[str, StepView] = {}
        view = outer.new_child(local)
        keys = list(nodes)
        deps: dict[str, set[str]] = {k: {d for d in nodes[k].needs if d in nodes} for k in keys}
        guards: dict[str, list[tuple[str, str]]] = {k: [] for k in keys}
        for i, key in enumerate(keys):
            node = nodes[key]
            if sequential and i > 0:
                deps[key].add(keys[i - 1])
            if isinstance(node, ConditionNode):
                for branch, targets in (("then", node.then), ("else", node.else_)):
                    for target in targets:
                        if target in deps:
                            deps[target].add(key)
                            guards[target].append((key, branch))
        sem = asyncio.Semaphore(limit) if limit else None
        pending = dict.fromkeys(keys)
        running: dict[asyncio.Task[StepView], str] = {}
        parked = False

        async def run_node(key: str) -> StepView:
            if sem is None:
                return await self._node(prefix, key, nodes[key], view, local, guards[key], loop)
            async with sem:
                return await self._node(prefix, key, nodes[key], view, local, guards[key], loop)

        try:
            while pending or running:
                ready = [k for k in pending if all(d in local for d in deps[k])]
                blocked = [k for k in ready if any(local[d] is _PARKED for d in deps[k])]
                for key in blocked:
                    del pending[key]
                    local[key] = _PARKED
                    parked = True
                ready = [k for k in ready if k not in blocked]
                if blocked and not ready:
                    continue  # what needs a blocked step is blocked too: look again
                if not running and len(ready) == 1:
                    key = ready[0]  # fast path: a chain needs no task
                    del pending[key]
                    local[key] = await run_node(key)
                    parked = parked or local[key] is _PARKED
                    continue
                for key in ready:
                    del pending[key]
                    running[asyncio.ensure_future(run_node(key))] = key
                if not running:
                    if pending:  # cannot happen in a validated plan
                        raise StepFailed(prefix, {"message": f"unreachable steps: {list(pending)}"})
                    break
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                failure: BaseException | None = None
                for task in done:
                    key = running.pop(task)
                    if task.cancelled():
                        failure = failure or asyncio.CancelledError()
                    elif (exc := task.exception()) is not None:
                        failure = failure or exc
                    else:
                        local[key] = task.result()
                        parked = parked or local[key] is _PARKED
                if failure is not None:
                    raise failure
        finally:
            if running:
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
        if parked:
            raise Parked()
        return local

    async def _node(
        self,
        prefix: str,
        key: str,
        node: Node,
        view: ChainMap[str, StepView],
        local: dict[str, StepView],
        guards: list[tuple[str, str]],
        loop: dict[str, Any] | None,
    ) -> StepView:
        path = prefix + key
        rec = self.steps.get(path)
        if rec is not None and rec.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED):
            return _view(rec)
        scope = self._scope_vars(view, loop)
        reason = self._skip_reason(node, local, guards, scope)
        if reason is not None:
            return await self._skip(path, node.kind, reason)
        if isinstance(node, AgentNode | ToolNode):
            return await self._leaf(path, node, scope)
        if isinstance(node, TransformNode):
            return await self._instant(path, node.kind, render(node.transform, scope))
        if isinstance(node, ConditionNode):
            value = truthy(node.condition, scope)
            output = {"value": value, "branch": "then" if value else "else"}
            return await self._instant(path, node.kind, output)
        if isinstance(node, GateNode):
            return await self._gate(path, node, scope)
        if isinstance(node, HumanNode):
            return await self._human(path, node, rec, scope)
        if isinstance(node, LoopNode):
            return await self._loop(path, node, view, scope)
        if isinstance(node, ParallelNode):
            return await self._group(
                path,
                node.kind,
                node.parallel.ordered_steps(),
                view,
                loop,
                node.parallel.max_concurrency,
                sequential=False,
            )
        if isinstance(node, SequenceNode):
            return await self._group(
                path, node.kind, node.sequence.ordered_steps(), view, loop, None, sequential=True
            )
        raise StepFailed(path, {"message": f"unknown node kind {node.kind!r}"})  # pragma: no cover

    def _skip_reason(
        self,
        node: Node,
        local: Mapping[str, StepView],
        guards: list[tuple[str, str]],
        scope: Mapping[str, Any],
    ) -> str | None:
        for cond_key, branch in guards:
            cond = local.get(cond_key)
            if cond is None or cond["status"] != StepStatus.SUCCEEDED.value:
                return f"condition '{cond_key}' did not run"
            if cond["output"]["branch"] != branch:
                return f"condition '{cond_key}' took the other branch"
        needs = [local[d] for d in node.needs if d in local]
        if needs and all(v["status"] == StepStatus.SKIPPED.value for v in needs):
            return "every step it needs was skipped"
        if node.if_ is not None and not truthy(node.if_, scope):
            return f"if: {node.if_.strip()} is false"
        return None

    async def _skip(self, path: str, kind: str, reason: str) -> StepView:
        now = time.time()
        rec = StepRecord(
            self.run.run_id,
            path,
            kind,
            StepStatus.SKIPPED,
            0,
            started_at=now,
            finished_at=now,
            meta={"reason": reason},
        )
        await self._save(
            rec, self.event("step.skipped", path, kind=kind, reason=reason), durable=False
        )
        return _view(rec)

    async def _instant(self, path: str, kind: str, output: Any) -> StepView:
        now = time.time()
        rec = StepRecord(
            self.run.run_id,
            path,
            kind,
            StepStatus.SUCCEEDED,
            1,
            None,
            output,
            started_at=now,
            finished_at=now,
        )
        await self._save(rec, self.event("step.succeeded", path, kind=kind, duration_s=0.0))
        return _view(rec)

    # leaves: agent and tool nodes ------------------------------------------------
    def _leaf_params(
        self, path: str, node: AgentNode | ToolNode, scope: Any
    ) -> tuple[str, dict[str, Any]]:
        if isinstance(node, ToolNode):
            params = render(node.with_, scope)
            return node.tool, params if isinstance(params, dict) else {"value": params}
        params = {
            "agent": node.agent,
            "prompt": render(node.prompt, scope),
            "tools": list(node.tools) if node.tools is not None else None,
            "max_turns": node.max_turns,
            "model": node.model,
        }
        replay = self._replay_for(path)
        if replay:
            params["_replay"] = replay
        return "agent", params

    def _replay_for(self, path: str) -> dict[str, Any] | None:
        if self._replay is None:
            return None
        return self._replay.get(path)

    async def load_replay(self) -> None:
        """With ``options.replay_from``, index the parent run's recorded model outputs."""
        parent = self.run.options.get("replay_from")
        if parent:
            self._replay = await recorded_model_outputs(self.store, parent)

    async def _leaf(self, path: str, node: AgentNode | ToolNode, scope: Any) -> StepView:
        settings = self.plan.settings
        policy = node.retry or settings.default_retry or DEFAULT_RETRY
        timeout = node.timeout or settings.default_timeout
        name, params = self._leaf_params(path, node, scope)
        handler = self.engine.services.handlers.get(node.kind, name)
        prev = self.steps.get(path)
        attempt = prev.attempt if prev is not None else 0
        previous_error = prev.error if prev is not None else None
        label = params.get("agent") if node.kind == "agent" else name
        while True:
            attempt += 1
            started = time.time()
            head = await self.workspace.head() if self.workspace is not None else None
            rec = StepRecord(
                self.run.run_id,
                path,
                node.kind,
                StepStatus.RUNNING,
                attempt,
                params,
                started_at=started,
                meta={"name": label},
            )
            if head:
                rec.meta["head_before"] = head
            await self._save(
                rec,
                self.event("step.started", path, kind=node.kind, name=label, attempt=attempt),
                durable=False,
            )
            ctx = StepContext(
                run_id=self.run.run_id,
                step_key=path,
                kind=node.kind,
                name=name,
                params=params,
                inputs=self.run.inputs,
                attempt=attempt,
                correlation_id=self.run.correlation_id,
                workspace=self.run.workspace,
                timeout=timeout,
                previous_error=previous_error,
                emit=self._emitter(path),
                services=self.engine.services,
            )
            try:
                async with self._plan_sem, self.engine.global_slot():
                    if timeout is not None:
                        try:
                            async with asyncio.timeout(timeout):
                                result = await handler.run(ctx)
                        except TimeoutError:
                            raise StepTimeout(
                                f"step '{path}' timed out after {timeout:g}s", timeout_s=timeout
                            ) from None
                    else:
                        result = await handler.run(ctx)
            except asyncio.CancelledError:
                rec.status = StepStatus.CANCELLED
                rec.finished_at = time.time()
                await asyncio.shield(self._save(rec, self.event("step.cancelled", path)))
                raise
            except Exception as exc:
                error = _error_dict(exc, path)
                previous_error = error
                if self.workspace is not None and head:
                    await self.workspace.reset_to(head)
                rec.finished_at = time.time()
                rec.error = error
                if should_retry(policy, exc, attempt):
                    delay = backoff_delay(policy, attempt)
                    rec.status = StepStatus.QUEUED
                    await self._save(
                        rec,
                        self.event(
                            "step.retrying",
                            path,
                            attempt=attempt,
                            delay_s=round(delay, 4),
                            error=error,
                        ),
                    )
                    await asyncio.sleep(delay)
                    continue
                rec.status = StepStatus.FAILED
                await self._save(
                    rec,
                    self.event(
                        "step.failed",
                        path,
                        attempt=attempt,
                        error=error,
                        duration_s=rec.finished_at - started,
                    ),
                )
                raise StepFailed(path, error) from None
            events = []
            if self.workspace is not None:
                sha = await self.workspace.commit_all(f"{path}: {label} (attempt {attempt})")
                if sha:
                    rec.meta["commit"] = sha
                    events.append(self.event("workspace.committed", path, commit=sha))
            rec.status = StepStatus.SUCCEEDED
            rec.output = result.output
            rec.meta.update(result.meta)
            rec.finished_at = time.time()
            events.insert(
                0,
                self.event(
                    "step.succeeded",
                    path,
                    kind=node.kind,
                    name=label,
                    attempt=attempt,
                    duration_s=rec.finished_at - started,
                ),
            )
            await self._save(rec, *events)
            return _view(rec)

    # gates, humans, groups --------------------------------------------------------
    async def _gate(self, path: str, node: GateNode, scope: Any) -> StepView:
        failures = evaluate_gate(node.gate, scope)
        if not failures:
            return await self._instant(path, node.kind, {"passed": True})
        error: dict[str, Any] = GateFailed(
            f"gate '{path}' failed: " + "; ".join(failures), failures=failures
        ).to_dict()
        error["step"] = path
        events = []
        if node.on_fail == "rollback" and self.workspace is not None:
            target = node.rollback_to or (node.needs[0] if node.needs else None)
            target_rec = self.steps.get(target) if target else None
            commit = target_rec.meta.get("head_before") if target_rec is not None else None
            if commit:
                await self.workspace.reset_to(commit)
                error["rolled_back_to"] = commit
                events.append(self.event("workspace.rolled_back", path, commit=commit, step=target))
        now = time.time()
        rec = StepRecord(
            self.run.run_id,
            path,
            node.kind,
            StepStatus.FAILED,
            1,
            None,
            {"passed": False, "failures": failures},
            error,
            now,
            now,
        )
        await self._save(rec, self.event("step.failed", path, attempt=1, error=error), *events)
        raise StepFailed(path, error)

    async def _human(
        self, path: str, node: HumanNode, rec: StepRecord | None, scope: Any
    ) -> StepView:
        if rec is not None and rec.status == StepStatus.WAITING_INPUT:
            return _PARKED
        question = render(node.human, scope)
        rec = StepRecord(
            self.run.run_id,
            path,
            node.kind,
            StepStatus.WAITING_INPUT,
            1,
            {"question": question, "options": list(node.options or ()), "default": node.default},
            started_at=time.time(),
        )
        await self._save(
            rec,
            self.event(
                "step.waiting",
                path,
                question=question,
                options=list(node.options or ()),
                default=node.default,
            ),
        )
        return _PARKED

    async def _group_start(self, path: str, kind: str) -> tuple[StepRecord, float]:
        started = time.time()
        prev = self.steps.get(path)
        rec = StepRecord(
            self.run.run_id,
            path,
            kind,
            StepStatus.RUNNING,
            (prev.attempt if prev else 0) + 1,
            started_at=started,
        )
        if prev is not None and "head_before" in prev.meta:
            rec.meta["head_before"] = prev.meta["head_before"]
        elif self.workspace is not None:
            head = await self.workspace.head()
            if head:
                rec.meta["head_before"] = head
        await self._save(rec, self.event("step.started", path, kind=kind), durable=False)
        return rec, started

    async def _group_end(self, rec: StepRecord, started: float, output: Any) -> StepView:
        rec.status = StepStatus.SUCCEEDED
        rec.output = output
        rec.finished_at = time.time()
        await self._save(
            rec,
            self.event(
                "step.succeeded", rec.step_key, kind=rec.kind, duration_s=rec.finished_at - started
            ),
        )
        return _view(rec)

    async def _group(
        self,
        path: str,
        kind: str,
        children: Mapping[str, Node],
        view: ChainMap[str, StepView],
        loop: dict[str, Any] | None,
        limit: int | None,
        *,
        sequential: bool,
    ) -> StepView:
        rec, started = await self._group_start(path, kind)
        local = await self._scope(
            path + "/", children, view, limit, sequential=sequential, loop=loop
        )
        return await self._group_end(rec, started, {k: v["output"] for k, v in local.items()})

    async def _loop(
        self, path: str, node: LoopNode, view: ChainMap[str, StepView], scope: Any
    ) -> StepView:
        spec = node.loop
        steps = spec.ordered_steps()
        max_iterations = int(render(spec.max, scope)) if isinstance(spec.max, str) else spec.max
        rec, started = await self._group_start(path, node.kind)
        merged: dict[str, Any] = {}
        iteration = 0
        for iteration in range(1, max_iterations + 1):
            loop_vars = {"iteration": iteration, "max": max_iterations}
            local = await self._scope(
                f"{path}[{iteration}]/", steps, view, None, sequential=False, loop=loop_vars
            )
            merged = {}
            for child in steps:
                child_view = local.get(child)
                if (
                    child_view
                    and child_view["status"] == StepStatus.SUCCEEDED.value
                    and isinstance(child_view["output"], dict)
                ):
                    merged.update(child_view["output"])
            merged["steps"] = {k: v["output"] for k, v in local.items()}
            if spec.until is not None:
                inner = self._scope_vars(view.new_child(local), loop_vars)
                if truthy(spec.until, inner):
                    merged["until_met"] = True
                    break
        else:
            merged["until_met"] = spec.until is None
        merged["iterations"] = iteration
        return await self._group_end(rec, started, merged)
