"""``nexus serve``: the REST API, live streams and in-process executors in one process.

With the embedded default (SQLite under ``NEXUS_HOME``) one server does all the
work. With ``NEXUS_DATABASE_URL`` on PostgreSQL, start as many servers as you
like: they share the runs through leases, and when one dies another continues
its runs after ``NEXUS_LEASE_TTL_S`` seconds (see ``docs/api.md``).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.text import Text

from nexus.cli._session import ExitCode, err_console, handle_errors
from nexus.errors import ConfigError

__all__ = ["serve"]


def _settings(overrides: dict[str, Any]) -> Any:
    from nexus.api.config import ServerSettings

    try:
        return ServerSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid server settings: {problems}") from None


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Runs executed at once by this server (default 8)."),
    ] = None,
    open_: Annotated[
        bool,
        typer.Option("--open", help="Requests without an API key act as the default admin."),
    ] = False,
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning or error (default NEXUS_LOG_LEVEL).")
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="text or json (default NEXUS_LOG_FORMAT, else text).")
    ] = None,
) -> None:
    """Serve the API (REST, SSE, WebSocket, /metrics) and execute runs in this process.

    Several servers on one PostgreSQL database share the work and take over the runs
    of a server that died.
    """
    import uvicorn

    from nexus.api.app import create_app
    from nexus.observability.logging import configure_logging

    with handle_errors():
        if log_format is not None and log_format not in ("text", "json"):
            raise ConfigError(f"--log-format must be text or json, not '{log_format}'")
        settings = _settings(
            {"workers": workers, "api_open": True if open_ else None, "log_level": log_level}
        )
        configure_logging(settings.log_level, log_format)
        app = create_app(settings=settings)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            log_level=settings.log_level.lower(),
            lifespan="on",
            timeout_graceful_shutdown=int(settings.shutdown_timeout_s) + 5,
        )
        server = uvicorn.Server(config)
        store = settings.store_url.split("@")[-1]
        err_console().print(
            Text.assemble(
                ("nexus serve ", "bold"),
                f"http://{host}:{port}  workers {settings.workers}  store {store}",
                "  (open: no API key needed)" if settings.api_open else "",
            )
        )
        if not _is_loopback(host):
            err_console().print(
                Text(
                    f"warning: listening on {host}, beyond this machine. Until an API key "
                    "exists (nexus keys create), every request acts as the default tenant's "
                    "admin" + ("; --open keeps it so" if settings.api_open else "") + ".",
                    style="yellow",
                )
            )
        server.run()
        if not server.started:
            raise typer.Exit(int(ExitCode.FAILED))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
