"""The audit log: every mutating call and every refused credential, with who, what, when,
from where and how it ended; append-only in the database; exported as JSON lines or CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner, Result

from nexus.cli.app import app as cli
from nexus.tenancy.models import AuditEntry, Outcome
from tests.tenancy.conftest import World

CLIENT_IP = "203.0.113.7"  # the address the test client connects from


async def _entries(world: World) -> list[AuditEntry]:
    await world.tenancy.audit.drain()
    return await world.tenancy.store.read_audit(limit=10_000)


async def test_mutating_calls_are_audited_with_who_what_where_and_outcome(world: World) -> None:
    before = time.time()
    key_id = world.keys["a_operator"].split("_")[1]
    created = await world.call("a_operator", "POST", "/api/runs", json={"task": "hello"})
    assert created.status_code == 201, created.text
    run_id = created.json()["run_id"]
    await world.call("a_operator", "POST", f"/api/runs/{run_id}/cancel")
    await world.call("a_viewer", "GET", f"/api/runs/{run_id}")  # reads are not audited
    bad = await world.call("a_operator", "POST", "/api/runs", json={"inputs": 1})
    assert bad.status_code == 422

    entries = [e for e in await _entries(world) if e.actor == key_id]
    assert [(e.action, e.resource, e.outcome, e.status) for e in entries] == [
        ("POST /api/runs", "/api/runs", Outcome.OK, 201),
        (
            "POST /api/runs/{run_id}/cancel",
            f"/api/runs/{run_id}/cancel",
            Outcome.OK if entries[1].status == 200 else Outcome.FAILED,
            entries[1].status,
        ),
        ("POST /api/runs", "/api/runs", Outcome.FAILED, 422),
    ]
    assert entries[2].detail == "invalid_request"
    for entry in entries:
        assert entry.tenant_id == "alpha"
        assert entry.client_ip == CLIENT_IP
        assert before <= entry.ts <= time.time()
    assert not any(e.action.startswith("GET ") for e in await _entries(world))


async def test_refused_credentials_are_audited_with_the_reason(world: World) -> None:
    unknown = "nx_0123456789ab_" + "Q" * 43
    await world.client.get("/api/runs", headers={"X-API-Key": unknown})
    await world.client.get("/api/runs", headers={"X-API-Key": "garbage"})
    revoked_id = world.keys["b_viewer"].split("_")[1]
    await world.tenancy.store.revoke_key(revoked_id)
    world.tenancy.authenticator.forget(revoked_id)
    await world.call("b_viewer", "GET", "/api/runs")
    await world.call("a_viewer", "DELETE", f"/api/tasks/{'t' * 8}")
    await world.client.get("/api/runs")  # no key at all

    denied = [e for e in await _entries(world) if e.outcome is Outcome.DENIED]
    seen = [(e.actor, e.tenant_id, e.status, e.detail) for e in denied]
    assert seen == [
        ("0123456789ab", None, 401, "unknown key"),
        ("anonymous", None, 401, "malformed key"),
        (revoked_id, "beta", 401, "revoked key"),
        (world.keys["a_viewer"].split("_")[1], "alpha", 403, "forbidden"),
        ("anonymous", None, 401, "unauthorized"),
    ]
    assert all(e.client_ip == CLIENT_IP and e.action == "GET /api/runs" for e in denied[:3])
    # the log never holds a secret
    dump = json.dumps([e.to_dict() for e in denied])
    assert "Q" * 43 not in dump and world.keys["b_viewer"] not in dump


async def test_audit_export_over_the_api_in_both_formats(world: World) -> None:
    await world.call("a_operator", "POST", "/api/runs", json={"task": "exported"})
    await world.call("b_operator", "POST", "/api/runs", json={"task": "not for alpha"})
    jsonl = await world.call("a_admin", "GET", "/api/audit/export", params={"format": "jsonl"})
    assert jsonl.status_code == 200
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [(r["action"], r["tenant_id"]) for r in rows] == [("POST /api/runs", "alpha")]
    assert rows[0]["time"].endswith("+00:00") and rows[0]["client_ip"] == CLIENT_IP

    exported = await world.call(
        "root", "GET", "/api/audit/export", params={"format": "csv", "since": "1h"}
    )
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["action"], r["tenant_id"]) for r in table] == [
        ("POST /api/runs", "alpha"),
        ("POST /api/runs", "beta"),
    ]
    later = await world.call(
        "root", "GET", "/api/audit/export", params={"format": "csv", "since": "2999-01-01"}
    )
    assert later.text.splitlines() == [",".join(list(table[0]))]


async def test_nexus_audit_export_on_the_command_line(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await world.call("a_operator", "POST", "/api/runs", json={"task": "from the cli"})
    await world.tenancy.audit.drain()
    monkeypatch.setenv("NEXUS_DATABASE_URL", world.database_url)
    runner = CliRunner()

    def invoke(*args: str) -> Result:  # the CLI runs its own event loop: off this one
        return runner.invoke(cli, list(args))

    result = await asyncio.to_thread(invoke, "audit", "export", "--format", "csv", "--since", "1d")
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["action"] for r in table] == ["POST /api/runs"]
    assert table[0]["client_ip"] == CLIENT_IP and table[0]["outcome"] == "ok"
    other = await asyncio.to_thread(invoke, "audit", "export", "--tenant", "beta")
    assert other.exit_code == 0 and other.stdout == ""
    bad = await asyncio.to_thread(invoke, "audit", "export", "--since", "last tuesday")
    assert bad.exit_code == 2 and "--since" in bad.stderr


async def test_the_database_refuses_to_change_the_audit_log(world: World) -> None:
    await world.call("a_operator", "POST", "/api/runs", json={"task": "kept"})
    count = len(await _entries(world))
    assert count >= 1
    engine = world.tenancy.store.engine()
    for statement in (
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
    ):
        with pytest.raises(DatabaseError) as refused, engine.begin() as conn:
            conn.execute(text(statement))
        assert "append-only" in str(refused.value)
    if engine.dialect.name == "postgresql":
        with pytest.raises(DatabaseError) as truncated, engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_log"))
        assert isinstance(truncated.value.orig, psycopg.errors.InsufficientPrivilege)
    assert len(await _entries(world)) == count


async def test_refused_websockets_are_audited(world: World) -> None:
    from tests.tenancy.test_isolation import _websocket_close

    first = await _websocket_close(world, "/api/runs/r-1/ws", "nx_0123456789ab_" + "Z" * 43)
    assert first["type"] == "websocket.close" and first["code"] == 4401
    entries = [e for e in await _entries(world) if e.action.startswith("WS ")]
    assert [(e.action, e.status, e.outcome, e.detail, e.client_ip) for e in entries] == [
        ("WS /api/runs/{run_id}/ws", 401, Outcome.DENIED, "unknown key", CLIENT_IP)
    ]
