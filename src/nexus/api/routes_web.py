"""The web dashboard (I4): ``/`` serves its page, ``/ui/…`` its JS modules and CSS.

The assets are package data of :mod:`nexus.web` and need no build step. They are
public (the data the page shows comes from the API, which checks the caller's key);
each answer carries an ``ETag`` so browsers revalidate instead of downloading again,
and the page a Content-Security-Policy that allows only this server's own scripts,
styles and connections.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request, Response

from nexus.errors import NotFoundError
from nexus.web import asset_root

__all__ = ["ASSET_PREFIX", "CONTENT_SECURITY_POLICY", "router"]

ASSET_PREFIX = "/ui"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
_MAX_PATH = 200

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    media_type: str
    etag: str


def _load(path: Path) -> _Asset:
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:20]
    return _Asset(body, _TYPES[path.suffix], f'"{digest}"')


def _asset(relative: str) -> _Asset:
    """The asset at ``relative`` under the web root; NotFoundError for anything else
    (unknown types, paths outside the root, directories, hidden files)."""
    root = asset_root().resolve()
    parts = relative.split("/")
    if (
        len(relative) > _MAX_PATH
        or any(not p or p.startswith(".") for p in parts)
        or Path(relative).suffix not in _TYPES
    ):
        raise NotFoundError(f"no dashboard asset '{relative}'")
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFoundError(f"no dashboard asset '{relative}'")
    return _load(path)


def _respond(request: Request, asset: _Asset, *, page: bool = False) -> Response:
    headers = {
        "ETag": asset.etag,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if page:
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        headers["Referrer-Policy"] = "no-referrer"
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.api_route("/", methods=["GET", "HEAD"])
async def dashboard(request: Request) -> Response:
    """The dashboard's single page; views are chosen by the URL's #fragment."""
    return _respond(request, _asset("index.html"), page=True)


@router.api_route(ASSET_PREFIX + "/{relative:path}", methods=["GET", "HEAD"])
async def dashboard_asset(relative: str, request: Request) -> Response:
    """A JS module, stylesheet or image of the dashboard."""
    return _respond(request, _asset(relative))
