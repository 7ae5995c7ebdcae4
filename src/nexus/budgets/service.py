"""``Budgets``: what the runtime puts in ``Services.budgets`` — policy, ledger, anomalies.

The agent handler asks it for a guarded provider per step::

    provider = await services.budgets.guard(provider, ctx, agent)
    ...                                   # the agent's tool loop, every call charged
    services.budgets.observe_step(ctx, agent.id, model, cost_usd)

``guard`` reads the run (once per run: its tenant, plan name and the plan's
``settings.budget``) and charges every call to the tenant's daily and total
budgets, the run's and the agent's in that run. A refused call emits a
``budget.exceeded`` event on the step. ``observe_step`` feeds the cost-anomaly
detector: a step far above the usual for its agent and model, or a run whose
spend so far is far above the usual total for its plan, emits ``cost.anomaly``
(once per run for the run case). ``on_event`` (subscribed to the engine's event
bus) teaches the detector each finished run's total and lets the ledger forget
the finished run.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nexus.analytics.anomaly import AnomalyConfig, CostAnomalyDetector, baselines_path
from nexus.budgets.caps import ensure_within_caps
from nexus.budgets.guard import BudgetedProvider
from nexus.budgets.ledger import BudgetExceeded, BudgetLedger
from nexus.budgets.policy import BudgetPolicy, Limit, Scope, agent_key, plan_budget, run_key
from nexus.budgets.spendlog import SqliteSpendLog
from nexus.domain.messages import ModelRequest
from nexus.domain.plan import Plan
from nexus.domain.runs import Event
from nexus.errors import NotFoundError
from nexus.handlers.base import StepContext
from nexus.providers.base import ModelProvider
from nexus.providers.pricing import PriceTable, default_price_table
from nexus.store.base import RunStore
from nexus.tenancy.limits import check_agents, limits_for

__all__ = ["LEDGER_FILE", "Budgets", "RunInfo"]

LEDGER_FILE = "budgets.db"
_RUN_CACHE = 4096
_FINISHED = frozenset({"run.succeeded", "run.failed", "run.cancelled"})


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What budgets need to know about a run."""

    tenant_id: str = "default"
    plan_name: str = ""
    budget: Limit | None = None
    replay: bool = False


class Budgets:
    """The budget policy, the ledger, the prices and the cost-anomaly detector of a runtime."""

    def __init__(
        self,
        policy: BudgetPolicy | None = None,
        ledger: BudgetLedger | None = None,
        *,
        prices: PriceTable | None = None,
        anomalies: CostAnomalyDetector | None = None,
    ) -> None:
        self.policy = policy if policy is not None else BudgetPolicy()
        self.ledger = ledger if ledger is not None else BudgetLedger()
        self.prices = prices
        self.anomalies = anomalies
        self._runs: OrderedDict[str, RunInfo] = OrderedDict()
        self._alerted_runs: set[str] = set()

    @classmethod
    def open(
        cls,
        home: str | Path,
        policy: BudgetPolicy | None = None,
        anomaly_config: AnomalyConfig | None = None,
    ) -> Budgets:
        """Budgets of a Nexus home: the policy of the environment (unless given), spend in
        ``<home>/budgets.db``, cost baselines in ``<home>/analytics/``."""
        return cls(
            policy if policy is not None else BudgetPolicy.from_settings(),
            BudgetLedger(SqliteSpendLog(Path(home) / LEDGER_FILE)),
            anomalies=CostAnomalyDetector(anomaly_config, baselines_path(home)),
        )

    def close(self) -> None:
        self.ledger.spend_log.close()

    # plans -------------------------------------------------------------------------------
    def check_plan(self, plan: Plan) -> None:
        """Raise PlanError when the plan spreads wider than the fan-out cap."""
        ensure_within_caps(plan, self.policy.max_fan_out)

    # runs --------------------------------------------------------------------------------
    async def run_info(self, store: RunStore, run_id: str) -> RunInfo:
        """The run's tenant, plan name and plan budget; read from the store once per run."""
        found = self._runs.get(run_id)
        if found is not None:
            return found
        try:
            run = await store.get_run(run_id)
        except NotFoundError:  # a step run outside a stored run (a direct handler call)
            info = RunInfo()
        else:
            info = RunInfo(
                tenant_id=run.tenant_id or "default",
                plan_name=run.plan_name,
                budget=plan_budget(run.plan),
                replay=bool(run.options.get("replay_from")),
            )
        self._runs[run_id] = info
        while len(self._runs) > _RUN_CACHE:
            self._runs.popitem(last=False)
        return info

    def scopes(self, info: RunInfo, run_id: str, agent: Any) -> tuple[Scope, ...]:
        """The scopes a call of ``agent`` (an AgentDefinition) in ``run_id`` is charged to."""
        limits = agent.limits
        return self.policy.scopes(
            tenant_id=info.tenant_id,
            run_id=run_id,
            agent_id=agent.id,
            run_budget=info.budget,
            agent_budget=Limit(limits.budget_usd, getattr(limits, "budget_tokens", None)),
        )

    async def with_tenant_plan(self, scopes: Sequence[Scope], tenant_id: str) -> list[Scope]:
        """``scopes`` with the tenant's daily budget at most what its plan allows
        (``budget_usd_per_day``) when this process enforces tenancy (an API server with keys)."""
        capped = list(scopes)
        plan = await limits_for(tenant_id)
        if plan is None:
            return capped
        for i, scope in enumerate(capped):
            usd = scope.limit.usd
            if scope.kind == "tenant_day" and (usd is None or usd > plan.budget_usd_per_day):
                limit = Limit(plan.budget_usd_per_day, scope.limit.tokens, scope.limit.calls)
                capped[i] = replace(scope, limit=limit)
        return capped

    async def check_tenant_agents(self, tenant_id: str, agents: Any) -> None:
        """Refuse a new agent step when the tenant already runs its plan's maximum of agents
        at once (``max_agents``; only when this process enforces tenancy)."""
        working = getattr(agents, "working_runs", None)
        if working is None:
            return
        running = sum(
            1
            for run_id in working()
            if (info := self._runs.get(run_id)) is not None and info.tenant_id == tenant_id
        )
        await check_agents(tenant_id, running)

    async def guard(
        self, provider: ModelProvider, ctx: StepContext, agent: Any
    ) -> BudgetedProvider:
        """``provider`` charged to the budgets of ``agent`` in the run of ``ctx``; the tenant's
        plan caps its daily budget and how many agents it runs at once."""
        info = await self.run_info(ctx.services.store, ctx.run_id)
        await self.check_tenant_agents(info.tenant_id, ctx.services.agents)
        scopes = await self.with_tenant_plan(self.scopes(info, ctx.run_id, agent), info.tenant_id)
        emit = ctx.emit

        def refused(error: BudgetExceeded, request: ModelRequest) -> None:
            emit("budget.exceeded", {**error.to_dict(), "agent": agent.id})

        return BudgetedProvider(
            provider,
            self.ledger,
            scopes,
            prices=self.prices if self.prices is not None else default_price_table(),
            default_output_tokens=self.policy.default_output_tokens,
            margin=self.policy.estimate_margin,
            on_refused=refused,
        )

    def run_spent(self, run_id: str) -> float:
        """USD the run has spent (settled calls, also those of earlier processes)."""
        return self.ledger.spent(run_key(run_id)).usd

    # anomalies ---------------------------------------------------------------------------
    def observe_step(
        self, ctx: StepContext, agent_id: str, model: str, cost_usd: float, *, replayed: bool
    ) -> list[dict[str, Any]]:
        """Learn a finished agent step's cost; emit and return ``cost.anomaly`` alerts."""
        if self.anomalies is None:
            return []
        alerts: list[dict[str, Any]] = []
        info = self._runs.get(ctx.run_id)
        if not replayed and cost_usd > 0:
            step = self.anomalies.observe(f"step:{agent_id}:{model}", cost_usd)
            if step is not None:
                alerts.append(
                    {"scope": "step", "agent": agent_id, "model": model, **step.to_dict()}
                )
        if info is not None and info.plan_name and ctx.run_id not in self._alerted_runs:
            run = self.anomalies.check(f"run:{info.plan_name}", self.run_spent(ctx.run_id))
            if run is not None:
                self._alerted_runs.add(ctx.run_id)
                alerts.append({"scope": "run", "plan": info.plan_name, **run.to_dict()})
        for alert in alerts:
            ctx.emit("cost.anomaly", alert)
        return alerts

    def on_event(self, event: Event) -> None:
        """Engine bus listener: at the end of a run learn its total, then forget the run."""
        if event.type not in _FINISHED:
            return
        info = self._runs.pop(event.run_id, None)
        self._alerted_runs.discard(event.run_id)
        if info is None:
            return
        total = self.run_spent(event.run_id)
        if (
            self.anomalies is not None
            and event.type == "run.succeeded"
            and info.plan_name
            and not info.replay
            and total > 0
        ):
            self.anomalies.observe(f"run:{info.plan_name}", total)
        self.ledger.forget(run_key(event.run_id), agent_key(event.run_id, ""))
