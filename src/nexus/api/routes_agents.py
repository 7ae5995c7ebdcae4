"""Agents (seed 001, A4, A7, E10): live status, messages, sessions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from nexus.api.agent_messages import (
    MESSAGE_PLAN_PREFIX,
    AgentMailbox,
    MessageIn,
    MessageOut,
    reply_text,
)
from nexus.api.deps import Nx, Operator, Viewer
from nexus.api.errors import COMMON_RESPONSES
from nexus.domain.runs import RunRecord

__all__ = ["AgentOut", "SessionOut", "agent_out", "router"]

router = APIRouter(prefix="/api/agents", tags=["agents"], responses=COMMON_RESPONSES)

_SESSION_SCAN = 1000
_SESSION_HISTORY = 20


class AgentOut(BaseModel):
    id: str
    name: str | None = None
    role: str | None = None
    model: str | None = None
    status: str = Field(description="idle, processing or error")
    current_step: str | None = Field(None, description="run_id/step_key it works on")
    steps: list[str]
    since: float
    last_error: str | None = None
    stats: dict[str, Any]


class SessionEntry(BaseModel):
    run_id: str
    status: str
    message: str | None
    response: str | None
    created_at: float


class SessionOut(BaseModel):
    agent_id: str
    session_id: str | None = Field(description="The newest message run with this agent.")
    status: str
    current_step: str | None
    history: list[SessionEntry] = Field(description="Recent messages, newest first.")


def agent_out(row: dict[str, Any]) -> AgentOut:
    live = row.get("status") or {}
    return AgentOut(
        id=row["id"],
        name=row.get("name"),
        role=row.get("role"),
        model=row.get("model"),
        status=live.get("state", "idle"),
        current_step=live.get("current_step"),
        steps=list(live.get("steps") or []),
        since=float(live.get("since") or 0.0),
        last_error=live.get("last_error"),
        stats=row.get("stats") or {},
    )


def _mailbox(conn: HTTPConnection) -> AgentMailbox:
    mailbox: AgentMailbox = conn.app.state.mailbox
    return mailbox


@router.get("/status", response_model=dict[str, AgentOut], summary="Every agent's live status")
async def agents_status(nx: Nx, principal: Viewer) -> dict[str, AgentOut]:
    return {row["id"]: agent_out(row) for row in nx.agent_status()}


@router.post(
    "/{agent_id}/message",
    response_model=MessageOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={200: {"model": MessageOut, "description": "Answered (with wait: true)"}},
    summary="Send a message to an agent (queued, interrupting or rejected while it is busy)",
)
async def send_message(
    agent_id: str,
    body: MessageIn,
    request: HTTPConnection,
    response: Response,
    principal: Operator,
) -> MessageOut:
    out = await _mailbox(request).send(principal, agent_id, body)
    if body.wait and out.status in ("answered", "failed", "cancelled"):
        response.status_code = status.HTTP_200_OK
    return out


def _entry(run: RunRecord) -> SessionEntry:
    message = run.inputs.get("message")
    return SessionEntry(
        run_id=run.run_id,
        status=run.status.value,
        message=message if isinstance(message, str) else None,
        response=reply_text(run),
        created_at=run.created_at,
    )


@router.get("/{agent_id}/session", response_model=SessionOut, summary="An agent's session")
async def agent_session(agent_id: str, nx: Nx, principal: Viewer) -> SessionOut:
    nx.services.agents.get(agent_id)  # NotFoundError for an unknown agent
    live = nx.services.agents.status_of(agent_id)
    tenant = None if principal.all_tenants else principal.tenant_id
    plan_name = f"{MESSAGE_PLAN_PREFIX}{agent_id}"
    history: list[SessionEntry] = []
    offset = 0
    while len(history) < _SESSION_HISTORY and offset < _SESSION_SCAN:
        page = await nx.store.list_runs(tenant_id=tenant, limit=200, offset=offset)
        offset += len(page)
        history.extend(_entry(r) for r in page if r.plan_name == plan_name)
        if len(page) < 200:
            break
    history = history[:_SESSION_HISTORY]
    return SessionOut(
        agent_id=agent_id,
        session_id=history[0].run_id if history else None,
        status=live.state,
        current_step=live.current_step,
        history=history,
    )
