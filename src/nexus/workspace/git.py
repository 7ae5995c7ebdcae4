"""A run's workspace: a directory that is its own git repository (E7).

Each step that changes files becomes a commit; rolling back a failed step is a
hard reset to the commit before it plus a clean of the untracked files it left.
Every git call is a subprocess with a timeout, a fixed identity (unless the
environment sets one), no terminal prompts and no hooks, so that neither the
user's git configuration nor files written into the workspace change how
Nexus records history.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus.errors import ConfigError, NotFoundError, StepTimeout, ToolError

__all__ = ["DEFAULT_GIT_TIMEOUT", "GitResult", "GitWorkspace", "git_environment"]

DEFAULT_GIT_TIMEOUT = 30.0
INITIAL_COMMIT_MESSAGE = "workspace: initial state"
DEFAULT_GITIGNORE = "__pycache__/\n.pytest_cache/\n*.pyc\n"

#: Options given to every git command: they override anything a global, system
#: or repository config says on the points that change results or run programs.
_GIT_OPTIONS: tuple[str, ...] = (
    "-c", "core.autocrlf=false",
    "-c", "core.safecrlf=false",
    "-c", "core.quotepath=false",
    "-c", "core.fsmonitor=false",
    "-c", "core.hooksPath=/dev/null",
    "-c", "commit.gpgsign=false",
    "-c", "tag.gpgsign=false",
    "-c", "color.ui=false",
    "-c", "gc.auto=0",
    "-c", "advice.detachedHead=false",
    "-c", "diff.noprefix=false",
    "-c", "diff.mnemonicprefix=false",
)  # fmt: skip

#: Variables that would point git at another repository or index than ours.
_REPO_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
)


def git_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for git subprocesses: a fixed identity unless one is set, no prompts."""
    env = dict(os.environ if base is None else base)
    for name in _REPO_ENV:
        env.pop(name, None)
    env.setdefault("GIT_AUTHOR_NAME", "Nexus")
    env.setdefault("GIT_AUTHOR_EMAIL", "nexus@localhost")
    env.setdefault("GIT_COMMITTER_NAME", "Nexus")
    env.setdefault("GIT_COMMITTER_EMAIL", "nexus@localhost")
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["LC_ALL"] = "C"
    env["LANGUAGE"] = "C"
    env.pop("GIT_EXTERNAL_DIFF", None)
    env["GIT_PAGER"] = "cat"
    return env


@dataclass(frozen=True, slots=True)
class GitResult:
    """What one git command printed and how it exited."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class GitWorkspace:
    """One run's working directory, kept as a git repository on branch ``main``.

    Methods that change the repository hold a per-instance lock, so concurrent
    calls on the same object do not race for git's index lock. Use one object
    per directory.
    """

    def __init__(self, path: str | Path, *, timeout: float = DEFAULT_GIT_TIMEOUT) -> None:
        self._path = Path(path).expanduser().absolute()
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._env = git_environment()

    @property
    def path(self) -> Path:
        """The workspace directory (absolute)."""
        return self._path

    def __repr__(self) -> str:
        return f"GitWorkspace({str(self._path)!r})"

    # -- running git -------------------------------------------------------------------

    async def run_git(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> GitResult:
        """Run ``git <args>`` in the workspace with the timeout; raise on failure if ``check``."""
        git = shutil.which("git", path=self._env.get("PATH"))
        if git is None:
            raise ConfigError("git is not installed (not found on PATH)", workspace=str(self.path))
        argv = (git, *_GIT_OPTIONS, *args)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self._path,
                env=env or self._env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise ToolError(
                f"cannot run git {args[0]} in {self.path}: {exc}", workspace=str(self.path)
            ) from exc
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self._timeout)
        except TimeoutError as exc:
            raise StepTimeout(
                f"git {args[0]} in {self.path} took longer than {self._timeout:g}s",
                workspace=str(self.path),
            ) from exc
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(proc.wait(), 5)
        result = GitResult(
            args=tuple(args),
            returncode=proc.returncode if proc.returncode is not None else -1,
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
        )
        if check and result.returncode != 0:
            detail = result.stderr.strip() or result.stdout.strip() or "no output"
            raise ToolError(
                f"git {' '.join(args)} failed in {self.path} (exit {result.returncode}): {detail}",
                workspace=str(self.path),
                exit_code=result.returncode,
            )
        return result

    # -- setting up --------------------------------------------------------------------

    async def ensure(self) -> str:
        """Make the directory a usable repository with at least one commit; return HEAD's sha.

        Creates the directory, checks that it is writable, runs ``git init -b main``
        unless the directory already is the top level of a repository, writes a
        ``.gitignore`` for Python caches into a repository without commits, and
        commits whatever is there as ``workspace: initial state`` if there is no HEAD.
        """
        async with self._lock:
            self._check_directory()
            if not await self._is_toplevel():
                await self.run_git("init", "-q", "-b", "main")
            sha = await self.head()
            if sha is None:
                gitignore = self._path / ".gitignore"
                if not gitignore.exists():
                    gitignore.write_text(DEFAULT_GITIGNORE, encoding="utf-8")
                await self.run_git("add", "-A")
                await self.run_git(
                    "commit", "-q", "--no-verify", "--allow-empty", "-m", INITIAL_COMMIT_MESSAGE
                )
                sha = await self.head()
            if sha is None:  # pragma: no cover - git just committed
                raise ToolError(f"workspace {self.path} has no HEAD after the initial commit")
            return sha

    def _check_directory(self) -> None:
        path = self._path
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"workspace {path} cannot be created: {exc.strerror or exc}", workspace=str(path)
            ) from exc
        if not path.is_dir():
            raise ConfigError(f"workspace {path} is not a directory", workspace=str(path))
        if not os.access(path, os.W_OK | os.X_OK):
            raise ConfigError(f"workspace {path} is not writable", workspace=str(path))
        probe = path / f".nexus-probe-{uuid.uuid4().hex}"
        try:
            probe.write_bytes(b"")
        except OSError as exc:
            raise ConfigError(
                f"workspace {path} is not writable: {exc.strerror or exc}", workspace=str(path)
            ) from exc
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()

    async def _is_toplevel(self) -> bool:
        result = await self.run_git("rev-parse", "--show-toplevel", check=False)
        if result.returncode != 0:
            return False
        toplevel = Path(result.stdout.strip())
        try:
            return toplevel.resolve() == self._path.resolve()
        except OSError:
            return False

    # -- reading -----------------------------------------------------------------------

    async def head(self) -> str | None:
        """The sha of HEAD, or None in a repository without commits."""
        result = await self.run_git("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
        sha = result.stdout.strip()
        return sha if result.returncode == 0 and sha else None

    async def is_dirty(self) -> bool:
        """True when tracked files changed or untracked (not ignored) files exist."""
        result = await self.run_git("status", "--porcelain=v1", "--untracked-files=all", "-z")
        return bool(result.stdout.strip("\0\n "))

    async def log(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` commits: ``sha``, ``short_sha``, ``subject``, ``timestamp``.

        ``timestamp`` is the commit time in seconds since the epoch (a float, like
        the other times Nexus records).
        """
        if limit < 1 or await self.head() is None:
            return []
        result = await self.run_git(
            "log", f"--max-count={int(limit)}", "--format=%H%x1f%h%x1f%ct%x1f%s%x1e", "HEAD", "--"
        )
        entries: list[dict[str, Any]] = []
        for record in result.stdout.split("\x1e"):
            record = record.strip("\n")
            if not record:
                continue
            sha, short, stamp, subject = record.split("\x1f", 3)
            entries.append(
                {"sha": sha, "short_sha": short, "subject": subject, "timestamp": float(stamp)}
            )
        return entries

    async def diff(self, base: str, head: str | None = None) -> str:
        """A unified diff from ``base`` to ``head``; without ``head``, to the working tree.

        The working-tree diff includes untracked files (through a throw-away index),
        so it shows exactly what a commit of the current state would record.
        """
        await self._verify_commit(base)
        if head is not None:
            await self._verify_commit(head)
            result = await self.run_git(
                "diff", "--no-color", "--no-ext-diff", "--no-renames", base, head, "--"
            )
            return result.stdout
        return await self._worktree_diff(base, "--no-color", "--no-ext-diff", "--no-renames")

    async def changed_files(self, base: str, head: str | None = None) -> list[str]:
        """Sorted relative paths that differ between ``base`` and ``head`` or the working tree."""
        await self._verify_commit(base)
        if head is not None:
            await self._verify_commit(head)
            out = (
                await self.run_git("diff", "--name-only", "-z", "--no-renames", base, head, "--")
            ).stdout
        else:
            out = await self._worktree_diff(base, "--name-only", "-z", "--no-renames")
        return sorted({name for name in out.split("\0") if name})

    async def _worktree_diff(self, base: str, *options: str) -> str:
        with tempfile.TemporaryDirectory(prefix="nexus-index-") as tmp:
            env = dict(self._env)
            env["GIT_INDEX_FILE"] = str(Path(tmp) / "index")
            await self.run_git("read-tree", base, env=env)
            await self.run_git("add", "-A", env=env)
            result = await self.run_git("diff", "--cached", *options, base, "--", env=env)
            return result.stdout

    async def _verify_commit(self, rev: str) -> str:
        if not rev or rev.startswith("-"):
            raise NotFoundError(f"'{rev}' is not a commit in workspace {self.path}")
        result = await self.run_git("rev-parse", "--verify", "-q", f"{rev}^{{commit}}", check=False)
        if result.returncode != 0:
            raise NotFoundError(
                f"'{rev}' is not a commit in workspace {self.path}", workspace=str(self.path)
            )
        return result.stdout.strip()

    # -- changing ----------------------------------------------------------------------

    async def commit_all(self, message: str) -> str | None:
        """Stage every change (``git add -A``) and commit it; None when nothing changed."""
        if not message.strip():
            raise ToolError(f"empty commit message for workspace {self.path}")
        async with self._lock:
            await self.run_git("add", "-A")
            staged = await self.run_git("diff", "--cached", "--quiet", check=False)
            if staged.returncode not in (0, 1):
                raise ToolError(f"git diff --cached failed in {self.path}: {staged.stderr.strip()}")
            if staged.returncode == 0 and await self.head() is not None:
                return None
            await self.run_git("commit", "-q", "--no-verify", "--allow-empty", "-m", message)
            return await self.head()

    async def reset_to(self, sha: str) -> None:
        """Put the working tree back to commit ``sha``: hard reset, then remove untracked files.

        Ignored files (Python caches) are left alone; everything tracked or
        untracked-but-not-ignored becomes exactly what ``sha`` holds.
        """
        async with self._lock:
            full = await self._verify_commit(sha)
            await self.run_git("reset", "-q", "--hard", full, "--")
            await self.run_git("clean", "-fdq")

    async def create_branch(self, name: str, start: str | None = None) -> str:
        """Create branch ``name`` at ``start`` (default HEAD) without switching; return its sha."""
        check = await self.run_git("check-ref-format", "--branch", name, check=False)
        if check.returncode != 0 or name.startswith("-"):
            raise ToolError(f"'{name}' is not a valid branch name", workspace=str(self.path))
        async with self._lock:
            target = await self._verify_commit(start or "HEAD")
            await self.run_git("branch", name, target)
            return target
