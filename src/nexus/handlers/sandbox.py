"""Running a command the way the ``shell`` and ``pytest`` handlers do: boxed in.

:func:`run_sandboxed` starts the command in its own session (so its whole
process group can be killed), with an environment scrubbed of secrets,
resource limits set in the child before it executes, a wall-clock timeout,
and output kept to a bounded tail. When the command ends, times out or the
calling task is cancelled, whatever is left of its process group is killed:
a step leaves no processes behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nexus.errors import ToolError

__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "SECRET_MARKERS",
    "ProcessResult",
    "ResourceLimits",
    "is_secret_name",
    "run_sandboxed",
    "scrub_env",
]

#: A variable whose name contains one of these (any case) is not passed to commands.
SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")
#: Bytes of stdout and of stderr kept (the tail) per command.
DEFAULT_MAX_OUTPUT = 64 * 1024
_CREDENTIAL_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
_TERM_GRACE_S = 1.0
_DRAIN_S = 2.0
_GIB = 1024**3


def is_secret_name(name: str) -> bool:
    """True for environment variable names that look like they hold a secret."""
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def scrub_env(
    base: Mapping[str, str] | None = None,
    *,
    allow: Iterable[str] = (),
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) without secrets.

    Dropped: names containing KEY, TOKEN, SECRET, PASSWORD, PASSWD or CREDENTIAL,
    and values that are URLs with a password in them. Names in ``allow`` are
    kept anyway; ``extra`` is added last and always passed as given.
    """
    allowed = set(allow)
    source = os.environ if base is None else base
    env: dict[str, str] = {}
    for name, value in source.items():
        if name not in allowed and (is_secret_name(name) or _CREDENTIAL_URL.search(value)):
            continue
        env[name] = value
    if extra:
        env.update(extra)
    return env


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    """Limits set with ``setrlimit`` in the child. None leaves a limit as it is.

    ``cpu_seconds``: CPU time (SIGXCPU, then SIGKILL five seconds later);
    ``address_space``: virtual memory in bytes (4 GiB by default);
    ``file_size``: the largest file the command may write (1 GiB by default);
    core dumps are always off.
    """

    cpu_seconds: int | None = None
    address_space: int | None = 4 * _GIB
    file_size: int | None = _GIB

    def apply(self) -> None:
        """Set the limits on the current process (runs in the child between fork and exec)."""
        import resource

        wanted: list[tuple[int, int, int]] = [(resource.RLIMIT_CORE, 0, 0)]
        if self.cpu_seconds is not None:
            wanted.append((resource.RLIMIT_CPU, self.cpu_seconds, self.cpu_seconds + 5))
        if self.address_space is not None:
            wanted.append((resource.RLIMIT_AS, self.address_space, self.address_space))
        if self.file_size is not None:
            wanted.append((resource.RLIMIT_FSIZE, self.file_size, self.file_size))
        for which, soft, hard in wanted:
            with contextlib.suppress(ValueError, OSError):
                _, current_hard = resource.getrlimit(which)
                if current_hard != resource.RLIM_INFINITY:
                    hard = min(hard, current_hard)
                    soft = min(soft, hard)
                resource.setrlimit(which, (soft, hard))


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """How a sandboxed command ended. Outputs are the kept tails, decoded as UTF-8."""

    exit_code: int
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool
    stdout_bytes: int
    stderr_bytes: int
    stdout_truncated: bool
    stderr_truncated: bool

    @property
    def truncated(self) -> bool:
        return self.stdout_truncated or self.stderr_truncated


class _Tail:
    """The last ``limit`` bytes of a stream, and how many bytes came in total."""

    __slots__ = ("buf", "limit", "total")

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self.buf = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.buf += chunk
        if len(self.buf) > 2 * self.limit + 65536:
            del self.buf[: len(self.buf) - self.limit]

    def text(self) -> tuple[str, bool]:
        data = bytes(self.buf[len(self.buf) - self.limit :]) if self.limit else b""
        dropped = self.total - len(data)
        if dropped <= 0:
            return data.decode("utf-8", "replace"), False
        start = 0
        while start < min(len(data), 4) and data[start] & 0xC0 == 0x80:
            start += 1  # do not begin in the middle of a UTF-8 character
        note = f"[… output truncated: the first {dropped + start} bytes are not shown …]\n"
        return note + data[start:].decode("utf-8", "replace"), True


async def _pump(stream: asyncio.StreamReader | None, tail: _Tail) -> None:
    if stream is None:
        return
    while chunk := await stream.read(65536):
        tail.add(chunk)


async def _feed(stream: asyncio.StreamWriter | None, data: bytes) -> None:
    if stream is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stream.write(data)
        await stream.drain()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
        stream.close()


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the process group; False when no process of it is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a member changed identity
        return False
    return True


async def run_sandboxed(
    argv: Sequence[str],
    *,
    cwd: str | Path,
    env: Mapping[str, str],
    timeout: float | None,
    stdin: str | bytes | None = None,
    limits: ResourceLimits | None = None,
    max_output: int = DEFAULT_MAX_OUTPUT,
) -> ProcessResult:
    """Run ``argv`` in ``cwd`` in a new session; wait at most ``timeout`` seconds.

    On timeout the process group gets SIGTERM, then SIGKILL a second later, and
    the result has ``timed_out=True`` (the caller decides what error that is).
    Raises :class:`ToolError` when the program cannot be started at all.
    """
    if not argv:
        raise ToolError("empty command")
    data = stdin.encode() if isinstance(stdin, str) else stdin
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(cwd),
            env=dict(env),
            stdin=asyncio.subprocess.PIPE if data is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=limits.apply if limits is not None else None,
        )
    except FileNotFoundError as exc:
        raise ToolError(f"command not found: {argv[0]}", argv=list(argv)) from exc
    except PermissionError as exc:
        raise ToolError(f"command is not executable: {argv[0]}", argv=list(argv)) from exc
    except OSError as exc:
        raise ToolError(f"cannot start {argv[0]}: {exc}", argv=list(argv)) from exc

    out, err = _Tail(max_output), _Tail(max_output)
    helpers = [
        asyncio.create_task(_pump(proc.stdout, out)),
        asyncio.create_task(_pump(proc.stderr, err)),
    ]
    if data is not None:
        helpers.append(asyncio.create_task(_feed(proc.stdin, data)))
    waiter = asyncio.create_task(proc.wait())
    timed_out = False
    try:
        done, _ = await asyncio.wait({waiter}, timeout=timeout)
        if waiter not in done:
            timed_out = True
            if _signal_group(proc.pid, signal.SIGTERM):
                await asyncio.wait({waiter}, timeout=_TERM_GRACE_S)
    finally:
        # the command's leftovers (background children, a hung process) go with it
        _signal_group(proc.pid, signal.SIGKILL)
        _, pending = await asyncio.wait({waiter, *helpers}, timeout=_DRAIN_S)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    duration = time.monotonic() - started
    stdout, stdout_cut = out.text()
    stderr, stderr_cut = err.text()
    code = proc.returncode
    return ProcessResult(
        exit_code=code if code is not None else -int(signal.SIGKILL),
        stdout=stdout,
        stderr=stderr,
        duration_s=round(duration, 3),
        timed_out=timed_out,
        stdout_bytes=out.total,
        stderr_bytes=err.total,
        stdout_truncated=stdout_cut,
        stderr_truncated=stderr_cut,
    )
