"""API benchmark: requests/s and latency (p50, p99) of creating runs and reading run status.

    .venv/bin/python bench/api.py                                   # SQLite, 8 s per phase
    .venv/bin/python bench/api.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench
    .venv/bin/python bench/api.py --seconds 3 --json out.json

Processes on loopback:

- ``nexus serve`` (one uvicorn process, its in-process executor) on a fresh
  ``NEXUS_HOME`` (SQLite) or the given PostgreSQL database, with API keys
  required: every request goes through key authentication, the rate limiter,
  the daily quota, the size limit, the audit log (creations are audited) and,
  on PostgreSQL, reads through row level security. The bench tenant is made
  with the CLI (``nexus tenants create``, ``nexus keys create``) with its rate
  limits lifted.
- a separate load process per phase (``load`` below): asyncio and httpx,
  keep-alive connections, a fixed number of requests in flight, for a fixed time.

Phases: ``create`` (``POST /api/runs`` with a one-step plan, see :data:`PLANS`;
the server also executes every run it creates, in the same process) and
``status`` (``GET /api/runs/{id}`` over the runs created), each at concurrency
1 (latency) and 16 (throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
#: What each create phase posts: the echo tool (a tool step gets the run's git workspace,
#: committed per step), and a transform (no workspace: the API and the engine alone).
PLANS: dict[str, dict[str, Any]] = {
    "echo": {"name": "bench-echo", "steps": {"hello": {"tool": "echo", "with": {"message": "hi"}}}},
    "transform": {"name": "bench-transform", "steps": {"hello": {"transform": {"message": "hi"}}}},
}
CONCURRENCY = (1, 16)


# --- the load process ---------------------------------------------------------------------------


async def _load(
    url: str, token: str, mode: str, plan: str, concurrency: int, seconds: float
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    body = json.dumps({"plan": PLANS.get(plan, PLANS["echo"])}).encode()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    run_ids: list[str] = []
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=30
    ) as client:
        if mode == "status":
            page = await client.get("/api/runs", params={"limit": 500})
            run_ids = [r["run_id"] for r in page.json()["items"]]
            if not run_ids:
                raise SystemExit("no runs to read: run the create phase first")
        for _ in range(concurrency):  # open the connections before the clock starts
            await client.get("/api/health")
        deadline = time.perf_counter() + seconds

        async def worker(index: int) -> None:
            n = index
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                if mode == "create":
                    reply = await client.post("/api/runs", content=body)
                    ok = reply.status_code == 201
                else:
                    reply = await client.get(f"/api/runs/{run_ids[n % len(run_ids)]}")
                    ok = reply.status_code == 200
                    n += concurrency
                latencies.append(time.perf_counter() - start)
                if not ok:
                    errors[str(reply.status_code)] = errors.get(str(reply.status_code), 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "mode": mode,
        "plan": plan if mode == "create" else None,
        "concurrency": concurrency,
        "requests": len(ordered),
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(ordered) / elapsed, 1),
        "p50_ms": round(_pct(ordered, 50) * 1e3, 3),
        "p99_ms": round(_pct(ordered, 99) * 1e3, 3),
        "mean_ms": round(statistics.fmean(ordered) * 1e3, 3) if ordered else None,
        "errors": errors,
    }


def _pct(values: list[float], q: float) -> float:
    """The q-th percentile of sorted ``values`` (nearest rank)."""
    if not values:
        return float("nan")
    rank = max(0, min(len(values) - 1, round(q / 100 * len(values) + 0.5) - 1))
    return values[rank]


# --- the driver ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _nexus(args: list[str], env: dict[str, str]) -> str:
    nexus = str(Path(sys.executable).with_name("nexus"))
    done = subprocess.run(
        [nexus, *args], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    if done.returncode != 0:
        raise SystemExit(f"nexus {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _wait_http(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not come up within {timeout_s:g}s")
        time.sleep(0.1)


def _phase(
    url: str, token: str, mode: str, plan: str, concurrency: int, seconds: float
) -> dict[str, Any]:
    """One phase in its own load process."""
    cmd = [sys.executable, __file__, "load", "--url", url, "--mode", mode, "--plan", plan]
    cmd += ["--concurrency", str(concurrency), "--seconds", str(seconds)]
    done = subprocess.run(
        cmd,
        env={**os.environ, "NEXUS_BENCH_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    if done.returncode != 0:
        raise SystemExit(f"the load process failed: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="nexus-api-bench-"))
    env = {**os.environ, "NEXUS_HOME": str(home), "NEXUS_LOG_LEVEL": "warning"}
    env.pop("NEXUS_DATABASE_URL", None)
    schema = f"bench_{os.getpid()}_{int(time.time())}"
    if args.database_url:  # a schema of its own, dropped at the end
        sep = "&" if "?" in args.database_url else "?"
        env["NEXUS_DATABASE_URL"] = f"{args.database_url}{sep}schema={schema}"
    backend = "postgresql" if args.database_url else "sqlite"
    _nexus(["tenants", "create", "bench", "--plan", "enterprise", "--rate", "1000000",
            "--burst", "10000000", "--requests-per-day", "1000000000000"], env)  # fmt: skip
    token = _nexus(["keys", "create", "--tenant", "bench", "--role", "operator"], env).strip()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = home / "server.log"
    nexus = str(Path(sys.executable).with_name("nexus"))
    server = subprocess.Popen(
        [nexus, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),  # a pipe nobody reads would stall the server once full
        cwd=ROOT,
    )
    phases: list[dict[str, Any]] = []
    try:
        _wait_http(f"{url}/api/health")
        for mode, plan in (("create", "echo"), ("create", "transform"), ("status", "-")):
            for concurrency in CONCURRENCY:
                phase = _phase(url, token, mode, plan, concurrency, args.seconds)
                phases.append(phase)
                print(_line(phase), file=sys.stderr)
                _settle(url, token)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        if args.database_url:
            _drop_schema(args.database_url, schema)
    print(f"server log: {log}", file=sys.stderr)
    return {
        "backend": backend,
        "seconds_per_phase": args.seconds,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "phases": phases,
    }


def _settle(url: str, token: str, timeout_s: float = 120.0) -> None:
    """Wait until the server has executed every run created so far."""
    headers = {"authorization": f"Bearer {token}"}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        busy = 0
        for status in ("created", "running"):
            page = httpx.get(
                f"{url}/api/runs", params={"status": status, "limit": 1}, headers=headers
            )
            busy += len(page.json()["items"])
        if not busy:
            return
        time.sleep(0.5)
    raise SystemExit(f"runs still executing after {timeout_s:g}s")


def _drop_schema(url: str, schema: str) -> None:
    import psycopg

    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _line(p: dict[str, Any]) -> str:
    return (
        f"{p['mode']:<7} {p['plan'] or '':<10} c={p['concurrency']:<3} "
        f"{p['requests_per_s']:>8.1f} req/s  "
        f"p50 {p['p50_ms']:.2f} ms  p99 {p['p99_ms']:.2f} ms  errors {p['errors'] or 0}"
    )


def markdown(result: dict[str, Any]) -> str:
    rows = [
        "| backend | request | in flight | requests/s | p50 ms | p99 ms | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for p in result["phases"]:
        name = (
            f"`POST /api/runs` ({p['plan']} plan)"
            if p["mode"] == "create"
            else "`GET /api/runs/{id}`"
        )
        rows.append(
            f"| {result['backend']} | {name} | {p['concurrency']} | "
            f"{p['requests_per_s']:.0f} | {p['p50_ms']:.2f} | {p['p99_ms']:.2f} | "
            f"{sum(p['errors'].values())} |"
        )
    return "\n".join(rows)


async def _rls_cost(database_url: str, reads: int = 2000) -> dict[str, Any]:
    """In-process: one ``get_run`` on PostgreSQL as the store's owner, and through row level
    security (``SET LOCAL ROLE nexus_api`` + the tenant setting), alternating blocks."""
    from nexus.domain.runs import RunRecord
    from nexus.tenancy.rls import TenantScopedPostgresStore, read_tenant

    schema = f"bench_rls_{os.getpid()}"
    sep = "&" if "?" in database_url else "?"
    store = TenantScopedPostgresStore(f"{database_url}{sep}schema={schema}")
    await store.open()
    samples: dict[str, list[float]] = {"owner": [], "rls": []}
    try:
        await store.create_run(RunRecord("r1", "p", {}, {}, tenant_id="bench"))
        for _block in range(10):
            for label, tenant in (("owner", None), ("rls", "bench")):
                token = read_tenant.set(tenant)
                try:
                    for i in range(reads // 10 + 10):
                        start = time.perf_counter()
                        await store.get_run("r1")
                        if i >= 10:  # a few warm-up reads per block
                            samples[label].append(time.perf_counter() - start)
                finally:
                    read_tenant.reset(token)
    finally:
        await store.close()
        _drop_schema(database_url, schema)
    out: dict[str, Any] = {}
    for label, values in samples.items():
        ordered = sorted(values)
        out[label] = {
            "p50_ms": round(_pct(ordered, 50) * 1e3, 3),
            "p99_ms": round(_pct(ordered, 99) * 1e3, 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    load = sub.add_parser("load", help="(internal) one load phase against a running server")
    load.add_argument("--url", required=True)
    load.add_argument("--mode", choices=("create", "status"), required=True)
    load.add_argument("--plan", choices=(*PLANS, "-"), default="echo")
    load.add_argument("--concurrency", type=int, default=16)
    load.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each phase")
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (default: SQLite)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument(
        "--rls-cost",
        action="store_true",
        help="only measure what row level security adds to one read (needs --database-url)",
    )
    args = parser.parse_args()
    if args.command == "load":
        token = os.environ["NEXUS_BENCH_TOKEN"]
        result = asyncio.run(
            _load(args.url, token, args.mode, args.plan, args.concurrency, args.seconds)
        )
        print(json.dumps(result))
        return
    if args.rls_cost:
        if not args.database_url:
            raise SystemExit("--rls-cost needs --database-url (PostgreSQL)")
        print(json.dumps(asyncio.run(_rls_cost(args.database_url)), indent=2))
        return
    result = run(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
