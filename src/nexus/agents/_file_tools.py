"""File tools for agents: list_files, read_file, write_file, edit_file, search.

Every path is confined to the workspace by
:func:`~nexus.workspace.paths.resolve_inside` (no ``..`` or symlink escapes, no
``.git``). Listings and searches skip version-control and cache directories.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nexus.agents._toolkit import AgentTool, ToolContext, ToolReply, schema
from nexus.errors import ToolError

__all__ = ["FILE_TOOLS"]

SKIP_DIRS = frozenset(
    {
        ".git",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".tox",
        ".venv",
        "venv",
        "node_modules",
        ".nexus",
    }
)
MAX_LIST = 500
MAX_READ_BYTES = 1_000_000
MAX_READ_LINES = 2000
MAX_READ_CHARS = 16_000
MAX_SEARCH_RESULTS = 200
MAX_MATCH_LINE = 240


def _walk(root: Path, start: Path) -> Iterator[Path]:
    """Files under ``start`` (sorted, depth first), skipping caches and VCS directories."""
    for current, dirs, files in os.walk(start):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(current) / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                continue
            yield path


def _read_text(ctx: ToolContext, path: Path) -> str:
    shown = ctx.rel(path)
    if not path.exists():
        raise ToolError(f"{shown} does not exist")
    if path.is_dir():
        raise ToolError(f"{shown} is a directory; use list_files")
    size = path.stat().st_size
    if size > MAX_READ_BYTES:
        raise ToolError(f"{shown} is {size} bytes, more than the {MAX_READ_BYTES} bytes tools read")
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        raise ToolError(f"{shown} is a binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(f"{shown} is not UTF-8 text: {exc}") from exc


async def list_files(ctx: ToolContext, args: dict[str, Any]) -> ToolReply:
    root = ctx.root()
    start = ctx.path(args.get("path") or ".")
    if not start.exists():
        raise ToolError(f"{args.get('path')} does not exist")
    if start.is_file():
        return ToolReply(ctx.rel(start), f"listed {ctx.rel(start)}")
    limit = min(int(args.get("max_entries") or MAX_LIST), MAX_LIST)
    found: list[str] = []
    more = 0
    for path in _walk(root, start):
        if len(found) < limit:
            found.append(ctx.rel(path))
        else:
            more += 1
    where = ctx.rel(start)
    if not found:
        return ToolReply(f"no files under {where}", f"listed {where}: empty")
    lines = [f"{len(found) + more} file(s) under {where}:", *found]
    if more:
        lines.append(f"… and {more} more (list a subdirectory to see them)")
    return ToolReply("\n".join(lines), f"listed {where}: {len(found) + more} files")


async def read_file(ctx: ToolContext, args: dict[str, Any]) -> ToolReply:
    path = ctx.path(args["path"])
    text = await asyncio.to_thread(_read_text, ctx, path)
    lines = text.splitlines()
    total = len(lines)
    start = max(int(args.get("start_line") or 1), 1)
    wanted = min(int(args.get("end_line") or total), total)
    end = min(wanted, start + MAX_READ_LINES - 1)
    shown = ctx.rel(path)
    if total == 0:
        return ToolReply(f"{shown} is empty", f"read {shown} (empty)")
    if start > total:
        raise ToolError(f"{shown} has {total} lines; start_line {start} is past the end")
    if end < start:
        raise ToolError(f"end_line {end} is before start_line {start}")
    numbered: list[str] = []
    size = 0
    for n in range(start, end + 1):
        line = f"{n:>5}\t{lines[n - 1]}"
        size += len(line) + 1
        if numbered and size > MAX_READ_CHARS:
            end = n - 1
            break
        numbered.append(line)
    body = "\n".join(numbered)
    header = f"{shown}, lines {start}-{end} of {total}:"
    note = f"\n… {wanted - end} more lines (read with start_line={end + 1})" if end < wanted else ""
    return ToolReply(f"{header}\n{body}{note}", f"read {shown} lines {start}-{end}")


async def write_file(ctx: ToolContext, args: dict[str, Any]) -> ToolReply:
    path = ctx.path(args["path"])
    content = str(args["content"])
    shown = ctx.rel(path)
    if path.is_dir():
        raise ToolError(f"{shown} is a directory")
    existed = path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_text, content, encoding="utf-8")
    lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
    verb = "overwrote" if existed else "created"
    return ToolReply(
        f"{verb} {shown} ({lines} lines, {len(content.encode())} bytes)",
        f"{verb} {shown} ({lines} lines)",
    )


async def edit_file(ctx: ToolContext, args: dict[str, Any]) -> ToolReply:
    path = ctx.path(args["path"])
    old, new = str(args["old_text"]), str(args["new_text"])
    shown = ctx.rel(path)
    if not old:
        raise ToolError("old_text is empty; give the exact snippet to replace")
    text = await asyncio.to_thread(_read_text, ctx, path)
    count = text.count(old)
    if count == 0:
        raise ToolError(
            f"the snippet does not occur in {shown} (0 times); copy it exactly, with its"
            " indentation, from read_file output (without the line numbers)"
        )
    if count > 1:
        raise ToolError(
            f"the snippet occurs {count} times in {shown}; include more surrounding lines"
            " so that it occurs exactly once"
        )
    first_line = text[: text.index(old)].count("\n") + 1
    await asyncio.to_thread(path.write_text, text.replace(old, new, 1), encoding="utf-8")
    last_line = first_line + max(new.count("\n"), 0)
    return ToolReply(
        f"replaced 1 snippet in {shown}; the new text is at lines {first_line}-{last_line}",
        f"edited {shown} at line {first_line}",
    )


def _search(ctx: ToolContext, args: dict[str, Any]) -> ToolReply:
    flags = re.IGNORECASE if args.get("ignore_case") else 0
    try:
        regex = re.compile(args["pattern"], flags)
    except re.error as exc:
        raise ToolError(f"invalid regular expression {args['pattern']!r}: {exc}") from exc
    root = ctx.root()
    start = ctx.path(args.get("path") or ".")
    glob = args.get("glob")
    limit = min(int(args.get("max_results") or 50), MAX_SEARCH_RESULTS)
    matches: list[str] = []
    more = 0
    files = [start] if start.is_file() else list(_walk(root, start))
    for file in files:
        rel = ctx.rel(file)
        if glob and not (fnmatch.fnmatch(rel, glob) or fnmatch.fnmatch(file.name, glob)):
            continue
        try:
            text = _read_text(ctx, file)
        except ToolError:
            continue  # binary or huge files are not searched
        for number, line in enumerate(text.splitlines(), start=1):
            if regex.search(line):
                if len(matches) < limit:
                    matches.append(f"{rel}:{number}: {line.strip()[:MAX_MATCH_LINE]}")
                else:
                    more += 1
    if not matches:
        return ToolReply(f"no matches for {args['pattern']!r}", "search: no matches")
    if more:
        matches.append(f"… {more} more matches not shown (narrow the path, glob or pattern)")
    total = len(matches) - (1 if more else 0) + more
    return ToolReply("\n".join(matches), f"search {args['pattern']!r}: {total} matches")


async def search(ctx: ToolContext, args: dict[str, Any]) -> ToolReply:
    return await asyncio.to_thread(_search, ctx, args)


_PATH = {"type": "string", "description": "Path relative to the workspace root."}

FILE_TOOLS: tuple[AgentTool, ...] = (
    AgentTool(
        "list_files",
        "List the files in the workspace (or under a directory of it), recursively.",
        schema(
            {
                "path": {**_PATH, "default": "."},
                "max_entries": {"type": "integer", "minimum": 1, "maximum": MAX_LIST},
            }
        ),
        list_files,
    ),
    AgentTool(
        "read_file",
        "Read a text file, with line numbers; optionally only lines start_line..end_line.",
        schema(
            {
                "path": _PATH,
                "start_line": {"type": "integer", "minimum": 1},
                "end_line": {"type": "integer", "minimum": 1},
            },
            ("path",),
        ),
        read_file,
    ),
    AgentTool(
        "write_file",
        "Create or overwrite a file with the given content (parent directories are created).",
        schema({"path": _PATH, "content": {"type": "string"}}, ("path", "content")),
        write_file,
    ),
    AgentTool(
        "edit_file",
        "Replace an exact snippet of a file with new text. The snippet must occur exactly once.",
        schema(
            {
                "path": _PATH,
                "old_text": {"type": "string", "description": "The exact text to replace."},
                "new_text": {"type": "string", "description": "The replacement text."},
            },
            ("path", "old_text", "new_text"),
        ),
        edit_file,
    ),
    AgentTool(
        "search",
        "Search the workspace's text files with a regular expression; answers file:line: text.",
        schema(
            {
                "pattern": {"type": "string", "description": "A Python regular expression."},
                "path": {**_PATH, "default": "."},
                "glob": {"type": "string", "description": "Only files matching, e.g. '*.py'."},
                "ignore_case": {"type": "boolean", "default": False},
                "max_results": {"type": "integer", "minimum": 1, "maximum": MAX_SEARCH_RESULTS},
            },
            ("pattern",),
        ),
        search,
    ),
)
