"""Where a Nexus workload's time goes: cProfile of the measured part, summed by layer.

Every function's own time (``tottime``) is charged to a layer by its file:
the engine, the store, expressions (the Jinja2 sandbox), events, the plan
models (Pydantic), asyncio, the fake model of the benchmark, the garbage
collector. C functions (``sqlite3`` commits, ``json`` encoding, ``dict``
methods …) are charged to the layer of the Python function that called them,
in proportion to the time spent under each caller. cProfile makes small
functions look dearer than they are; compare the layers, not the absolutes.

Usage: ``python bench/profile_nexus.py W2 --config sqlite [--runs N] [--top 25]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import pstats
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import CONFIGS, DEFAULT_RUNS, STEPS_PER_RUN
from workloads_nexus import measure

#: (substring of the file path, layer); the first match wins
LAYERS: tuple[tuple[str, str], ...] = (
    ("nexus/engine/expressions", "expressions"),
    ("jinja2/", "expressions"),
    ("markupsafe/", "expressions"),
    ("nexus/engine/events", "events"),
    ("nexus/engine/", "engine"),
    ("nexus/store/", "store"),
    ("sqlalchemy/", "store"),
    ("nexus/domain/", "domain records"),
    ("nexus/handlers/", "handlers"),
    ("pydantic", "plan models (pydantic)"),
    ("asyncio/", "asyncio"),
    ("bench/", "benchmark (fake model, driver)"),
    ("json/", "json"),
    ("<string>", "domain records"),  # dataclass __init__ of Event, StepRecord, RunRecord
)

Key = tuple[str, int, str]


def layer_of(key: Key) -> str:
    filename = key[0].replace("\\", "/")
    for needle, layer in LAYERS:
        if needle in filename:
            return layer
    return "other (stdlib)"


def by_layer(stats: pstats.Stats) -> dict[str, float]:
    """Own time per layer; C functions charged to their callers' layers."""
    raw: dict[Key, Any] = stats.stats  # type: ignore[attr-defined]
    totals: dict[str, float] = defaultdict(float)

    def charge(key: Key, seconds: float, depth: int = 0) -> None:
        if key[0] != "~" or depth > 3:
            totals[layer_of(key) if key[0] != "~" else "other (C)"] += seconds
            return
        callers = raw[key][4]
        spent = sum(c[2] for c in callers.values()) or 1.0
        for caller, (_, _, tt, _) in callers.items():
            charge(caller, seconds * tt / spent, depth + 1)
        if not callers:
            totals["other (C)"] += seconds

    for key, (_, _, tt, _, _) in raw.items():
        charge(key, tt)
    return dict(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(CONFIGS["nexus"]))
    parser.add_argument("--config", required=True)
    parser.add_argument("--runs", type=int)
    parser.add_argument("--top", type=int, default=25, help="functions to list by own time")
    args = parser.parse_args()
    runs = args.runs or DEFAULT_RUNS[args.workload]
    gc_time = [0.0]
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            gc_time[0] += time.perf_counter() - gc_started[0]

    with tempfile.TemporaryDirectory(prefix="nexus-profile-") as directory:
        out = str(Path(directory) / "profile.prof")
        plain = asyncio.run(measure(args.workload, args.config, runs, directory, None))
        gc.callbacks.append(on_gc)
        profiled = asyncio.run(measure(args.workload, args.config, runs, directory, out))
        gc.callbacks.remove(on_gc)
        stats = pstats.Stats(out)
    steps = runs * STEPS_PER_RUN[args.workload]
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    print(f"{args.workload} {args.config}: {runs} runs, {steps} steps")
    print(f"  without profiler: {plain.wall_s:.3f} s = {plain.us_per_step:.0f} µs/step")
    print(
        f"  with profiler:    {profiled.wall_s:.3f} s, profiled own time {total:.3f} s,"
        f" of which garbage collection ≈ {gc_time[0]:.3f} s (charged to whatever allocated)"
    )
    print("\nOwn time by layer (share of the profiled time; µs/step scaled to the unprofiled run):")
    scale = plain.wall_s / total if total else 0.0
    for layer, seconds in sorted(by_layer(stats).items(), key=lambda kv: -kv[1]):
        share = seconds / total if total else 0.0
        print(f"  {layer:32s} {share * 100:5.1f}%  ≈ {seconds * scale / steps * 1e6:6.1f} µs/step")
    print(f"\nTop {args.top} functions by own time:")
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
