"""Row level security on PostgreSQL: the database keeps tenants apart on its own.

At the SQL level: a login role that is a member of ``nexus_api`` sees only
the rows of the tenant named by ``nexus.tenant``, and none without it. At
the API level: with the application's own tenant check switched off, tenant
A's key still gets 404 for tenant B's run on PostgreSQL, because the read
itself returns no row.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from psycopg import sql

from nexus.api.auth import Principal
from nexus.domain.runs import Checkpoint, Event, RunRecord, StepRecord
from nexus.errors import NotFoundError
from nexus.tenancy.rls import API_ROLE, TenantScopedPostgresStore, read_tenant, rls_status
from tests.tenancy.conftest import World, drop_schema, libpq_url, pg_base_url, require_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    require_postgres()
    schema = f"t_{secrets.token_hex(6)}"
    try:
        yield f"{pg_base_url()}?schema={schema}"
    finally:
        drop_schema(schema)


@pytest.fixture
async def scoped_store(pg_schema_url: str) -> AsyncIterator[TenantScopedPostgresStore]:
    store = TenantScopedPostgresStore(pg_schema_url)
    await store.open()
    for tenant in ("alpha", "beta"):
        run = RunRecord(run_id=f"run-{tenant}", plan_name="p", plan={}, inputs={}, tenant_id=tenant)
        await store.create_run(run, [Event(run.run_id, 1, "run.created", {"t": tenant})])
        await store.save_step(StepRecord(run_id=run.run_id, step_key="s1", kind="echo"))
        await store.save_checkpoint(
            Checkpoint(f"cp-{tenant}", run.run_id, 1.0, None, {"tenant": tenant})
        )
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def login_role() -> Iterator[tuple[str, str]]:
    """A throw-away login role that is a member of the API role (not a superuser)."""
    name, password = f"nexus_rls_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    with psycopg.connect(libpq_url(pg_base_url()), autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER IN ROLE {}").format(
                sql.Identifier(name), sql.Literal(password), sql.Identifier(API_ROLE)
            )
        )
    try:
        yield name, password
    finally:
        with psycopg.connect(libpq_url(pg_base_url()), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _tenant_rows(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, list[object]]:
    return {
        "runs": [r[0] for r in conn.execute("SELECT run_id FROM runs ORDER BY run_id")],
        "steps": [
            r[0]
            for r in conn.execute(
                "SELECT r.run_id FROM steps s JOIN runs r ON r.rid = s.rid ORDER BY 1"
            )
        ],
        "events": [r[0] for r in conn.execute("SELECT data FROM events ORDER BY data")],
        "checkpoints": [
            r[0] for r in conn.execute("SELECT checkpoint_id FROM checkpoints ORDER BY 1")
        ],
        "raw_steps": [r[0] for r in conn.execute("SELECT count(*) FROM steps")],
    }


async def test_policies_are_installed_on_every_run_table(
    scoped_store: TenantScopedPostgresStore, pg_schema_url: str
) -> None:
    assert scoped_store.rls_active
    schema = pg_schema_url.rsplit("schema=", 1)[1]
    with psycopg.connect(libpq_url(pg_base_url()), options=f"-c search_path={schema}") as conn:
        assert rls_status(conn) == {
            "runs": True, "steps": True, "events": True, "checkpoints": True
        }  # fmt: skip
        role = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = %s",
            (API_ROLE,),
        ).fetchone()
        assert role == (False, False, False)


async def test_a_role_member_sees_only_its_tenants_rows(
    scoped_store: TenantScopedPostgresStore,
    pg_schema_url: str,
    login_role: tuple[str, str],
) -> None:
    schema = pg_schema_url.rsplit("schema=", 1)[1]
    user, password = login_role
    base = libpq_url(pg_base_url())
    with psycopg.connect(
        base, user=user, password=password, options=f"-c search_path={schema}"
    ) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (user,)
        # no tenant set: nothing at all
        assert _tenant_rows(conn) == {
            "runs": [], "steps": [], "events": [], "checkpoints": [], "raw_steps": [0]
        }  # fmt: skip
        conn.execute("SELECT set_config('nexus.tenant', 'alpha', false)")
        rows = _tenant_rows(conn)
        assert rows["runs"] == ["run-alpha"]
        assert rows["steps"] == ["run-alpha"] and rows["raw_steps"] == [1]
        assert rows["events"] == ['{"t":"alpha"}']
        assert rows["checkpoints"] == ["cp-alpha"]
        # a direct look-up of B's row finds nothing; writing is not granted at all
        assert conn.execute("SELECT * FROM runs WHERE run_id = 'run-beta'").fetchall() == []
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE runs SET status = 'cancelled'")
        conn.rollback()
        conn.execute("SELECT set_config('nexus.tenant', 'beta', false)")
        assert _tenant_rows(conn)["runs"] == ["run-beta"]


async def test_the_store_reads_through_the_policies(
    scoped_store: TenantScopedPostgresStore,
) -> None:
    token = read_tenant.set("alpha")
    try:
        assert [r.run_id for r in await scoped_store.list_runs()] == ["run-alpha"]
        with pytest.raises(NotFoundError):
            await scoped_store.get_run("run-beta")
        assert await scoped_store.get_steps("run-beta") == []
        assert await scoped_store.read_events("run-beta") == []
        assert await scoped_store.list_checkpoints("run-beta") == []
        with pytest.raises(NotFoundError):
            await scoped_store.get_checkpoint("cp-beta")
        assert (await scoped_store.get_run("run-alpha")).tenant_id == "alpha"
    finally:
        read_tenant.reset(token)
    # without a tenant (the engine, the installation admin) every row is there
    assert {r.run_id for r in await scoped_store.list_runs()} == {"run-alpha", "run-beta"}


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_the_database_refuses_even_when_the_app_check_is_gone(
    world_with_b: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = world_with_b
    assert isinstance(world.nx.store, TenantScopedPostgresStore) and world.nx.store.rls_active
    monkeypatch.setattr(Principal, "can_see", lambda self, tenant_id: True)
    run_id = world.b["run_id"]
    got = await world.call("a_viewer", "GET", f"/api/runs/{run_id}")
    assert got.status_code == 404, got.text
    steps = await world.call("a_viewer", "GET", f"/api/tasks/{world.b['task_id']}/status")
    assert steps.status_code == 404, steps.text
    listed = (await world.call("a_viewer", "GET", "/api/runs")).json()
    assert listed["items"] == []
    # the owner still reads it, through the same policies
    assert (await world.call("b_viewer", "GET", f"/api/runs/{run_id}")).status_code == 200


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_request_without_a_key_does_not_inherit_the_last_tenant(
    world_with_b: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-process client runs requests in one task: the tenant must not carry over."""
    world = world_with_b
    assert (await world.call("a_viewer", "GET", "/api/runs")).status_code == 200
    assert read_tenant.get() == "alpha"
    monkeypatch.setattr(world.app.state, "api_open", True)  # no key: the default admin
    everyone = (await world.client.get("/api/runs", params={"limit": 500})).json()
    assert world.b["run_id"] in {r["run_id"] for r in everyone["items"]}
