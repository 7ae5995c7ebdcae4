"""The file handler: operations inside the workspace, escapes refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nexus.errors import ToolError
from nexus.handlers.file import FileHandler

from .conftest import MakeCtx


async def test_write_read_append(make_ctx: MakeCtx, workspace: Path) -> None:
    handler = FileHandler()
    wrote = await handler.run(make_ctx({"op": "write", "path": "src/app.py", "content": "a = 1\n"}))
    assert wrote.output == {"path": "src/app.py", "bytes": 6}
    assert (workspace / "src" / "app.py").read_text() == "a = 1\n"

    await handler.run(make_ctx({"op": "append", "path": "src/app.py", "content": "b = 2\n"}))
    read = await handler.run(make_ctx({"op": "read", "path": "./src/app.py"}))
    assert read.output == {
        "path": "src/app.py",
        "content": "a = 1\nb = 2\n",
        "bytes": 12,
        "truncated": False,
    }
    capped = await handler.run(make_ctx({"op": "read", "path": "src/app.py", "max_bytes": 5}))
    assert (capped.output["content"], capped.output["truncated"]) == ("a = 1", True)


async def test_exists_and_list(make_ctx: MakeCtx, workspace: Path) -> None:
    (workspace / "pkg" / "sub").mkdir(parents=True)
    (workspace / "pkg" / "mod.py").write_text("x\n")
    (workspace / "pkg" / "sub" / "deep.txt").write_text("deep\n")
    (workspace / "top.txt").write_text("t\n")
    (workspace / ".git").mkdir()
    handler = FileHandler()

    exists = await handler.run(make_ctx({"op": "exists", "path": "pkg/mod.py"}))
    assert exists.output == {"path": "pkg/mod.py", "exists": True, "type": "file"}
    missing = await handler.run(make_ctx({"op": "exists", "path": "nope.txt"}))
    assert missing.output == {"path": "nope.txt", "exists": False, "type": None}

    flat = await handler.run(make_ctx({"op": "list", "path": "."}))
    assert flat.output["entries"] == [
        {"path": "pkg", "type": "dir", "size": None},
        {"path": "top.txt", "type": "file", "size": 2},
    ]
    deep = await handler.run(make_ctx({"op": "list", "path": "", "recursive": True}))
    assert [e["path"] for e in deep.output["entries"]] == [
        "pkg",
        "top.txt",
        "pkg/mod.py",
        "pkg/sub",
        "pkg/sub/deep.txt",
    ]
    assert deep.output["truncated"] is False


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "a/../../escape.txt"])
async def test_escapes_are_refused(make_ctx: MakeCtx, workspace: Path, path: str) -> None:
    for op in ("read", "write", "exists"):
        params = (
            {"op": op, "path": path, "content": "x"} if op == "write" else {"op": op, "path": path}
        )
        with pytest.raises(ToolError, match="outside the workspace"):
            await FileHandler().run(make_ctx(params))
    assert not (workspace.parent / "escape.txt").exists()


async def test_symlink_out_is_refused(make_ctx: MakeCtx, workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    os.symlink(outside, workspace / "link")
    with pytest.raises(ToolError, match="symlink"):
        await FileHandler().run(make_ctx({"op": "read", "path": "link/secret.txt"}))
    with pytest.raises(ToolError, match="symlink"):
        await FileHandler().run(make_ctx({"op": "write", "path": "link/new.txt", "content": "x"}))
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    listing = await FileHandler().run(make_ctx({"op": "list", "path": ".", "recursive": True}))
    assert listing.output["entries"] == [{"path": "link", "type": "symlink", "size": None}]


async def test_git_directory_is_refused(make_ctx: MakeCtx, workspace: Path) -> None:
    (workspace / ".git").mkdir()
    with pytest.raises(ToolError, match=r"\.git directory"):
        await FileHandler().run(make_ctx({"op": "write", "path": ".git/config", "content": "x"}))


async def test_errors(make_ctx: MakeCtx, workspace: Path) -> None:
    (workspace / "dir").mkdir()
    handler = FileHandler()
    with pytest.raises(ToolError, match=r"'missing\.txt' does not exist"):
        await handler.run(make_ctx({"op": "read", "path": "missing.txt"}))
    with pytest.raises(ToolError, match="'dir' is not a file"):
        await handler.run(make_ctx({"op": "read", "path": "dir"}))
    with pytest.raises(ToolError, match="'dir' is a directory"):
        await handler.run(make_ctx({"op": "write", "path": "dir", "content": "x"}))
    with pytest.raises(ToolError, match="'content' is a required property"):
        await handler.run(make_ctx({"op": "write", "path": "x.txt"}))
    with pytest.raises(ToolError, match="needs a workspace"):
        await handler.run(make_ctx({"op": "read", "path": "x"}, workspace_dir=None))
