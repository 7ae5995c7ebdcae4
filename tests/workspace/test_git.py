"""GitWorkspace against real git repositories in temporary directories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from nexus.errors import ConfigError, NotFoundError, ToolError
from nexus.workspace import GitWorkspace


def git(path: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=path, check=True, capture_output=True, text=True
    ).stdout.strip()


async def test_ensure_creates_repository_with_initial_commit(tmp_path: Path) -> None:
    ws = GitWorkspace(tmp_path / "runs" / "r1")
    sha = await ws.ensure()

    assert (ws.path / ".git").is_dir()
    assert git(ws.path, "rev-parse", "HEAD") == sha
    assert git(ws.path, "branch", "--show-current") == "main"
    assert (ws.path / ".gitignore").read_text().splitlines() == [
        "__pycache__/",
        ".pytest_cache/",
        "*.pyc",
    ]
    assert git(ws.path, "ls-files") == ".gitignore"
    log = await ws.log()
    assert [e["subject"] for e in log] == ["workspace: initial state"]
    assert log[0]["sha"] == sha and sha.startswith(log[0]["short_sha"])
    assert isinstance(log[0]["timestamp"], float) and log[0]["timestamp"] > 1.6e9
    assert await ws.is_dirty() is False
    # idempotent: a second ensure keeps the same history
    assert await ws.ensure() == sha
    assert len(await ws.log()) == 1


async def test_ensure_commits_existing_files_and_keeps_existing_gitignore(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "app.py").write_text("print('hi')\n")
    (root / ".gitignore").write_text("build/\n")
    ws = GitWorkspace(root)
    await ws.ensure()
    assert (root / ".gitignore").read_text() == "build/\n"
    assert git(root, "ls-files").splitlines() == [".gitignore", "app.py"]


async def test_ensure_uses_existing_repository_as_is(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "trunk")
    (root / "a.txt").write_text("a\n")
    git(root, "add", "a.txt")
    git(root, "commit", "-q", "-m", "user commit")
    before = git(root, "rev-parse", "HEAD")

    ws = GitWorkspace(root)
    assert await ws.ensure() == before
    assert git(root, "branch", "--show-current") == "trunk"
    assert not (root / ".gitignore").exists()


async def test_ensure_inside_another_repository_gets_its_own(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    outer.mkdir()
    git(outer, "init", "-q", "-b", "main")
    ws = GitWorkspace(outer / "nested" / "ws")
    await ws.ensure()
    assert git(ws.path, "rev-parse", "--show-toplevel") == str(ws.path.resolve())
    assert [e["subject"] for e in await ws.log()] == ["workspace: initial state"]


async def test_commit_all_commits_only_changes(tmp_path: Path) -> None:
    ws = GitWorkspace(tmp_path / "ws")
    base = await ws.ensure()
    assert await ws.commit_all("nothing") is None

    (ws.path / "src").mkdir()
    (ws.path / "src" / "m.py").write_text("x = 1\n")
    assert await ws.is_dirty() is True
    first = await ws.commit_all("step write: add m.py")
    assert first is not None and first != base
    assert await ws.is_dirty() is False

    (ws.path / "src" / "m.py").write_text("x = 2\n")
    (ws.path / "README.md").write_text("# r\n")
    second = await ws.commit_all("step edit")
    assert second is not None and second != first
    assert await ws.head() == second
    assert await ws.commit_all("again nothing") is None

    subjects = [e["subject"] for e in await ws.log()]
    assert subjects == ["step edit", "step write: add m.py", "workspace: initial state"]
    assert [e["subject"] for e in await ws.log(limit=1)] == ["step edit"]
    assert await ws.changed_files(base) == ["README.md", "src/m.py"]
    assert await ws.changed_files(first, second) == ["README.md", "src/m.py"]
    diff = await ws.diff(first, second)
    assert "-x = 1" in diff and "+x = 2" in diff and "+# r" in diff


async def test_ignored_files_are_not_committed(tmp_path: Path) -> None:
    ws = GitWorkspace(tmp_path / "ws")
    await ws.ensure()
    (ws.path / "__pycache__").mkdir()
    (ws.path / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    assert await ws.is_dirty() is False
    assert await ws.commit_all("caches only") is None


async def test_reset_to_removes_changes_and_untracked_files(tmp_path: Path) -> None:
    ws = GitWorkspace(tmp_path / "ws")
    await ws.ensure()
    (ws.path / "keep.py").write_text("good = True\n")
    good = await ws.commit_all("good step")
    assert good is not None

    # a failing step edits a tracked file, adds untracked files and a directory
    (ws.path / "keep.py").write_text("good = False\n")
    (ws.path / "junk.txt").write_text("junk\n")
    (ws.path / "newdir" / "deep").mkdir(parents=True)
    (ws.path / "newdir" / "deep" / "x.py").write_text("x\n")
    bad = await ws.commit_all("bad step")
    (ws.path / "after_commit.tmp").write_text("untracked\n")
    assert bad is not None

    await ws.reset_to(good)
    assert await ws.head() == good
    assert (ws.path / "keep.py").read_text() == "good = True\n"
    assert not (ws.path / "junk.txt").exists()
    assert not (ws.path / "newdir").exists()
    assert not (ws.path / "after_commit.tmp").exists()
    assert await ws.is_dirty() is False


async def test_worktree_diff_includes_untracked_files(tmp_path: Path) -> None:
    ws = GitWorkspace(tmp_path / "ws")
    base = await ws.ensure()
    (ws.path / "new.py").write_text("def f():\n    return 1\n")
    diff = await ws.diff(base)
    assert "new.py" in diff and "+def f():" in diff
    assert await ws.changed_files(base) == ["new.py"]
    # the real index is untouched: the file is still untracked
    assert git(ws.path, "status", "--porcelain") == "?? new.py"


async def test_unknown_commit_is_not_found(tmp_path: Path) -> None:
    ws = GitWorkspace(tmp_path / "ws")
    await ws.ensure()
    with pytest.raises(NotFoundError, match="not a commit"):
        await ws.reset_to("0" * 40)
    with pytest.raises(NotFoundError):
        await ws.diff("--output=/tmp/x")


async def test_create_branch(tmp_path: Path) -> None:
    ws = GitWorkspace(tmp_path / "ws")
    sha = await ws.ensure()
    assert await ws.create_branch("fork-1") == sha
    assert git(ws.path, "rev-parse", "fork-1") == sha
    assert git(ws.path, "branch", "--show-current") == "main"
    with pytest.raises(ToolError, match="not a valid branch name"):
        await ws.create_branch("bad..name")


async def test_default_identity_when_environment_sets_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.delenv(f"GIT_{role}_NAME", raising=False)
        monkeypatch.delenv(f"GIT_{role}_EMAIL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no global identity either
    ws = GitWorkspace(tmp_path / "ws")
    await ws.ensure()
    assert git(ws.path, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        "Nexus <nexus@localhost>|Nexus <nexus@localhost>"
    )


async def test_identity_from_environment_is_kept(tmp_path: Path) -> None:
    ws = GitWorkspace(tmp_path / "ws")
    await ws.ensure()
    assert git(ws.path, "log", "-1", "--format=%an <%ae>") == "Nexus Test <nexus@example.invalid>"


async def test_path_under_a_file_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory\n")
    ws = GitWorkspace(blocker / "ws")
    with pytest.raises(ConfigError, match=r"cannot be created") as info:
        await ws.ensure()
    assert str(blocker / "ws") in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to read-only directories")
async def test_unwritable_directory_is_a_config_error(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="not writable") as info:
            await GitWorkspace(root).ensure()
        assert str(root) in str(info.value)
    finally:
        root.chmod(0o700)


async def test_read_only_filesystem_probe_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When os.access says yes but writing fails (read-only mount, root on a RO dir …)."""
    root = tmp_path / "ws"
    root.mkdir()
    real_write_bytes = Path.write_bytes

    def refuse_probe(self: Path, data: bytes) -> int:
        if self.name.startswith(".nexus-probe-"):
            raise PermissionError(13, "Read-only file system")
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", refuse_probe)
    with pytest.raises(ConfigError, match=r"not writable: Read-only file system"):
        await GitWorkspace(root).ensure()
    assert list(root.iterdir()) == []
