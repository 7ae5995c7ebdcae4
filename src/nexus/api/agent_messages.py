"""Messages to agents (E10, A4): every message becomes a run in which the agent replies.

``POST /api/agents/{id}/message`` creates a run of a one-step plan
(``message-<agent>``: the agent answers ``inputs.message``) and records the
message as a ``message.sent`` event of that run, in the A4 schema (message_id,
response_to, from, to, type, priority, payload, timeout). What happens next
depends on whether the agent is busy — working on a step in this process — and,
if so, on the ``settings.on_input`` policy of the plan of the run it works in:

- not busy: the message run starts at once (``status: processing``);
- ``queue`` (the default): the message waits (``status: queued``, with its
  position) and starts when the agent is free; its lease is held meanwhile;
- ``interrupt``: the run the agent works in is cancelled (its finished steps are
  kept; fork it to continue) and the message starts at once — only when that run
  belongs to the caller's tenant, otherwise the message is queued;
- ``reject``: nothing is created; HTTP 409 with code ``agent_busy``.

The response is 202 Accepted; with ``wait: true`` the call waits (up to
``timeout_s``) for the reply and returns 200 with it once the run has finished.
Agent status is per process: on a deployment of several servers, "busy" means
busy on the server that received the message. Queued messages survive a restart
of the server as runs: the claim loop of any server then delivers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nexus.api.auth import Principal
from nexus.api.executor import RunExecutor
from nexus.domain.runs import Event, RunRecord, RunStatus, new_id
from nexus.engine.plan_loader import parse_plan
from nexus.errors import InvalidStateError
from nexus.runtime import Nexus

__all__ = ["AgentBusy", "AgentMailbox", "MessageIn", "MessageOut", "message_plan"]

log = logging.getLogger(__name__)

MESSAGE_PLAN_PREFIX = "message-"
REPLY_STEP = "reply"


class AgentBusy(InvalidStateError):
    code = "agent_busy"


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=100_000)
    type: Literal["request", "info", "question", "task"] = "request"
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    response_to: str | None = Field(None, max_length=100)
    wait: bool = Field(False, description="Wait for the reply (up to timeout_s).")
    timeout_s: float = Field(30.0, gt=0, le=300)


class MessageOut(BaseModel):
    message_id: str
    agent_id: str
    run_id: str
    status: Literal["processing", "queued", "answered", "failed", "cancelled", "waiting_input"]
    policy: Literal["queue", "interrupt", "reject"] | None = Field(
        None, description="The on_input policy applied because the agent was busy."
    )
    busy_run_id: str | None = None
    interrupted_run_id: str | None = None
    position: int | None = Field(None, description="Place in the agent's queue (1 = next).")
    response: str | None = None


def message_plan(agent_id: str) -> dict[str, Any]:
    return {
        "version": 1,
        "name": f"{MESSAGE_PLAN_PREFIX}{agent_id}",
        "inputs": {"message": {"type": "string", "required": True}},
        "steps": {REPLY_STEP: {"agent": agent_id, "prompt": "${{ inputs.message }}"}},
    }


def reply_text(run: RunRecord) -> str | None:
    output = run.output if isinstance(run.output, dict) else {}
    reply = output.get(REPLY_STEP)
    if isinstance(reply, dict) and isinstance(reply.get("text"), str):
        return str(reply["text"])
    return None


class AgentMailbox:
    """Delivers messages to agents by the busy policy; keeps the per-agent queues."""

    def __init__(self, nx: Nexus, executor: RunExecutor) -> None:
        self.nx = nx
        self.executor = executor
        self.queues: dict[str, deque[str]] = {}
        self._drains: dict[str, asyncio.Task[None]] = {}
        self._unsubscribe = nx.services.agents.subscribe(self._on_status)

    def close(self) -> None:
        self._unsubscribe()
        for task in self._drains.values():
            task.cancel()

    def _busy_run(self, agent_id: str) -> str | None:
        status = self.nx.services.agents.status_of(agent_id)
        if status.state != "processing" or not status.steps:
            return None
        return str(status.steps[0]).split("/", 1)[0]

    async def _policy(self, run_id: str) -> Literal["queue", "interrupt", "reject"]:
        run = await self.nx.get_run(run_id)
        settings = run.plan.get("settings") if isinstance(run.plan, dict) else None
        policy = settings.get("on_input") if isinstance(settings, dict) else None
        return policy if policy in ("queue", "interrupt", "reject") else "queue"

    async def send(self, principal: Principal, agent_id: str, body: MessageIn) -> MessageOut:
        self.nx.services.agents.get(agent_id)  # NotFoundError for an unknown agent
        busy = self._busy_run(agent_id)
        policy = await self._policy(busy) if busy else None
        if policy == "reject":
            raise AgentBusy(
                f"agent '{agent_id}' is working on run '{busy}', whose plan rejects input "
                "while it is busy (settings.on_input: reject); try again later",
                agent=agent_id,
                run_id=busy,
            )
        interrupted = None
        if policy == "interrupt" and busy is not None:
            target = await self.nx.get_run(busy)
            if principal.can_see(target.tenant_id) and principal.allows("operator"):
                with contextlib.suppress(InvalidStateError):
                    await self.nx.cancel(busy)
                interrupted = busy
            else:
                policy = "queue"

        plan = parse_plan(message_plan(agent_id), source=f"message to {agent_id}")
        self.nx.validate(plan)
        run = await self.nx.start_run(
            plan, {"message": body.message}, tenant_id=principal.tenant_id
        )
        message = {
            "message_id": new_id("msg_"),
            "response_to": body.response_to,
            "from": principal.name,
            "to": agent_id,
            "type": body.type,
            "priority": body.priority,
            "payload": {"text": body.message},
            "timeout": body.timeout_s if body.wait else None,
            "timestamp": datetime.now(UTC).isoformat(),
            "policy": policy,
        }
        held = await self._record(run, message)
        out = MessageOut(
            message_id=message["message_id"],
            agent_id=agent_id,
            run_id=run.run_id,
            status="processing",
            policy=policy,
            busy_run_id=busy,
            interrupted_run_id=interrupted,
        )
        if held and policy == "queue":
            queue = self.queues.setdefault(agent_id, deque())
            queue.append(run.run_id)
            out.status = "queued"
            out.position = len(queue)
            self._kick(agent_id)
        elif held:
            await self.executor.start_held(run.run_id)
        if body.wait:
            await self._wait(out, body.timeout_s)
        return out

    async def _record(self, run: RunRecord, message: dict[str, Any]) -> bool:
        """Append ``message.sent`` under the run's lease; False when another server had
        already claimed the run (the message is then its input only)."""
        try:
            await self.executor.hold(run.run_id)
        except InvalidStateError:
            return False
        seq = await self.nx.store.last_event_seq(run.run_id) + 1
        event = Event(run.run_id, seq, "message.sent", message, run.correlation_id)
        await self.nx.store.append_events([event])
        self.nx.engine.bus.publish(event)
        return True

    async def _wait(self, out: MessageOut, timeout: float) -> None:
        run = await self.executor.wait(out.run_id, timeout)
        if run.status == RunStatus.SUCCEEDED:
            out.status = "answered"
            out.response = reply_text(run)
        elif run.status in (RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.WAITING_INPUT):
            out.status = run.status.value  # type: ignore[assignment]

    # --- the queues ---------------------------------------------------------------------
    def _on_status(self, status: Any) -> None:
        if status.state != "processing" and self.queues.get(status.agent_id):
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to drain
                self._kick(status.agent_id)

    def _kick(self, agent_id: str) -> None:
        task = self._drains.get(agent_id)
        if task is None or task.done():
            self._drains[agent_id] = asyncio.get_running_loop().create_task(
                self._drain(agent_id), name=f"nexus-mailbox-{agent_id}"
            )

    async def _drain(self, agent_id: str) -> None:
        """Start queued messages one at a time while the agent is free."""
        queue = self.queues.get(agent_id)
        while queue:
            if self._busy_run(agent_id) is not None:
                return  # the next status change to idle kicks us again
            run_id = queue.popleft()
            try:
                if await self.executor.start_held(run_id):
                    await self.executor.wait(run_id, timeout=24 * 3600)
            except Exception:
                log.warning("delivering queued message run %s failed", run_id, exc_info=True)
