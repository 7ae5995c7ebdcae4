"""W1–W4 on LangGraph, the peer: one configuration per process, one result line.

The graphs do what the Nexus plans do: each node calls the same fake model once
with a prompt built from the previous node's reply and appends its reply to the
state (``replies``, an ``operator.add`` channel, LangGraph's usual way of
passing state). Durable configurations use the SQLite checkpointers with
``durability="sync"``: a step's checkpoint is written before the next step
starts, which is what W2 asks for. They run with SQLite's default
``synchronous=FULL`` (an fsync per commit: durable against a power cut) and,
in the ``-normal`` configurations, with ``synchronous=NORMAL``, the level of
the Nexus SQLite store (durable against a killed process). ``--config`` picks
one of ``_common.CONFIGS["langgraph"]``.

Usage: ``python bench/workloads_langgraph.py W2 --config async-sqlite [--runs N] [--dir D]``
"""

from __future__ import annotations

import asyncio
import operator
import sqlite3
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Durability

from _common import (
    ROLES,
    STEPS_PER_RUN,
    W4_DELAY_S,
    WORKERS,
    FakeModel,
    Measurement,
    fresh_db_path,
    merge_prompt,
    prompt_for,
    remove_db,
    sqlite_bytes,
    worker_args,
)

FRAMEWORK = "langgraph"
#: configurations shown for information: they do not meet the workload's definition
NOT_CONFORMANT = {("W2", "async-sqlite-default-durability")}


class PipelineState(TypedDict):
    task: str
    replies: Annotated[list[str], operator.add]


class FanOutState(TypedDict):
    task: str
    plan: str
    results: Annotated[list[tuple[int, str]], operator.add]
    merged: str


# graphs ------------------------------------------------------------------------------
def pipeline_graph(model: FakeModel, *, is_async: bool) -> StateGraph[Any]:
    """coordinator → developer → test_creator → test_validator."""
    graph: StateGraph[Any] = StateGraph(PipelineState)

    def node_for(role: str) -> Any:
        def previous(state: PipelineState) -> str:
            return state["replies"][-1] if state["replies"] else state["task"]

        if is_async:

            async def anode(state: PipelineState) -> dict[str, Any]:
                return {"replies": [await model.complete(prompt_for(role, previous(state)))]}

            return anode

        def node(state: PipelineState) -> dict[str, Any]:
            return {"replies": [model.answer(prompt_for(role, previous(state)))]}

        return node

    prev = START
    for role in ROLES:
        graph.add_node(role, node_for(role))
        graph.add_edge(prev, role)
        prev = role
    graph.add_edge(prev, END)
    return graph


def fan_out_graph(model: FakeModel, *, is_async: bool) -> StateGraph[Any]:
    """planner → 8 workers (parallel edges, one superstep) → merge."""
    graph: StateGraph[Any] = StateGraph(FanOutState)
    workers = [f"worker_{i}" for i in range(WORKERS)]

    def merged(state: FanOutState) -> str:
        return merge_prompt([reply for _, reply in sorted(state["results"])])

    if is_async:

        async def aplanner(state: FanOutState) -> dict[str, Any]:
            return {"plan": await model.complete(prompt_for("planner", state["task"]))}

        def aworker(i: int) -> Any:
            async def run(state: FanOutState) -> dict[str, Any]:
                reply = await model.complete(prompt_for(f"worker {i}", state["plan"]))
                return {"results": [(i, reply)]}

            return run

        async def amerge(state: FanOutState) -> dict[str, Any]:
            return {"merged": await model.complete(merged(state))}

        graph.add_node("planner", aplanner)
        for i, name in enumerate(workers):
            graph.add_node(name, aworker(i))
        graph.add_node("merge", amerge)
    else:

        def planner(state: FanOutState) -> dict[str, Any]:
            return {"plan": model.answer(prompt_for("planner", state["task"]))}

        def worker(i: int) -> Any:
            def run(state: FanOutState) -> dict[str, Any]:
                return {"results": [(i, model.answer(prompt_for(f"worker {i}", state["plan"])))]}

            return run

        def merge(state: FanOutState) -> dict[str, Any]:
            return {"merged": model.answer(merged(state))}

        graph.add_node("planner", planner)
        for i, name in enumerate(workers):
            graph.add_node(name, worker(i))
        graph.add_node("merge", merge)
    graph.add_edge(START, "planner")
    for name in workers:
        graph.add_edge("planner", name)
    graph.add_edge(workers, "merge")
    graph.add_edge("merge", END)
    return graph


def _input(workload: str, i: int) -> dict[str, Any]:
    if workload == "W3":
        return {"task": f"task {i}", "plan": "", "results": [], "merged": ""}
    return {"task": f"task {i}", "replies": []}


def _check(workload: str, state: dict[str, Any]) -> None:
    """Refuse to report a measurement of runs that did not do the work."""
    if workload == "W3":
        ok = (
            len(state["results"]) == WORKERS
            and state["merged"].startswith("ok ")
            and "Merge: " in state["merged"]
        )
    else:
        ok = len(state["replies"]) == len(ROLES)
    if not ok:
        raise SystemExit(f"{workload}: a run ended with an unexpected state: {state}")


# measuring -------------------------------------------------------------------------
def measure(workload: str, config: str, runs: int, directory: str | None) -> Measurement:
    is_async = config.startswith("async")
    durable = "sqlite" in config
    model = FakeModel(W4_DELAY_S if workload == "W4" else 0.0)
    build = fan_out_graph if workload == "W3" else pipeline_graph
    graph = build(model, is_async=is_async)
    durability: Durability = "async" if config.endswith("default-durability") else "sync"
    synchronous = "NORMAL" if config.endswith("-normal") else "FULL"
    path = fresh_db_path(directory, f"langgraph-{workload}-{config}") if durable else None
    label = "LangGraph " + ("async" if is_async else "sync")
    if durable:
        saver = "AsyncSqliteSaver" if is_async else "SqliteSaver"
        label += f" + {saver} (durability={durability}, synchronous={synchronous})"
    if is_async:
        wall = asyncio.run(_measure_async(workload, graph, runs, path, durability, synchronous))
    else:
        wall = _measure_sync(workload, graph, runs, path, synchronous)
    size = sqlite_bytes(path) if path is not None else None
    if path is not None:
        remove_db(path)
    if model.calls != runs * STEPS_PER_RUN[workload]:
        raise SystemExit(f"{workload}: the model was called {model.calls} times")
    return Measurement(
        framework="langgraph",
        workload=workload,
        config=label,
        runs=runs,
        steps_per_run=STEPS_PER_RUN[workload],
        wall_s=wall,
        bytes_per_run=size / runs if size is not None else None,
        conformant=(workload, config) not in NOT_CONFORMANT,
    )


def _measure_sync(
    workload: str, graph: StateGraph[Any], runs: int, path: Path | None, synchronous: str
) -> float:
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(path, check_same_thread=False) if path is not None else None
    saver = SqliteSaver(conn) if conn is not None else None
    if conn is not None and saver is not None:
        conn.execute(f"PRAGMA synchronous={synchronous}")
        saver.setup()
    app = graph.compile(checkpointer=saver)
    durability: Durability | None = "sync" if saver is not None else None
    started = time.perf_counter()
    for i in range(runs):
        config: RunnableConfig = {"configurable": {"thread_id": f"run-{i}"}}
        state = app.invoke(_input(workload, i), config, durability=durability)
        _check(workload, state)
    wall = time.perf_counter() - started
    if conn is not None:
        conn.close()
    return wall


async def _measure_async(
    workload: str,
    graph: StateGraph[Any],
    runs: int,
    path: Path | None,
    durability: Durability,
    synchronous: str,
) -> float:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    conn = await aiosqlite.connect(path) if path is not None else None
    saver = AsyncSqliteSaver(conn) if conn is not None else None
    if conn is not None and saver is not None:
        await conn.execute(f"PRAGMA synchronous={synchronous}")
        await saver.setup()
    app = graph.compile(checkpointer=saver)
    mode = durability if saver is not None else None

    async def one(i: int) -> None:
        config: RunnableConfig = {"configurable": {"thread_id": f"run-{i}"}}
        _check(workload, await app.ainvoke(_input(workload, i), config, durability=mode))

    started = time.perf_counter()
    if workload == "W4":  # all runs at once
        await asyncio.gather(*(one(i) for i in range(runs)))
    else:
        for i in range(runs):
            await one(i)
    wall = time.perf_counter() - started
    if conn is not None:
        await conn.close()
    return wall


def main() -> None:
    args = worker_args(FRAMEWORK, __doc__.splitlines()[0])
    measure(args.workload, args.config, args.runs, args.dir).emit()


if __name__ == "__main__":
    main()
