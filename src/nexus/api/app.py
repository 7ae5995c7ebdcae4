"""The FastAPI application: ``create_app()`` wires the facade, the executor, the routes,
errors, auth, metrics and (when configured) tracing.

::

    app = create_app()                      # opens Nexus from NEXUS_* settings on start-up
    app = create_app(nx, ServerSettings(workers=4, api_open=True))

The lifespan opens the facade (unless one is given, which the caller then
closes), subscribes the Prometheus metrics and the OpenTelemetry tracer (only
when an exporter is configured) to the event bus, and starts the executor and
its claim loop; on shutdown it stops the executor (runs stay resumable by any
server) and closes what it opened.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

import nexus
from nexus.api import (
    routes_agents,
    routes_events,
    routes_run_actions,
    routes_runs,
    routes_system,
    routes_tasks,
    routes_usage,
    routes_web,
)
from nexus.api.agent_messages import AgentMailbox
from nexus.api.auth import Authenticator, set_authenticator
from nexus.api.config import ServerSettings
from nexus.api.errors import install_error_handlers
from nexus.api.executor import RunExecutor
from nexus.api.gateway_common import install_gateway
from nexus.api.middleware import RequestContextMiddleware
from nexus.observability.metrics import NexusMetrics
from nexus.observability.tracing import EventTracer, tracer_provider_from_env
from nexus.runtime import Nexus
from nexus.tenancy.service import Tenancy, open_api_store

__all__ = ["create_app"]

log = logging.getLogger(__name__)

ROUTERS = (
    routes_tasks.router,
    routes_runs.router,
    routes_run_actions.router,
    routes_agents.router,
    routes_events.router,
    routes_usage.router,
    routes_system.router,
    routes_web.router,
)

DESCRIPTION = """\
The Nexus control plane over HTTP: tasks, runs, steps, events, artifacts,
checkpoints and forks, agents and their messages, usage, live streams (SSE and
WebSocket), Prometheus metrics.

Every error has the body `{"error": {"code", "message", "details"}}`. Send an API
key as `Authorization: Bearer KEY` or `X-API-Key: KEY` when the server has keys.
"""


def create_app(
    nx: Nexus | None = None,
    settings: ServerSettings | None = None,
    *,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    """The API app. Without ``nx`` the lifespan opens (and closes) a facade from ``settings``."""
    if settings is None:
        settings = (
            nx.settings if nx is not None and isinstance(nx.settings, ServerSettings) else None
        )
    server = settings or ServerSettings()
    metrics = NexusMetrics()
    tenancy = Tenancy(nx.settings.store_url if nx is not None else server.store_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        facade = (
            nx
            if nx is not None
            else await Nexus.open(server, store=open_api_store(server.store_url))
        )
        await tenancy.open()
        stops: list[Callable[[], None]] = [facade.subscribe(metrics)]
        provider = tracer_provider_from_env()
        tracer = None
        if provider is not None:
            tracer = EventTracer(provider.get_tracer("nexus"))
            stops.append(facade.subscribe(tracer))
        executor = RunExecutor(
            facade,
            workers=server.workers,
            claim=server.claim,
            claim_interval_s=server.claim_interval_s,
            metrics=metrics,
        )
        mailbox = AgentMailbox(facade, executor)
        app.state.nx = facade
        app.state.executor = executor
        app.state.mailbox = mailbox
        await executor.start()
        log.info("Nexus API ready: store %s, executor %s", facade.store.url, executor.owner)
        try:
            yield
        finally:
            await executor.stop(server.shutdown_timeout_s)
            mailbox.close()
            for stop in stops:
                stop()
            if tracer is not None:
                tracer.close()
            if provider is not None:
                provider.shutdown()
            await tenancy.close()
            if nx is None:
                await facade.close()

    app = FastAPI(
        title="Nexus API",
        version=nexus.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.api_open = server.api_open
    app.state.metrics = metrics
    app.state.settings = server
    install_gateway(app)  # /v1 model gateway; its routes first: they are the busiest
    tenancy.install(app)  # keys, roles, quotas, size limit, audit; tenants/keys/audit routes
    if authenticator is not None:
        set_authenticator(app, authenticator)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    for router in ROUTERS:
        app.include_router(router)
    return app
