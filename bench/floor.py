"""The floors: what the workloads cost written by hand, with no framework at all.

- ``W2 --config full``: the durable pipeline as a plain loop that commits one
  SQLite row per step (WAL, ``synchronous=FULL``): the floor of BENCHMARKS.md.
  ``--config normal`` is the same with ``synchronous=NORMAL`` (durable against
  a killed process, not against power loss), shown for information.
- ``W4 --config memory``: 2000 pipelines gathered on one event loop, each model
  call awaiting 50 ms, no persistence.

Usage: ``python bench/floor.py W2 --config full [--runs N] [--dir D]``
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

from _common import (
    ROLES,
    STEPS_PER_RUN,
    W4_DELAY_S,
    FakeModel,
    Measurement,
    fresh_db_path,
    prompt_for,
    remove_db,
    sqlite_bytes,
    worker_args,
)

FRAMEWORK = "floor"


def durable_pipeline(runs: int, synchronous: str, directory: str | None) -> Measurement:
    """One row and one commit per step; each step reads the previous reply from the loop."""
    model = FakeModel()
    path = fresh_db_path(directory, f"floor-{synchronous.lower()}")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(
        "CREATE TABLE steps (run TEXT NOT NULL, step TEXT NOT NULL, output TEXT NOT NULL,"
        " PRIMARY KEY (run, step)) WITHOUT ROWID"
    )
    insert = "INSERT INTO steps VALUES (?, ?, ?)"
    started = time.perf_counter()
    for i in range(runs):
        run_id = f"run-{i}"
        previous = f"task {i}"
        for role in ROLES:
            previous = model.answer(prompt_for(role, previous))
            conn.execute("BEGIN")
            conn.execute(insert, (run_id, role, json.dumps({"reply": previous})))
            conn.execute("COMMIT")
    wall = time.perf_counter() - started
    conn.close()
    size = sqlite_bytes(path)
    remove_db(path)
    return Measurement(
        framework="floor",
        workload="W2",
        config=f"hand-written, one commit per step, WAL, synchronous={synchronous}",
        runs=runs,
        steps_per_run=STEPS_PER_RUN["W2"],
        wall_s=wall,
        bytes_per_run=size / runs,
        conformant=synchronous == "FULL",
    )


async def _concurrent_pipelines(runs: int, model: FakeModel) -> float:
    async def one(i: int) -> str:
        previous = f"task {i}"
        for role in ROLES:
            previous = await model.complete(prompt_for(role, previous))
        return previous

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(runs)))
    return time.perf_counter() - started


def concurrent_in_memory(runs: int) -> Measurement:
    model = FakeModel(W4_DELAY_S)
    wall = asyncio.run(_concurrent_pipelines(runs, model))
    return Measurement(
        framework="floor",
        workload="W4",
        config="hand-written asyncio, no persistence",
        runs=runs,
        steps_per_run=STEPS_PER_RUN["W4"],
        wall_s=wall,
    )


def main() -> None:
    args = worker_args(FRAMEWORK, __doc__.splitlines()[0])
    if args.workload == "W2":
        result = durable_pipeline(args.runs, args.config.upper(), args.dir)
    else:
        result = concurrent_in_memory(args.runs)
    result.emit()


if __name__ == "__main__":
    main()
