"""The ``file`` handler: read, write, append, test and list files inside the workspace."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from nexus.errors import ToolError
from nexus.handlers.base import BaseHandler, StepContext, StepResult
from nexus.handlers.common import check_params, fatal, require_workspace
from nexus.workspace.paths import relative_to_root, resolve_inside

__all__ = ["FileHandler"]

DEFAULT_MAX_READ = 1024 * 1024
MAX_LIST_ENTRIES = 2000


class FileHandler(BaseHandler):
    """One file operation, confined to the workspace by :func:`resolve_inside`.

    - ``read``: ``{"path", "content", "bytes", "truncated"}`` (UTF-8, at most ``max_bytes``)
    - ``write`` / ``append``: ``{"path", "bytes"}`` (parent directories are created)
    - ``exists``: ``{"path", "exists", "type"}`` (``file``, ``dir``, ``other`` or None)
    - ``list``: ``{"path", "entries": [{"path", "type", "size"}], "truncated"}``; ``type`` is
      ``file``, ``dir``, ``symlink`` (never followed) or ``other``; ``recursive`` optional;
      ``.git`` is never listed

    Paths in the output are relative to the workspace, with ``/``.
    """

    name = "file"
    description = "Read, write, append, check or list files in the run's workspace."
    params_schema: dict[str, Any] = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "op": {"enum": ["read", "write", "append", "exists", "list"]},
            "path": {"type": "string"},
            "content": {"type": "string"},
            "max_bytes": {"type": "integer", "minimum": 1, "default": DEFAULT_MAX_READ},
            "recursive": {"type": "boolean", "default": False},
        },
        "required": ["op", "path"],
        "additionalProperties": False,
        "allOf": [
            {
                "if": {"properties": {"op": {"enum": ["write", "append"]}}},
                "then": {"required": ["content"]},
            }
        ],
    }

    async def run(self, ctx: StepContext) -> StepResult:
        params = check_params(self.name, self.params_schema, ctx.params)
        root = require_workspace(ctx, self.name)
        target = resolve_inside(root, params["path"])
        op = params["op"]
        output = await asyncio.to_thread(self._do, op, root, target, params)
        return StepResult(output=output, meta={"op": op})

    def _do(self, op: str, root: Path, target: Path, params: dict[str, Any]) -> dict[str, Any]:
        rel = relative_to_root(root, target)
        try:
            if op == "read":
                return _read(target, rel, int(params.get("max_bytes", DEFAULT_MAX_READ)))
            if op in ("write", "append"):
                return _write(target, rel, params["content"], append=op == "append")
            if op == "exists":
                kind = _kind(target)
                return {"path": rel, "exists": kind is not None, "type": kind}
            return _list(root, target, rel, recursive=bool(params.get("recursive", False)))
        except ToolError:
            raise
        except OSError as exc:
            raise ToolError(f"file {op} '{rel}': {exc.strerror or exc}", path=rel) from exc


def _kind(path: Path) -> str | None:
    if path.is_file():
        return "file"
    if path.is_dir():
        return "dir"
    return "other" if path.exists() else None


def _read(target: Path, rel: str, max_bytes: int) -> dict[str, Any]:
    if not target.exists():
        raise fatal(ToolError(f"file read: '{rel}' does not exist in the workspace", path=rel))
    if not target.is_file():
        raise fatal(ToolError(f"file read: '{rel}' is not a file", path=rel))
    size = target.stat().st_size
    with target.open("rb") as handle:
        data = handle.read(max_bytes)
    return {
        "path": rel,
        "content": data.decode("utf-8", "replace"),
        "bytes": size,
        "truncated": size > len(data),
    }


def _write(target: Path, rel: str, content: str, *, append: bool) -> dict[str, Any]:
    if rel == "." or target.is_dir():
        raise fatal(ToolError(f"file write: '{rel}' is a directory", path=rel))
    target.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8")
    with target.open("ab" if append else "wb") as handle:
        handle.write(data)
    return {"path": rel, "bytes": len(data)}


def _list(root: Path, target: Path, rel: str, *, recursive: bool) -> dict[str, Any]:
    if not target.is_dir():
        raise fatal(ToolError(f"file list: '{rel}' is not a directory", path=rel))
    base = root.resolve()
    entries: list[dict[str, Any]] = []
    pending = [target]
    while pending and len(entries) < MAX_LIST_ENTRIES:
        directory = pending.pop(0)
        for child in sorted(directory.iterdir(), key=lambda p: p.name):
            if child.name == ".git" and directory == base:
                continue
            kind = "symlink" if child.is_symlink() else _kind(child)
            size = child.stat().st_size if kind == "file" else None
            path = relative_to_root(base, child.parent.resolve() / child.name)
            entries.append({"path": path, "type": kind, "size": size})
            if recursive and kind == "dir":
                pending.append(child)
            if len(entries) >= MAX_LIST_ENTRIES:
                break
    truncated = bool(pending) or len(entries) >= MAX_LIST_ENTRIES
    return {"path": rel, "entries": entries, "truncated": truncated}
