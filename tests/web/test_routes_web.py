"""The dashboard's routes, in-process: the page, its assets, caching and confinement."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from nexus.api import create_app
from nexus.api.routes_web import CONTENT_SECURITY_POLICY
from nexus.web import asset_root


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dashboard.test") as c:
        yield c


async def test_root_serves_the_page_with_a_strict_policy(client: httpx.AsyncClient) -> None:
    reply = await client.get("/")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="/ui/js/main.js">' in reply.text
    assert reply.text == (asset_root() / "index.html").read_text()


async def test_every_module_the_page_imports_is_served(client: httpx.AsyncClient) -> None:
    """Follow the import graph from main.js: every module exists and is JavaScript."""
    seen: set[str] = set()
    todo = ["/ui/js/main.js"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        reply = await client.get(path)
        assert reply.status_code == 200, path
        assert reply.headers["content-type"] == "text/javascript; charset=utf-8"
        base = path.rsplit("/", 1)[0]
        for spec in re.findall(r'^import [^;]*? from "(\.{1,2}/[^"]+)";', reply.text, re.M):
            parts = (base + "/" + spec).split("/")
            resolved: list[str] = []
            for part in parts:
                if part == "..":
                    resolved.pop()
                elif part != ".":
                    resolved.append(part)
            todo.append("/".join(resolved))
    modules = {p.relative_to(asset_root()).as_posix() for p in asset_root().rglob("*.js")}
    assert {p.removeprefix("/ui/") for p in seen} == modules
    css = await client.get("/ui/css/app.css")
    assert css.status_code == 200
    assert css.headers["content-type"] == "text/css; charset=utf-8"


async def test_assets_revalidate_with_their_etag(client: httpx.AsyncClient) -> None:
    first = await client.get("/ui/js/dag.js")
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    again = await client.get("/ui/js/dag.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    other = await client.get("/ui/js/dag.js", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200
    assert other.content == first.content


@pytest.mark.parametrize(
    "path",
    [
        "/ui/__init__.py",  # not an asset type
        "/ui/../api/app.py",
        "/ui/js/../../api/routes_web.py",
        "/ui/%2e%2e/__init__.py",
        "/ui/.hidden.js",
        "/ui/js/missing.js",
        "/ui/js",
        "/ui/js//main.js",
    ],
)
async def test_nothing_outside_the_assets_is_served(client: httpx.AsyncClient, path: str) -> None:
    reply = await client.get(path)
    assert reply.status_code == 404
    assert "import" not in reply.text


async def test_the_dashboard_is_not_in_the_api_schema(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "/" not in schema["paths"]
    assert not [p for p in schema["paths"] if p.startswith("/ui")]
