"""API keys: stored as digests only, shown once, managed over the API and the CLI."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from nexus.cli.app import app as cli
from nexus.tenancy.keys import hash_secret, parse_token
from nexus.tenancy.store import TenancyStore
from tests.tenancy.conftest import World

TOKEN = re.compile(r"nx_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def _database_bytes(world: World) -> bytes:
    """Every byte the database holds: the SQLite file and its WAL, or a dump of the rows."""
    if world.database_url.startswith("sqlite"):
        path = Path(world.database_url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    return "\n".join(world.tenancy.store.iter_dump()).encode()


async def test_keys_are_stored_hashed_and_shown_once(world: World) -> None:
    created = await world.call(
        "a_admin", "POST", "/api/keys", json={"role": "operator", "name": "deploy bot"}
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert TOKEN.fullmatch(token)
    parsed = parse_token(token)
    assert parsed is not None
    key = created.json()["key"]
    assert key["key_id"] == parsed.key_id and key["tenant_id"] == "alpha"
    assert key["role"] == "operator" and key["name"] == "deploy bot"

    # never again: not in the listing, not in the key's own page
    listing = await world.call("a_admin", "GET", "/api/keys")
    one = await world.call("a_admin", "GET", f"/api/keys/{parsed.key_id}")
    for response in (listing, one):
        assert parsed.secret not in response.text and "token" not in response.text
        assert "secret_hash" not in response.text

    # at rest: the digest, never the secret (nor any other key's)
    stored = await world.tenancy.store.get_key(parsed.key_id)
    assert stored.secret_hash == hashlib.sha256(parsed.secret.encode()).digest()
    raw = _database_bytes(world)
    others = [parse_token(t) for t in world.keys.values()]
    for secret in [parsed.secret, *(o.secret for o in others if o is not None)]:
        assert len(secret) == 43 and secret.encode() not in raw
    if world.database_url.startswith("sqlite"):
        assert hash_secret(parsed.secret) in raw

    works = await world.client.get("/api/runs", headers={"Authorization": f"Bearer {token}"})
    assert works.status_code == 200


async def test_last_use_is_recorded(world: World) -> None:
    await world.call("a_viewer", "GET", "/api/runs")
    await world.tenancy.authenticator.close()  # writes pending last-use times
    key_id = world.keys["a_viewer"].split("_")[1]
    assert (await world.tenancy.store.get_key(key_id)).last_used_at is not None
    other = world.keys["a_operator"].split("_")[1]
    assert (await world.tenancy.store.get_key(other)).last_used_at is None


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


async def test_cli_manages_tenants_and_keys(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_DATABASE_URL", database_url)

    async def run(*args: str) -> Result:
        return await asyncio.to_thread(_invoke, *args)

    made = await run("tenants", "create", "acme", "--plan", "professional", "--rate", "50")
    assert made.exit_code == 0, made.output
    listed = json.loads((await run("tenants", "list", "--json")).stdout)
    acme = next(t for t in listed if t["tenant_id"] == "acme")
    assert acme["plan"] == "professional" and acme["overrides"] == {"rate_per_s": 50.0}
    assert acme["limits"]["rate_per_s"] == 50.0 and acme["limits"]["max_agents"] == 25
    assert {t["tenant_id"] for t in listed} == {"acme", "default"}
    again = await run("tenants", "create", "acme")
    assert again.exit_code == 2 and "exists already" in again.stderr

    key = await run("keys", "create", "--tenant", "acme", "--role", "operator", "-n", "ci")
    assert key.exit_code == 0, key.output
    token = key.stdout.strip()
    assert TOKEN.fullmatch(token) and "not shown again" in key.stderr
    parsed = parse_token(token)
    assert parsed is not None
    keys = json.loads((await run("keys", "list", "--tenant", "acme", "--json")).stdout)
    assert [(k["key_id"], k["role"], k["revoked"]) for k in keys] == [
        (parsed.key_id, "operator", False)
    ]
    shown = await run("tenants", "show", "acme", "--json")
    assert parsed.secret not in shown.stdout
    assert json.loads(shown.stdout)["keys"][0]["key_id"] == parsed.key_id
    revoked = await run("keys", "revoke", parsed.key_id)
    assert revoked.exit_code == 0 and "revoked key" in revoked.stdout
    missing = await run("keys", "create", "--tenant", "nobody")
    assert missing.exit_code == 2 and "no tenant with id 'nobody'" in missing.stderr

    store = TenancyStore(database_url)
    await store.open()
    try:
        assert (await store.get_key(parsed.key_id)).revoked
        actions = [(e.action, e.actor.startswith("cli:")) for e in await store.read_audit()]
        assert actions == [
            ("tenants.create", True),
            ("keys.create", True),
            ("keys.revoke", True),
        ]
    finally:
        await store.close()
