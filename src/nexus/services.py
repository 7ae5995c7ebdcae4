"""What step handlers may use, handed to them in ``StepContext.services``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nexus.handlers.base import HandlerRegistry
from nexus.settings import Settings
from nexus.store.base import RunStore


@dataclass(slots=True)
class Services:
    settings: Settings
    store: RunStore
    handlers: HandlerRegistry
    #: nexus.providers.registry.ModelRegistry: ``get("provider:model") -> ModelProvider``
    models: Any = None
    #: nexus.agents.registry.AgentRegistry: ``get(agent_id) -> AgentDefinition``
    agents: Any = None
    #: nexus.budgets.Budgets: ``guard(provider, ctx, agent)`` charges model calls to budgets
    budgets: Any = None
