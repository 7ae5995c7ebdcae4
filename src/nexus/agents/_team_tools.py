"""Tools for working with the rest of the team: messages (A4), scratchpads and memory.

``send_message`` builds a message in the A4 schema (message_id, response_to,
from, to, type, priority, payload, timeout), emits it as a ``message.sent``
event (persisted in the run's event log) and appends it to
``scratchpads/messages.jsonl`` in the workspace. Scratchpads are markdown files
under ``scratchpads/`` (``aria_to_code.md`` …). ``remember`` / ``recall`` use
the agent's :class:`~nexus.agents.memory.AgentMemory`.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nexus.agents._toolkit import AgentTool, ToolContext, ToolReply, schema
from nexus.agents.memory import AgentMemory
from nexus.domain.runs import new_id
from nexus.errors import ToolError
from nexus.workspace.paths import resolve_inside

__all__ = ["MESSAGE_PRIORITIES", "MESSAGE_TYPES", "SCRATCHPAD_DIR", "TEAM_TOOLS"]

SCRATCHPAD_DIR = "scratchpads"
MESSAGE_LOG = "messages.jsonl"
MESSAGE_TYPES = ("task_assignment", "request", "response", "info", "feedback", "status")
MESSAGE_PRIORITIES = ("low", "normal", "high", "urgent")
BROADCAST = ("all", "team")


def _scratchpads(ctx: ToolContext) -> Path:
    folder = ctx.path(SCRATCHPAD_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _scratchpad_path(ctx: ToolContext, name: str) -> Path:
    name = name.strip()
    if name.startswith(SCRATCHPAD_DIR + "/"):
        name = name[len(SCRATCHPAD_DIR) + 1 :]
    if not name:
        raise ToolError("a scratchpad needs a name, e.g. aria_to_code.md")
    if "." not in Path(name).name:
        name += ".md"
    return resolve_inside(_scratchpads(ctx), name)


def _append_line(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")


async def send_message(ctx: ToolContext, args: dict[str, Any]) -> ToolReply:
    to = str(args["to"])
    if ctx.known_agents is not None and to not in ctx.known_agents and to not in BROADCAST:
        raise ToolError(
            f"unknown recipient '{to}'; agents of this team: {', '.join(ctx.known_agents)}"
            " (or 'all')"
        )
    message: dict[str, Any] = {
        "message_id": new_id("msg_"),
        "response_to": args.get("response_to"),
        "from": ctx.agent_id,
        "to": to,
        "type": args.get("type") or "info",
        "priority": args.get("priority") or "normal",
        "payload": args["payload"],
        "timeout": args.get("timeout_s"),
        "timestamp": datetime.fromtimestamp(time.time(), UTC).isoformat(),
        "step": ctx.step_key,
    }
    ctx.emit("message.sent", message)
    if ctx.workspace is not None:
        log = _scratchpads(ctx) / MESSAGE_LOG
        await asyncio.to_thread(_append_line, log, json.dumps(message, ensure_ascii=False))
    return ToolReply(
        f"message {message['message_id']} sent to {to} ({message['type']},"
        f" priority {message['priority']})",
        f"message to {to}: {message['type']}",
    )


async def write_scratchpad(ctx: ToolContext, args: dict[str, Any]) -> ToolReply:
    path = _scratchpad_path(ctx, str(args["name"]))
    content = str(args["content"])
    append = bool(args.get("append"))
    if append and path.exists():
        existing = await asyncio.to_thread(path.read_text, encoding="utf-8")
        sep = "" if not existing or existing.endswith("\n") else "\n"
        content = existing + sep + content
    path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_text, content, encoding="utf-8")
    shown = ctx.rel(path)
    verb = "appended to" if append else "wrote"
    return ToolReply(f"{verb} {shown} ({len(content.encode())} bytes)", f"{verb} {shown}")


async def read_scratchpad(ctx: ToolContext, args: dict[str, Any]) -> ToolReply:
    name = args.get("name")
    if not name:
        folder = _scratchpads(ctx)
        pads = sorted(p for p in folder.rglob("*") if p.is_file())
        if not pads:
            return ToolReply("no scratchpads yet", "listed scratchpads: none")
        lines = [f"{ctx.rel(p)} ({p.stat().st_size} bytes)" for p in pads]
        return ToolReply("\n".join(lines), f"listed {len(pads)} scratchpads")
    path = _scratchpad_path(ctx, str(name))
    shown = ctx.rel(path)
    if not path.is_file():
        raise ToolError(f"scratchpad {shown} does not exist (call read_scratchpad without a name)")
    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    return ToolReply(f"{shown}:\n{text}", f"read {shown}")


def _memory(ctx: ToolContext) -> AgentMemory:
    if ctx.home is None:
        raise ToolError("memory is not available in this step (no NEXUS_HOME)")
    return AgentMemory(ctx.home, ctx.agent_id)


async def remember(ctx: ToolContext, args: dict[str, Any]) -> ToolReply:
    tags = [str(t) for t in args.get("tags") or []]
    note = await asyncio.to_thread(
        _memory(ctx).remember, str(args["note"]), tags, ctx.run_id or None
    )
    return ToolReply(f"remembered as {note.note_id}", f"remembered {len(note.text)} chars")


async def recall(ctx: ToolContext, args: dict[str, Any]) -> ToolReply:
    query = str(args.get("query") or "")
    limit = int(args.get("limit") or 5)
    notes = await asyncio.to_thread(_memory(ctx).recall, query, limit)
    if not notes:
        return ToolReply("nothing remembered matches", "recall: 0 notes")
    lines = []
    for note in notes:
        when = datetime.fromtimestamp(note.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        tags = f" [{', '.join(note.tags)}]" if note.tags else ""
        lines.append(f"- ({when}){tags} {note.text}")
    return ToolReply("\n".join(lines), f"recall: {len(notes)} notes")


TEAM_TOOLS: tuple[AgentTool, ...] = (
    AgentTool(
        "send_message",
        "Send a message to another agent of the team (or 'all'). It is logged with the run.",
        schema(
            {
                "to": {"type": "string", "description": "The recipient's agent id."},
                "type": {"type": "string", "enum": list(MESSAGE_TYPES), "default": "info"},
                "priority": {
                    "type": "string",
                    "enum": list(MESSAGE_PRIORITIES),
                    "default": "normal",
                },
                "payload": {
                    "description": "The content: a text or an object.",
                    "type": ["string", "object"],
                },
                "response_to": {"type": "string", "description": "The message id answered."},
                "timeout_s": {"type": "number", "exclusiveMinimum": 0},
            },
            ("to", "payload"),
        ),
        send_message,
    ),
    AgentTool(
        "write_scratchpad",
        "Write (or append to) a scratchpad: a markdown note under scratchpads/ that the other"
        " agents read, e.g. aria_to_code.md.",
        schema(
            {
                "name": {"type": "string", "description": "File name, e.g. aria_to_code.md."},
                "content": {"type": "string"},
                "append": {"type": "boolean", "default": False},
            },
            ("name", "content"),
        ),
        write_scratchpad,
    ),
    AgentTool(
        "read_scratchpad",
        "Read a scratchpad by name, or list the scratchpads when no name is given.",
        schema({"name": {"type": "string"}}),
        read_scratchpad,
    ),
    AgentTool(
        "remember",
        "Remember a note for later tasks (kept across runs).",
        schema(
            {
                "note": {"type": "string", "minLength": 1},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            ("note",),
        ),
        remember,
    ),
    AgentTool(
        "recall",
        "Recall remembered notes that match a query (the newest when the query is empty).",
        schema(
            {
                "query": {"type": "string"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 50},
            }
        ),
        recall,
    ),
)
