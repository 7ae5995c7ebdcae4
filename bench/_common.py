"""What every benchmark script shares: the workloads' sizes, the fake model, the result record.

A benchmark script measures one (framework, workload, configuration) in its own
process and prints one line ``BENCH_RESULT {json}``; ``run_all.py`` starts the
scripts, collects these lines and compares them. Peak RSS is the process's own
high-water mark (``VmHWM``), so it counts the framework's imports too, as a
user of the framework would see it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sqlite3
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "

#: The four agent roles of the W1/W2/W4 pipeline, in order.
ROLES: tuple[str, ...] = ("coordinator", "developer", "test_creator", "test_validator")
#: W3: workers of the fan-out.
WORKERS = 8
#: Runs per workload (BENCHMARKS.md); the scripts take ``--runs`` to do fewer.
DEFAULT_RUNS: dict[str, int] = {"W1": 1000, "W2": 1000, "W3": 200, "W4": 2000}
#: Steps per run that call the model (the unit of "µs per step").
STEPS_PER_RUN: dict[str, int] = {"W1": 4, "W2": 4, "W3": 1 + WORKERS + 1, "W4": 4}
#: W4: every model call waits this long; the ideal wall time is 4 × this.
W4_DELAY_S = 0.05
W4_IDEAL_S = len(ROLES) * W4_DELAY_S

#: framework → workload → the configurations measured (each script checks its ``--config``).
CONFIGS: dict[str, dict[str, tuple[str, ...]]] = {
    # "null": the engine on a store that keeps nothing, to see the engine's own cost
    "nexus": {
        "W1": ("memory", "null"),
        "W2": ("sqlite",),
        "W3": ("memory", "sqlite"),
        "W4": ("sqlite", "memory", "null"),
    },
    # the first word says sync or async invocation; "sqlite": the SQLite checkpointer,
    # "-normal": its connection at synchronous=NORMAL (the Nexus store's durability level)
    "langgraph": {
        "W1": ("sync", "async"),
        "W2": (
            "sync-sqlite",
            "async-sqlite",
            "sync-sqlite-normal",
            "async-sqlite-normal",
            "async-sqlite-default-durability",
        ),
        "W3": ("sync", "sync-sqlite", "async-sqlite", "sync-sqlite-normal"),
        "W4": ("async", "async-sqlite-normal"),
    },
    "floor": {"W2": ("full", "normal"), "W4": ("memory",)},
}


def prompt_for(role: str, previous: str) -> str:
    """The prompt a role gets: its instruction plus the previous step's reply."""
    return f"As the {role}, continue from: {previous}"


def merge_prompt(replies: list[str]) -> str:
    """W3: the merge step's prompt, built from the workers' replies in worker order."""
    return "Merge: " + " | ".join(replies)


class FakeModel:
    """A model that answers at once (or after ``delay`` seconds) with a short reply.

    The reply numbers the call and quotes the start of the prompt: each step's
    output depends on the previous one, no two replies are alike (as with a real
    model, so a store that shares identical payloads gains nothing here), and a
    reply stays short (about 60 characters) however long the chain. Both
    frameworks use this same object, so the model costs them the same.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0

    def answer(self, prompt: str) -> str:
        self.calls += 1
        return f"ok {self.calls}: {prompt[:48]}"

    async def complete(self, prompt: str) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.answer(prompt)


@dataclass
class Measurement:
    """One measurement of one configuration, in one process."""

    framework: str
    workload: str
    config: str
    runs: int
    steps_per_run: int
    wall_s: float
    peak_rss_mib: float = field(default_factory=lambda: peak_rss_mib())
    bytes_per_run: float | None = None
    #: False for a configuration shown for information that does not meet the
    #: workload's definition (it is never picked as the peer's best)
    conformant: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def runs_per_s(self) -> float:
        return self.runs / self.wall_s

    @property
    def us_per_step(self) -> float:
        return self.wall_s / (self.runs * self.steps_per_run) * 1e6

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["runs_per_s"] = self.runs_per_s
        data["us_per_step"] = self.us_per_step
        if self.workload == "W4":
            data["ratio_to_ideal"] = self.wall_s / W4_IDEAL_S
        return data

    def emit(self) -> None:
        """Print the result line that ``run_all.py`` reads."""
        sys.stdout.write(RESULT_PREFIX + json.dumps(self.to_dict()) + "\n")
        sys.stdout.flush()


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB.

    Linux: ``VmHWM`` of ``/proc/self/status``, which starts afresh at ``exec``
    (``ru_maxrss`` would carry over the high-water mark of the parent process
    that forked this one). Elsewhere: ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


def sqlite_bytes(path: Path) -> int:
    """Bytes an SQLite database takes once its WAL is checkpointed: main file plus ``-wal``.

    The caller closes its own connections first; the checkpoint here folds what
    is left in the WAL into the main file so that files written by different
    programs are compared in the same state.
    """
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    total = 0
    for suffix in ("", "-wal"):
        part = Path(str(path) + suffix)
        if part.exists():
            total += part.stat().st_size
    return total


def fresh_db_path(directory: str | None, name: str) -> Path:
    """A path for a new SQLite file in ``directory`` (default: the system temp dir)."""
    import tempfile

    base = Path(directory or tempfile.mkdtemp(prefix="nexus-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"{name}-{os.getpid()}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


def remove_db(path: Path) -> None:
    """Delete an SQLite file and its companions (and the temp dir :func:`fresh_db_path` made)."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    if path.parent.name.startswith("nexus-bench-"):
        with contextlib.suppress(OSError):  # not empty: someone else's files, keep it
            path.parent.rmdir()


def worker_args(framework: str, description: str, *, profile: bool = False) -> argparse.Namespace:
    """The command line of a benchmark script: ``WORKLOAD --config C [--runs N] [--dir D]``.

    ``runs`` comes back filled in with the workload's default.
    """
    configs = CONFIGS[framework]
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("workload", choices=sorted(configs))
    parser.add_argument("--config", required=True)
    parser.add_argument("--runs", type=int)
    parser.add_argument("--dir", help="where to put SQLite files (default: a temp dir)")
    if profile:
        parser.add_argument("--profile", help="write a cProfile of the measured part here")
    args = parser.parse_args()
    if args.config not in configs[args.workload]:
        choices = ", ".join(configs[args.workload])
        parser.error(f"--config for {args.workload}: one of {choices}")
    args.runs = args.runs or DEFAULT_RUNS[args.workload]
    return args
