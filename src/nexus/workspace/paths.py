"""Path confinement for anything that touches files on behalf of a plan or an agent.

:func:`resolve_inside` turns a path written by a user or a model into an
absolute path that is guaranteed to lie inside the workspace root, after
following ``..`` and every symlink. Anything else is a :class:`ToolError`.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from nexus.errors import ToolError

__all__ = ["relative_to_root", "resolve_inside"]


def resolve_inside(root: Path | str, relative: str, *, allow_git: bool = False) -> Path:
    """The resolved absolute path of ``relative`` under ``root``, refusing any escape.

    ``relative`` may be relative to ``root`` or absolute (then it must already lie
    inside ``root``). ``..`` components and symlinks are followed first and the
    result must still be ``root`` or below it. Paths into the repository's own
    ``.git`` directory are refused unless ``allow_git`` is true, so file tools
    cannot rewrite the history used for rollback. The target need not exist.
    """
    if not isinstance(relative, str):
        raise ToolError(f"path must be a string, got {type(relative).__name__}")
    if "\0" in relative:
        raise ToolError(f"path {relative!r} contains a NUL byte")
    base = Path(root).expanduser().resolve()
    given = Path(relative.strip()) if relative.strip() else Path(".")
    candidate = given if given.is_absolute() else base / given
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise ToolError(f"path '{relative}' cannot be resolved: {exc}", path=relative) from exc
    if not resolved.is_relative_to(base):
        how = _escape_reason(base, given)
        raise ToolError(
            f"path '{relative}' is outside the workspace ({how})", path=relative, root=str(base)
        )
    if not allow_git and resolved != base:
        first = resolved.relative_to(base).parts[0]
        if first == ".git":
            raise ToolError(
                f"path '{relative}' is inside the workspace's .git directory", path=relative
            )
    return resolved


def relative_to_root(root: Path | str, path: Path) -> str:
    """``path`` (inside ``root``) as a POSIX path relative to the root; ``.`` for the root."""
    base = Path(root).expanduser().resolve()
    rel = path.relative_to(base)
    return PurePosixPath(*rel.parts).as_posix() if rel.parts else "."


def _escape_reason(base: Path, given: Path) -> str:
    if given.is_absolute() and not given.is_relative_to(base):
        return "absolute path"
    if ".." in given.parts:
        lexical = Path(*_normalise(base / given))
        if not lexical.is_relative_to(base):
            return "'..' leads out of it"
    return "a symlink points out of it"


def _normalise(path: Path) -> list[str]:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if len(parts) > 1:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return parts
