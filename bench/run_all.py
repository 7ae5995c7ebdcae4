"""Run W1–W4 for Nexus, LangGraph and the hand-written floor; print medians, spread, ratios.

Every measurement runs in a fresh Python process (so imports, caches and peak
RSS start from zero), ``--repeat`` times (default 3). The repeats go round
robin over the configurations, so that a slow moment of a shared machine hits
all of them alike. The results also go to ``bench/results/latest.json``.

Usage::

    python bench/run_all.py                 # everything, 3 repeats
    python bench/run_all.py --only W2,W4    # some workloads
    python bench/run_all.py --quick         # a tenth of the runs, 1 repeat
    python bench/run_all.py --from-json bench/results/latest.json   # report again
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from _common import CONFIGS, DEFAULT_RUNS, RESULT_PREFIX
from _report import WORKLOAD_ORDER, ratios, summarize, table, targets

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latest.json"
#: one measurement must finish within this many seconds
TIMEOUT_S = 600


@dataclass(frozen=True)
class Job:
    framework: str
    script: str
    workload: str
    config: str


SCRIPTS = {
    "nexus": "workloads_nexus.py",
    "langgraph": "workloads_langgraph.py",
    "floor": "floor.py",
}


def _jobs() -> list[Job]:
    jobs: list[Job] = []
    for workload in WORKLOAD_ORDER:
        for framework, script in SCRIPTS.items():
            configs = CONFIGS[framework].get(workload, ())
            jobs.extend(Job(framework, script, workload, c) for c in configs)
    return jobs


def run_job(job: Job, runs: int, directory: str) -> dict[str, Any]:
    """Measure ``job`` once in a fresh process; returns its result or raises RuntimeError."""
    cmd = [
        sys.executable,
        str(HERE / job.script),
        job.workload,
        "--config",
        job.config,
        "--runs",
        str(runs),
        "--dir",
        directory,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{job}: no result within {TIMEOUT_S} s") from exc
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line.removeprefix(RESULT_PREFIX))
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    raise RuntimeError(f"{job}: exit {proc.returncode}, no result: " + " / ".join(tail))


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {
            d: version(d)
            for d in ("nexus-agents", "langgraph", "langgraph-checkpoint-sqlite", "aiosqlite")
        },
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, help="measurements per configuration (default 3)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tenth of the runs and 1 repeat: a smoke check, not a measurement",
    )
    parser.add_argument("--runs", type=int, help="runs per measurement for every workload")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="workloads to run, e.g. W2 or W2,W4 (repeatable)",
    )
    parser.add_argument(
        "--framework",
        action="append",
        default=[],
        help="nexus, langgraph or floor (repeatable; default all)",
    )
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument(
        "--from-json", type=Path, help="measure nothing: print the report of a saved results file"
    )
    args = parser.parse_args(argv)
    only = {w.strip().upper() for item in args.only for w in item.split(",") if w.strip()}
    unknown = only - set(WORKLOAD_ORDER)
    if unknown:
        parser.error(
            f"--only: unknown workload {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(WORKLOAD_ORDER)}"
        )
    args.only = only or set(WORKLOAD_ORDER)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def measure_all(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str]]:
    """Every selected job, ``args.repeat`` times, round robin; results and failures."""
    jobs = [
        j
        for j in _jobs()
        if j.workload in args.only and (not args.framework or j.framework in args.framework)
    ]

    def runs_for(workload: str) -> int:
        if args.runs:
            return int(args.runs)
        return max(1, DEFAULT_RUNS[workload] // 10) if args.quick else DEFAULT_RUNS[workload]

    results: list[dict[str, Any]] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="nexus-bench-") as directory:
        for repeat in range(1, args.repeat + 1):
            for job in jobs:
                label = f"[{repeat}/{args.repeat}] {job.workload} {job.framework} {job.config}"
                try:
                    result = run_job(job, runs_for(job.workload), directory)
                except RuntimeError as exc:
                    failures.append(str(exc))
                    print(f"{label}: FAILED", flush=True)
                    continue
                result["repeat"] = repeat
                results.append(result)
                print(
                    f"{label}: {result['runs_per_s']:,.0f} runs/s, wall {result['wall_s']:.2f} s",
                    flush=True,
                )
    return results, failures


def report(results: list[dict[str, Any]], failures: list[str]) -> dict[str, Any]:
    """Print the table, the ratios and the targets; return them for the JSON file."""
    summaries = summarize(results)
    print()
    print(table(summaries))
    print()
    print("Ratios (paired within each repeat, median over the repeats):")
    ratio_list = ratios(summaries)
    for r in ratio_list:
        print("  " + r.line())
    print()
    print("Targets:")
    target_list = targets(summaries)
    for t in target_list:
        print("  " + t.line())
    for failure in failures:
        print("FAILED: " + failure)
    return {
        "summary": [s.to_dict() for s in summaries],
        "ratios": [{"workload": r.workload, "what": r.what, "value": r.value} for r in ratio_list],
        "targets": [{"name": t.name, "met": t.met, "figure": t.figure} for t in target_list],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json is not None:  # report again on measurements already made
        saved = json.loads(args.from_json.read_text())
        print(f"# {saved['command']} — {saved['machine']['cpu']}")
        report(saved["results"], saved["failures"])
        return 0
    info = machine()
    print(
        f"# {info['nproc']} × {info['cpu']}, Python {info['python']}, "
        f"langgraph {info['versions']['langgraph']}",
        flush=True,
    )
    load_before = os.getloadavg()
    started = time.time()
    results, failures = measure_all(args)
    data = {
        "command": " ".join(["bench/run_all.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": info,
        "started": started,
        "duration_s": time.time() - started,
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "repeat": args.repeat,
        "quick": args.quick,
        "results": results,
        **report(results, failures),
        "failures": failures,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=2) + "\n")
    print(f"\nResults written to {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
