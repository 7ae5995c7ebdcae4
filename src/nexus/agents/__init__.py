"""Agents and teams (A1–A8): definitions, the built-in software team, the registry with
live status and outcomes, the tools agents use, and the tool-calling loop."""

from nexus.agents.definition import (
    AgentDefinition,
    AgentLimits,
    Persona,
    PriorityMode,
    builtin_team_names,
    load_team,
    parse_team,
)
from nexus.agents.loop import AgentLoopResult, LoopConfig, run_agent_loop
from nexus.agents.memory import AgentMemory, MemoryNote
from nexus.agents.prompts import render_system_prompt, split_confidence
from nexus.agents.registry import (
    AgentOutcome,
    AgentRegistry,
    AgentStats,
    AgentStatus,
    OutcomeSink,
)
from nexus.agents.tools import (
    BUILTIN_TOOLS,
    TOOL_NAMES,
    AgentTool,
    Toolbox,
    ToolContext,
    ToolOutcome,
    ToolReply,
)

__all__ = [
    "BUILTIN_TOOLS",
    "TOOL_NAMES",
    "AgentDefinition",
    "AgentLimits",
    "AgentLoopResult",
    "AgentMemory",
    "AgentOutcome",
    "AgentRegistry",
    "AgentStats",
    "AgentStatus",
    "AgentTool",
    "LoopConfig",
    "MemoryNote",
    "OutcomeSink",
    "Persona",
    "PriorityMode",
    "ToolContext",
    "ToolOutcome",
    "ToolReply",
    "Toolbox",
    "builtin_team_names",
    "load_team",
    "parse_team",
    "render_system_prompt",
    "run_agent_loop",
    "split_confidence",
]
