"""Gateway benchmark: the latency the gateway adds over calling the same upstream directly,
and requests/s under load.

    .venv/bin/python bench/gateway.py                      # defaults: 3000 pairs, 8 s of load
    .venv/bin/python bench/gateway.py --requests 500 --load-seconds 3 --json out.json

Three processes on loopback (the peers are in ``bench/_gateway_peers.py``):

- a fake OpenAI-compatible upstream: an asyncio server with TCP_NODELAY that answers
  every ``POST …/chat/completions`` with a fixed ``chat.completion`` body (or, for
  ``stream: true``, a fixed SSE stream);
- ``nexus serve --open`` with ``OPENAI_BASE_URL`` pointing at the upstream, once with
  each OpenAI transport (``NEXUS_OPENAI_TRANSPORT=http``, the lean client, and ``sdk``,
  the official SDK): the real server, every middleware, API-key auth (a tenant whose
  rate limits are lifted), budgets (reserve and settle on the SQLite spend log), the
  call log, the ``openai:`` provider;
- this process, the client: one keep-alive ``httpx.Client`` sends the same request
  to the upstream directly and through the gateway, alternating, after a warm-up.

Added latency = the gateway path's percentile − the direct path's percentile (the
median of the per-pair differences is reported too). Requests/s come from a separate
load process (asyncio, keep-alive connections, fixed concurrency) against each
gateway, and against the upstream alone as the ceiling of this machine.

For reference, the same measurement is taken through ``floor``: a bare ASGI proxy
under the same uvicorn that forwards the body with one shared ``httpx.AsyncClient``
— what any Python gateway costs before it does anything. ``--breakdown`` times the
gateway's own steps in-process (parse, resolve, budgets, the provider call through
the SDK against a raw HTTP call, the answer's body).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from _gateway_peers import ANSWER_TEXT, percentile

ROOT = Path(__file__).resolve().parents[1]
PEERS = str(Path(__file__).with_name("_gateway_peers.py"))
MODEL = "gpt-4o-mini"
PROMPT = [{"role": "user", "content": "Say hello in five words."}]
UPSTREAM_KEY = "sk-bench-upstream-0000000000"
LIMITS = {
    "rate_per_s": 1e6,
    "burst": 10**7,
    "requests_per_day": 10**12,
    "budget_usd_per_day": 1e9,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT
    )


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


def _wait_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing listens on port {port} after {timeout_s:g}s")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(percentile(ordered, 50) * 1e3, 4),
        "p90_ms": round(percentile(ordered, 90) * 1e3, 4),
        "p99_ms": round(percentile(ordered, 99) * 1e3, 4),
        "mean_ms": round(statistics.fmean(ordered) * 1e3, 4),
    }


def measure_pairs(
    client: httpx.Client,
    direct: Callable[[], httpx.Response],
    via: Callable[[], httpx.Response],
    *,
    warmup: int,
    pairs: int,
) -> dict[str, Any]:
    """Alternate direct and gateway calls (order swapped every pair); percentiles of each and
    of the per-pair differences."""
    for _ in range(warmup):
        direct()
        via()
    times_direct: list[float] = []
    times_via: list[float] = []
    clock = time.perf_counter
    for i in range(pairs):
        order = (direct, via) if i % 2 == 0 else (via, direct)
        for call in order:
            started = clock()
            reply = call()
            elapsed = clock() - started
            if reply.status_code != 200:
                raise SystemExit(f"HTTP {reply.status_code}: {reply.text[:300]}")
            (times_direct if call is direct else times_via).append(elapsed)
    d, v = _summary(times_direct), _summary(times_via)
    diffs = sorted(b - a for a, b in zip(times_direct, times_via, strict=True))
    return {
        "direct": d,
        "gateway": v,
        "added_p50_ms": round(v["p50_ms"] - d["p50_ms"], 4),
        "added_p99_ms": round(v["p99_ms"] - d["p99_ms"], 4),
        "added_pairwise_p50_ms": round(percentile(diffs, 50) * 1e3, 4),
        "pairs": pairs,
    }


def load(
    port: int, path: str, body: bytes, token: str, seconds: float, conc: int
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as handle:
        handle.write(body)
    try:
        proc = subprocess.run(
            [
                sys.executable, PEERS, "load", "--port", str(port), "--path", path,
                "--body-file", handle.name, "--token", token, "--seconds", str(seconds),
                "--concurrency", str(conc),
            ],
            capture_output=True, text=True, timeout=seconds + 60, check=False,
        )  # fmt: skip
    finally:
        os.unlink(handle.name)
    if proc.returncode != 0:
        raise SystemExit(f"the load process failed: {proc.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --- in-process breakdown ------------------------------------------------------------------------


async def breakdown(upstream_url: str, home: Path, rounds: int) -> dict[str, float]:
    """Microseconds per call of each step of the gateway's hot path, timed in this process."""
    sys.path.insert(0, str(ROOT / "src"))
    from nexus.budgets import BudgetedProvider, BudgetLedger, BudgetPolicy, SqliteSpendLog
    from nexus.domain.messages import ModelResponse
    from nexus.gateway.models import ModelNames
    from nexus.gateway.openai_wire import completion_body, parse_chat_request
    from nexus.providers.openai_http import OpenAIHttpProvider
    from nexus.providers.openai_provider import OpenAIProvider
    from nexus.providers.registry import default_registry
    from nexus.providers.translate_openai import parse_completion, to_openai_request

    body = orjson.dumps({"model": f"openai:{MODEL}", "messages": PROMPT, "max_tokens": 32})
    out: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], object], n: int = rounds) -> None:
        for _ in range(min(n, 200)):
            fn()
        started = time.perf_counter()
        for _ in range(n):
            fn()
        out[name] = round((time.perf_counter() - started) / n * 1e6, 2)

    async def atimed(name: str, fn: Callable[[], Any], n: int = rounds) -> None:
        for _ in range(min(n, 200)):
            await fn()
        started = time.perf_counter()
        for _ in range(n):
            await fn()
        out[name] = round((time.perf_counter() - started) / n * 1e6, 2)

    timed("parse request (orjson + canonical)", lambda: parse_chat_request(orjson.loads(body)))
    chat = parse_chat_request(orjson.loads(body))
    names = ModelNames(default_registry(), env={})
    timed("resolve model name", lambda: names.resolve(chat.request.model, "openai"))
    routed = chat.request.model_copy(update={"model": f"openai:{MODEL}"})
    ledger = BudgetLedger(SqliteSpendLog(home / "bench-budgets.db"))
    scopes = [
        s
        for s in BudgetPolicy().scopes(tenant_id="bench", run_id="-", agent_id="-")
        if s.kind in ("tenant_day", "tenant")
    ]
    guard = BudgetedProvider(
        OpenAIProvider(MODEL, base_url=upstream_url, api_key="x"), ledger, scopes
    )

    def reserve_settle() -> None:
        estimate = guard.estimate(routed)
        reservation = ledger.reserve(scopes, estimate.usd, estimate.tokens)
        ledger.settle(reservation, estimate.usd, estimate.tokens)

    timed("budget: estimate, reserve, settle (SQLite)", reserve_settle)
    provider = OpenAIProvider(MODEL, base_url=upstream_url, api_key=UPSTREAM_KEY)
    n_net = max(200, rounds // 4)
    await atimed(
        "provider call via the openai SDK (round trip)", lambda: provider.complete(routed), n_net
    )
    raw = httpx.AsyncClient(
        base_url=upstream_url, headers={"authorization": f"Bearer {UPSTREAM_KEY}"}
    )
    payload = orjson.dumps(to_openai_request(routed, MODEL, stream=False))

    async def raw_call() -> object:
        reply = await raw.post(
            "/chat/completions", content=payload, headers={"content-type": "application/json"}
        )
        return parse_completion(orjson.loads(reply.content))

    await atimed("same call with raw httpx (round trip)", raw_call, n_net)
    lean = OpenAIHttpProvider(MODEL, base_url=upstream_url, api_key=UPSTREAM_KEY)
    await atimed(
        "provider call via the lean HTTP transport (round trip)",
        lambda: lean.complete(routed),
        n_net,
    )
    await lean.aclose()
    await raw.aclose()
    await provider.aclose()
    response: ModelResponse = await OpenAIHttpProvider(
        MODEL, base_url=upstream_url, api_key="x"
    ).complete(routed)
    timed(
        "answer body (canonical → JSON bytes)",
        lambda: orjson.dumps(completion_body(response, completion_id="c", created=1, model="m")),
    )
    ledger.spend_log.close()
    return out


# --- the run --------------------------------------------------------------------------------------


def _setup_key(base: str) -> str:
    tenant = httpx.post(
        f"{base}/api/tenants",
        json={"tenant_id": "bench", "plan": "enterprise", "limits": LIMITS},
        timeout=10,
    )
    if tenant.status_code != 201:
        raise SystemExit(f"could not create the bench tenant: {tenant.text}")
    key = httpx.post(
        f"{base}/api/keys", json={"tenant_id": "bench", "role": "operator"}, timeout=10
    )
    if key.status_code != 201:
        raise SystemExit(f"could not create the bench key: {key.text}")
    token: str = key.json()["token"]
    return token


#: the gateways measured: label → NEXUS_OPENAI_TRANSPORT
TRANSPORTS = {"sdk": "sdk", "http": "http"}


def _check_answer(reply: httpx.Response) -> None:
    if reply.status_code != 200:
        raise SystemExit(f"the gateway answered HTTP {reply.status_code}: {reply.text[:500]}")
    answer = reply.json()
    if answer["choices"][0]["message"]["content"] != ANSWER_TEXT:
        raise SystemExit(f"unexpected gateway answer: {reply.text[:300]}")
    if answer["model"] != f"openai:{MODEL}" or answer["usage"]["total_tokens"] != 22:
        raise SystemExit(f"unexpected model or usage: {reply.text[:300]}")


def measure_gateway(
    args: argparse.Namespace, client: httpx.Client, up_url: str, gw_port: int
) -> dict[str, Any]:
    """Latency (plain, streamed, cache hit), load and accounting of one gateway process."""
    import gc

    gw_url = f"http://127.0.0.1:{gw_port}"
    _wait_http(f"{gw_url}/api/health")
    token = _setup_key(gw_url)
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    direct_body = orjson.dumps({"model": MODEL, "messages": PROMPT, "max_tokens": 32})
    gw_body = orjson.dumps({"model": f"openai:{MODEL}", "messages": PROMPT, "max_tokens": 32})

    def post(url: str, body: bytes) -> Callable[[], httpx.Response]:
        return lambda: client.post(url, content=body, headers=headers)

    direct = post(f"{up_url}/chat/completions", direct_body)
    _check_answer(post(f"{gw_url}/v1/chat/completions", gw_body)())
    stream = {"stream": True}
    cached = {"temperature": 0}
    out: dict[str, Any] = {}
    gc.disable()
    try:
        out["latency"] = measure_pairs(
            client,
            direct,
            post(f"{gw_url}/v1/chat/completions", gw_body),
            warmup=args.warmup,
            pairs=args.requests,
        )
        out["stream"] = measure_pairs(
            client,
            post(
                f"{up_url}/chat/completions", orjson.dumps({**orjson.loads(direct_body), **stream})
            ),
            post(
                f"{gw_url}/v1/chat/completions", orjson.dumps({**orjson.loads(gw_body), **stream})
            ),
            warmup=args.warmup // 2,
            pairs=max(100, args.requests // 2),
        )
        out["cache_hit"] = measure_pairs(
            client,
            direct,
            post(
                f"{gw_url}/v1/chat/completions", orjson.dumps({**orjson.loads(gw_body), **cached})
            ),
            warmup=10,
            pairs=max(100, args.requests // 2),
        )
    finally:
        gc.enable()
    out["load"] = load(
        gw_port, "/v1/chat/completions", gw_body, token, args.load_seconds, args.concurrency
    )
    out["status"] = httpx.get(f"{gw_url}/api/gateway/status", headers=headers, timeout=10).json()
    time.sleep(0.5)  # the call log writes in the background
    summary = httpx.get(f"{gw_url}/api/usage/summary", headers=headers, timeout=60).json()
    out["calls_accounted"] = summary["by_agent"].get("gateway", {}).get("steps", 0)
    out["cost_accounted_usd"] = summary["by_agent"].get("gateway", {}).get("cost_usd", 0)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    import gc

    up_port, floor_port = _free_port(), _free_port()
    up_url = f"http://127.0.0.1:{up_port}/v1"
    procs = [_spawn([sys.executable, PEERS, "upstream", "--port", str(up_port)])]
    _wait_port(up_port)
    procs.append(
        _spawn([sys.executable, PEERS, "floor", "--port", str(floor_port), "--upstream", up_url])
    )
    nexus = str(Path(sys.executable).with_name("nexus"))
    gateways: dict[str, int] = {}
    for label, transport in TRANSPORTS.items():
        port = _free_port()
        home = Path(tempfile.mkdtemp(prefix=f"nexus-gateway-bench-{label}-"))
        env = {
            **os.environ,
            "NEXUS_HOME": str(home),
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "OPENAI_BASE_URL": up_url,
            "NEXUS_OPENAI_TRANSPORT": transport,
            "NEXUS_LOG_LEVEL": "warning",
        }
        env.pop("NEXUS_DATABASE_URL", None)
        serve = [nexus, "serve", "--host", "127.0.0.1", "--port", str(port), "--open"]
        procs.append(_spawn(serve, env))
        gateways[label] = port
    result: dict[str, Any] = {"requests": args.requests, "warmup": args.warmup}
    client = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=4))
    try:
        _wait_port(floor_port)
        for label, port in gateways.items():
            result[label] = measure_gateway(args, client, up_url, port)
        direct_body = orjson.dumps({"model": MODEL, "messages": PROMPT, "max_tokens": 32})
        headers = {"content-type": "application/json"}
        gc.disable()
        try:
            result["floor"] = measure_pairs(
                client,
                lambda: client.post(
                    f"{up_url}/chat/completions", content=direct_body, headers=headers
                ),
                lambda: client.post(
                    f"http://127.0.0.1:{floor_port}/v1/chat/completions",
                    content=direct_body,
                    headers=headers,
                ),
                warmup=args.warmup,
                pairs=args.requests,
            )
        finally:
            gc.enable()
        result["load_upstream"] = load(
            up_port, "/v1/chat/completions", direct_body, "-", args.load_seconds, args.concurrency
        )
        result["load_concurrency"] = args.concurrency
        if args.breakdown:
            home = Path(tempfile.mkdtemp(prefix="nexus-gateway-bench-breakdown-"))
            try:
                result["breakdown_us"] = asyncio.run(breakdown(up_url, home, args.breakdown_rounds))
            except Exception as exc:  # the measured figures above stand without it
                result["breakdown_error"] = f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
        for proc in reversed(procs):
            _stop(proc)
    result["cpus"] = os.cpu_count()
    return result


def render(result: dict[str, Any]) -> str:
    lines = [
        "| path | p50 ms | p90 ms | p99 ms | mean ms |",
        "|---|---:|---:|---:|---:|",
    ]
    rows: list[tuple[str, dict[str, float]]] = [
        ("direct to the upstream", result["http"]["latency"]["direct"]),
    ]
    for label, name in (("http", "lean HTTP transport"), ("sdk", "openai SDK transport")):
        part = result[label]
        rows += [
            (f"through the gateway, {name}", part["latency"]["gateway"]),
            (f"streamed through the gateway, {name}", part["stream"]["gateway"]),
            (f"gateway cache hit (temperature 0), {name}", part["cache_hit"]["gateway"]),
        ]
    rows += [
        ("streamed, direct", result["http"]["stream"]["direct"]),
        ("through a bare ASGI proxy with httpx (floor)", result["floor"]["gateway"]),
    ]
    for label, s in rows:
        lines.append(
            f"| {label} | {s['p50_ms']:.3f} | {s['p90_ms']:.3f} | {s['p99_ms']:.3f} |"
            f" {s['mean_ms']:.3f} |"
        )
    lines += ["", "| added over direct | median ms | pairwise median ms | p99 ms | req/s |"]
    lines += ["|---|---:|---:|---:|---:|"]
    for label, name in (("http", "lean HTTP transport"), ("sdk", "openai SDK transport")):
        part = result[label]
        for kind, key in (("", "latency"), (", streamed", "stream")):
            a = part[key]
            rps = f"{part['load']['rps']:.0f}" if key == "latency" else ""
            lines.append(
                f"| gateway, {name}{kind} | {a['added_p50_ms']:.3f} |"
                f" {a['added_pairwise_p50_ms']:.3f} | {a['added_p99_ms']:.3f} | {rps} |"
            )
    flo = result["floor"]
    lines.append(
        f"| bare ASGI proxy with httpx (floor) | {flo['added_p50_ms']:.3f} |"
        f" {flo['added_pairwise_p50_ms']:.3f} | {flo['added_p99_ms']:.3f} | |"
    )
    lines += [
        "",
        f"Load: {result['load_concurrency']} keep-alive connections from a separate process;"
        f" the upstream alone serves {result['load_upstream']['rps']:.0f} req/s.",
    ]
    for label in ("http", "sdk"):
        part = result[label]
        lines.append(
            f"{label}: load p50 {part['load']['p50_ms']:.2f} ms, p99 {part['load']['p99_ms']:.2f}"
            f" ms, {part['load']['errors']} errors; calls in the usage analytics"
            f" {part['calls_accounted']} (${part['cost_accounted_usd']:.4f})."
        )
    if "breakdown_error" in result:
        lines += ["", f"The in-process breakdown failed: {result['breakdown_error']}"]
    if "breakdown_us" in result:
        lines += ["", "| step (in-process) | µs |", "|---|---:|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in result["breakdown_us"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="measured pairs")
    parser.add_argument("--warmup", type=int, default=300, help="pairs before measuring")
    parser.add_argument("--load-seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16, help="connections of the load")
    parser.add_argument("--breakdown", action="store_true", help="also time the steps in-process")
    parser.add_argument("--breakdown-rounds", type=int, default=5000)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    result = run(args)
    print(render(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
