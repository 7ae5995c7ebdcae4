"""``nexus tenants …``, ``nexus keys …`` and ``nexus audit export`` (S1, S2).

They work on the database of ``NEXUS_DATABASE_URL`` (or the SQLite file in
``NEXUS_HOME``) directly, as the operator of the installation: every change
is written to the audit log as made by ``cli:<user>``.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from nexus.cli._session import err_console, handle_errors, load_settings, out_console, print_json
from nexus.tenancy.audit import export_audit, parse_since
from nexus.tenancy.models import ApiKey, PlanName, Role, Tenant
from nexus.tenancy.store import Actor, TenancyStore

tenants_app = typer.Typer(help="Tenants and their plans.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (stored hashed, shown once).", no_args_is_help=True)
audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _actor() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(actor=f"cli:{user}", client_ip="local")


def _run(body: Callable[[TenancyStore], Awaitable[int]], *, json_output: bool = False) -> None:
    """Open the tenancy store from the settings, run ``body``, exit with its code."""

    async def main() -> int:
        store = TenancyStore(load_settings().store_url)
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()

    with handle_errors(json_output=json_output):
        code = asyncio.run(main())
    raise typer.Exit(code)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _tenants_table(tenants: list[Tenant]) -> Table:
    table = Table(title=None, show_edge=False)
    for column in ("tenant", "name", "plan", "agents", "requests/day", "budget $/day", "rate"):
        table.add_column(column)
    for t in tenants:
        lim = t.limits()
        table.add_row(
            t.tenant_id,
            t.name,
            str(t.plan) + (" *" if t.overrides else ""),
            str(lim.max_agents),
            f"{lim.requests_per_day:,}",
            f"{lim.budget_usd_per_day:g}",
            f"{lim.rate_per_s:g}/s, burst {lim.burst}",
        )
    return table


def _keys_table(keys: list[ApiKey]) -> Table:
    table = Table(show_edge=False)
    for column in ("key id", "tenant", "role", "name", "created", "last used", "state"):
        table.add_column(column)
    for k in keys:
        table.add_row(
            k.key_id,
            k.tenant_id,
            str(k.role),
            k.name,
            _when(k.created_at),
            _when(k.last_used_at),
            f"revoked {_when(k.revoked_at)}" if k.revoked else "active",
        )
    return table


def _limit_overrides(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


# -- tenants --------------------------------------------------------------------------------


@tenants_app.command("create")
def tenants_create(
    tenant_id: Annotated[str, typer.Argument(help="Lower-case id: letters, digits, dashes.")],
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    plan: Annotated[PlanName, typer.Option("--plan", "-p", help="The plan.")] = PlanName.STARTER,
    max_agents: Annotated[int | None, typer.Option("--max-agents", min=1)] = None,
    requests_per_day: Annotated[int | None, typer.Option("--requests-per-day", min=1)] = None,
    budget: Annotated[
        float | None, typer.Option("--budget-usd-per-day", min=0.01, help="Model spend a day.")
    ] = None,
    rate: Annotated[
        float | None, typer.Option("--rate", min=0.001, help="Requests/s per key.")
    ] = None,
    burst: Annotated[int | None, typer.Option("--burst", min=1, help="Burst per key.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Create a tenant on a plan, optionally overriding single limits."""
    overrides = _limit_overrides(
        max_agents=max_agents,
        requests_per_day=requests_per_day,
        budget_usd_per_day=budget,
        rate_per_s=rate,
        burst=burst,
    )

    async def body(store: TenancyStore) -> int:
        tenant = await store.create_tenant(tenant_id, name, plan, overrides, actor=_actor())
        if json_output:
            print_json(tenant.to_dict())
        else:
            out_console().print(_tenants_table([tenant]))
        return 0

    _run(body, json_output=json_output)


@tenants_app.command("list")
def tenants_list(json_output: JsonOption = False) -> None:
    """List tenants with their plans and effective limits."""

    async def body(store: TenancyStore) -> int:
        tenants = await store.list_tenants()
        if json_output:
            print_json([t.to_dict() for t in tenants])
        else:
            out_console().print(_tenants_table(tenants))
        return 0

    _run(body, json_output=json_output)


@tenants_app.command("show")
def tenants_show(
    tenant_id: Annotated[str, typer.Argument(help="The tenant id.")],
    json_output: JsonOption = False,
) -> None:
    """Show a tenant: plan, limits, overrides, its keys and today's requests."""

    async def body(store: TenancyStore) -> int:
        tenant = await store.get_tenant(tenant_id)
        keys = await store.list_keys(tenant_id)
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        used = await store.request_count(tenant_id, today)
        if json_output:
            print_json(
                {
                    **tenant.to_dict(),
                    "keys": [k.to_dict() for k in keys],
                    "requests_today": used,
                }
            )
            return 0
        console = out_console()
        console.print(_tenants_table([tenant]))
        if tenant.overrides:
            console.print(Text(f"overrides: {tenant.overrides}", style="dim"))
        console.print(f"requests today (UTC): {used:,} of {tenant.limits().requests_per_day:,}")
        console.print(_keys_table(keys) if keys else Text("no keys", style="dim"))
        return 0

    _run(body, json_output=json_output)


# -- keys ---------------------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="The key's tenant.")] = "default",
    role: Annotated[Role, typer.Option("--role", "-r", help="What the key may do.")] = Role.VIEWER,
    name: Annotated[str, typer.Option("--name", "-n", help="What the key is for.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Create an API key and print it. It is shown this once: only its hash is kept."""

    async def body(store: TenancyStore) -> int:
        key, token = await store.create_key(tenant, role, name, actor=_actor())
        if json_output:
            print_json({"key": key.to_dict(), "token": token})
            return 0
        sys.stdout.write(token + "\n")
        sys.stdout.flush()
        err_console().print(
            Text(
                f"key {key.key_id} ({key.role}) of tenant {key.tenant_id}: store it now, "
                "it is not shown again",
                style="dim",
            )
        )
        return 0

    _run(body, json_output=json_output)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant.")] = None,
    json_output: JsonOption = False,
) -> None:
    """List API keys (ids, roles, last use; never the secrets)."""

    async def body(store: TenancyStore) -> int:
        keys = await store.list_keys(tenant)
        if json_output:
            print_json([k.to_dict() for k in keys])
        else:
            out_console().print(_keys_table(keys))
        return 0

    _run(body, json_output=json_output)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (the part after nx_).")],
    json_output: JsonOption = False,
) -> None:
    """Revoke an API key for good."""

    async def body(store: TenancyStore) -> int:
        key = await store.revoke_key(key_id, actor=_actor())
        if json_output:
            print_json(key.to_dict())
        else:
            out_console().print(f"revoked key {key.key_id} of tenant {key.tenant_id}")
        return 0

    _run(body, json_output=json_output)


# -- audit ----------------------------------------------------------------------------------------


@audit_app.command("export")
def audit_export(
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl or csv.")] = "jsonl",
    since: Annotated[
        str | None,
        typer.Option("--since", help="ISO date/time (UTC) or a duration back: 30m, 12h, 7d."),
    ] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", dir_okay=False, help="Write to a file.")
    ] = None,
) -> None:
    """Export the audit log, oldest first, as JSON lines or CSV (stdout by default)."""
    with handle_errors():
        since_ts = parse_since(since)
        if fmt not in ("jsonl", "csv"):
            from nexus.errors import ConfigError

            raise ConfigError(f"unknown export format {fmt!r}; use jsonl or csv")

    async def body(store: TenancyStore) -> int:
        sink = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
        try:
            async for chunk in export_audit(store, fmt, tenant_id=tenant, since=since_ts):
                sink.write(chunk)
        finally:
            if output:
                sink.close()
            else:
                sink.flush()
        return 0

    _run(body)
