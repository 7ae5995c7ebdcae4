"""Agent definitions (A1) and team files.

An agent is written in YAML::

    - id: code
      name: Code
      role: developer
      persona:
        traits: [creative, precise]
        communication_style: technical and solution-oriented
        strengths: [Clean code implementation]
        preferences: {workflow_style: iterative development with frequent testing}
      system_prompt: "You are {{ agent.name }} …"     # optional Jinja2 template
      capabilities: [python, refactoring]
      tools: [read_file, write_file, edit_file, run_tests]
      model: openai:gpt-4o-mini                       # optional; else the default model
      priority_mode: quality                          # speed | quality | cost | balance
      limits: {timeout_s: 600, retries: 1, max_tokens: 4096, max_turns: 16, budget_usd: 0.5}
      session_timeout_s: 3600
      reviewer: prime                                 # reviews steps below review_below

A team file holds a list of agents, or ``{agents: [...]}``. ``builtin:software``
names the team shipped with Nexus (Prime, Aria, Code, Alpha, Beta).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nexus.agents.tools import TOOL_NAMES
from nexus.errors import ConfigError, NotFoundError

__all__ = [
    "AgentDefinition",
    "AgentLimits",
    "Persona",
    "PriorityMode",
    "builtin_team_names",
    "load_team",
    "parse_team",
]

PriorityMode = Literal["speed", "quality", "cost", "balance"]

_ID_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
_BUILTIN_PREFIX = "builtin:"
_templates = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


class Persona(BaseModel):
    """How an agent thinks and talks (the personas of the seed's digital team)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    traits: tuple[str, ...] = ()
    communication_style: str = ""
    decision_making: str = ""
    collaboration_style: str = ""
    strengths: tuple[str, ...] = ()
    preferences: dict[str, str] = Field(default_factory=dict)
    expertise: tuple[str, ...] = ()


class AgentLimits(BaseModel):
    """Per-agent limits. ``None`` means: the step's or the system's default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float | None = Field(None, gt=0)
    retries: int = Field(0, ge=0, le=20)
    max_tokens: int | None = Field(None, ge=1)
    max_turns: int | None = Field(None, ge=1, le=200)
    budget_usd: float | None = Field(None, ge=0)
    #: tokens (all kinds) the agent may use within one run; see nexus.budgets
    budget_tokens: int | None = Field(None, ge=0)
    #: a step whose confidence is below this is reviewed (None: the default, 0.3)
    review_below: float | None = Field(None, ge=0, le=1)


class AgentDefinition(BaseModel):
    """One agent: identity, persona, prompt template, tools, model preference and limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID_PATTERN)
    name: str
    role: str
    description: str = ""
    persona: Persona = Field(default_factory=Persona)
    #: Jinja2 template (sandboxed) over ``agent`` (this definition as a dict) and ``task``
    system_prompt: str | None = None
    capabilities: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    model: str | None = None
    #: models tried in order when the model fails for good (rate limits, outages, credit)
    fallbacks: tuple[str, ...] = ()
    priority_mode: PriorityMode = "balance"
    limits: AgentLimits = Field(default_factory=AgentLimits)
    session_timeout_s: float = Field(3600.0, gt=0)
    #: the agent that reviews this agent's low-confidence steps (None: prime)
    reviewer: str | None = Field(None, pattern=_ID_PATTERN)

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, tools: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in tools if t not in TOOL_NAMES]
        if unknown:
            raise ValueError(
                f"unknown tool(s) {', '.join(unknown)}; known tools: {', '.join(TOOL_NAMES)}"
            )
        return tools

    @field_validator("model")
    @classmethod
    def _model_name(cls, model: str | None) -> str | None:
        if model is not None and ":" not in model:
            raise ValueError(f"model '{model}' must be written as provider:model")
        return model

    @field_validator("fallbacks")
    @classmethod
    def _fallback_names(cls, models: tuple[str, ...]) -> tuple[str, ...]:
        bad = [m for m in models if ":" not in m or "," in m]
        if bad:
            raise ValueError(f"fallbacks must be provider:model names: {', '.join(bad)}")
        return models

    def model_chain(self, model: str) -> str:
        """``model`` with this agent's fallbacks: a ``fallback:`` chain name when it has any."""
        if not self.fallbacks or model.startswith("fallback:"):
            return model
        return "fallback:" + ",".join([model, *self.fallbacks])

    @field_validator("system_prompt")
    @classmethod
    def _template_compiles(cls, template: str | None) -> str | None:
        if template is not None:
            try:
                _templates.parse(template)
            except TemplateSyntaxError as exc:
                raise ValueError(f"system_prompt template line {exc.lineno}: {exc}") from exc
        return template


def builtin_team_names() -> list[str]:
    """The names usable as ``builtin:<name>`` team references."""
    folder = resources.files("nexus.agents").joinpath("builtin")
    return sorted(
        p.name.removesuffix(".yaml")
        for p in folder.iterdir()
        if p.name.endswith(".yaml") and not p.name.endswith("_plan.yaml")
    )


def load_team(ref: str, base_dir: Path | None = None) -> dict[str, AgentDefinition]:
    """The agents of a team by id. ``ref`` is ``builtin:<name>`` or a YAML file path
    (relative paths are taken from ``base_dir``, else the working directory)."""
    if ref.startswith(_BUILTIN_PREFIX):
        name = ref.removeprefix(_BUILTIN_PREFIX)
        if name not in builtin_team_names():
            raise NotFoundError(
                f"unknown built-in team '{ref}'; known: "
                + ", ".join(_BUILTIN_PREFIX + n for n in builtin_team_names())
            )
        text = resources.files("nexus.agents").joinpath("builtin", f"{name}.yaml").read_text()
        return parse_team(yaml.safe_load(text), source=ref)
    path = Path(ref).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFoundError(f"team file {path} does not exist", path=str(path)) from exc
    except OSError as exc:
        raise ConfigError(f"team file {path} cannot be read: {exc}", path=str(path)) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"team file {path}: invalid YAML: {exc}", path=str(path)) from exc
    return parse_team(data, source=str(path))


def parse_team(data: Any, source: str = "<team>") -> dict[str, AgentDefinition]:
    """Agents from parsed YAML: a list of agent mappings or ``{agents: [...]}``."""
    if isinstance(data, dict) and "agents" in data:
        data = data["agents"]
    if not isinstance(data, list) or not data:
        raise ConfigError(f"team file {source}: expected a non-empty list of agents")
    team: dict[str, AgentDefinition] = {}
    for index, item in enumerate(data, start=1):
        label = f"agent #{index}"
        if isinstance(item, dict) and item.get("id"):
            label = f"agent '{item['id']}'"
        try:
            agent = AgentDefinition.model_validate(item)
        except ValidationError as exc:
            raise ConfigError(
                f"team file {source}: {label}: {_describe(exc)}", source=source
            ) from exc
        if agent.id in team:
            raise ConfigError(f"team file {source}: {label} is defined twice", source=source)
        team[agent.id] = agent
    return team


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "agent"
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)
