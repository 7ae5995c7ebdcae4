"""Model routing (M4, X3): a catalog, rules, six scoring nodes and bandits that learn
from verified outcomes, behind the model provider interface (``router:auto``).

::

    from nexus.routing import Router

    router = Router.open()
    decision = router.decide(router.analyze("Fix the failing test"), role="developer")
    print(decision.model, decision.reason)

See ``docs/routing.md``.
"""

from nexus.routing.analyzer import TASK_TYPES, TaskAnalyzer, TaskFeatures
from nexus.routing.bandits import UCB1, Thompson, reward
from nexus.routing.catalog import Catalog, ModelSpec, RouterConfig, load_catalog
from nexus.routing.feedback import record_step_outcome, verified_outcome
from nexus.routing.provider import RouterProvider
from nexus.routing.router import Decision, NoRouteError, RoutePlan, Router
from nexus.routing.rules import Rule, compile_rules
from nexus.routing.scoring import MODE_WEIGHTS, MODES, NODES

__all__ = [
    "MODES",
    "MODE_WEIGHTS",
    "NODES",
    "TASK_TYPES",
    "UCB1",
    "Catalog",
    "Decision",
    "ModelSpec",
    "NoRouteError",
    "RoutePlan",
    "Router",
    "RouterConfig",
    "RouterProvider",
    "Rule",
    "TaskAnalyzer",
    "TaskFeatures",
    "Thompson",
    "compile_rules",
    "load_catalog",
    "record_step_outcome",
    "reward",
    "verified_outcome",
]
