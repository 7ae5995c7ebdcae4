"""resolve_inside: paths stay inside the workspace, whatever the spelling."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nexus.errors import ToolError
from nexus.workspace import relative_to_root, resolve_inside


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "a.py").write_text("a\n")
    (ws / ".git").mkdir()
    return ws


def test_relative_paths_resolve_under_root(root: Path) -> None:
    assert resolve_inside(root, "src/a.py") == root.resolve() / "src" / "a.py"
    assert resolve_inside(root, "new/dir/file.txt") == root.resolve() / "new" / "dir" / "file.txt"
    assert resolve_inside(root, "src/../README.md") == root.resolve() / "README.md"
    assert resolve_inside(root, "") == root.resolve()
    assert resolve_inside(root, ".") == root.resolve()
    assert resolve_inside(str(root), "./src") == root.resolve() / "src"


def test_absolute_path_inside_root_is_allowed(root: Path) -> None:
    assert resolve_inside(root, str(root / "src" / "a.py")) == root.resolve() / "src" / "a.py"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../outside.txt", "'..' leads out of it"),
        ("src/../../outside.txt", "'..' leads out of it"),
        ("../../../../../../etc/passwd", "'..' leads out of it"),
        ("/etc/passwd", "absolute path"),
    ],
)
def test_escapes_are_rejected(root: Path, path: str, reason: str) -> None:
    with pytest.raises(ToolError, match="outside the workspace") as info:
        resolve_inside(root, path)
    assert reason in str(info.value)
    assert info.value.details["path"] == path


def test_symlink_pointing_outside_is_rejected(root: Path, tmp_path: Path) -> None:
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir()
    (secret_dir / "key.txt").write_text("s3cret\n")
    os.symlink(secret_dir, root / "link")
    os.symlink(secret_dir / "key.txt", root / "key_link.txt")
    for path in ("link/key.txt", "key_link.txt", "link", "link/new_file.txt"):
        with pytest.raises(ToolError, match="a symlink points out of it"):
            resolve_inside(root, path)


def test_symlink_inside_root_is_allowed(root: Path) -> None:
    os.symlink(root / "src", root / "alias")
    assert resolve_inside(root, "alias/a.py") == root.resolve() / "src" / "a.py"


def test_symlink_loop_is_rejected(root: Path) -> None:
    os.symlink(root / "loop_b", root / "loop_a")
    os.symlink(root / "loop_a", root / "loop_b")
    with pytest.raises(ToolError):
        resolve_inside(root, "loop_a/x")


def test_git_directory_is_refused_unless_allowed(root: Path) -> None:
    with pytest.raises(ToolError, match=r"\.git directory"):
        resolve_inside(root, ".git/config")
    with pytest.raises(ToolError, match=r"\.git directory"):
        resolve_inside(root, "src/../.git/hooks/pre-commit")
    assert resolve_inside(root, ".git/config", allow_git=True) == root.resolve() / ".git" / "config"
    assert resolve_inside(root, ".gitignore") == root.resolve() / ".gitignore"


def test_nul_byte_is_rejected(root: Path) -> None:
    with pytest.raises(ToolError, match="NUL"):
        resolve_inside(root, "a\0b")


def test_relative_to_root(root: Path) -> None:
    assert relative_to_root(root, resolve_inside(root, "src/a.py")) == "src/a.py"
    assert relative_to_root(root, resolve_inside(root, "")) == "."
