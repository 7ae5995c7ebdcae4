"""X5 / D2: two `nexus serve` processes share one PostgreSQL database. The one executing a
run is killed with SIGKILL mid-step; the other takes the run over once the lease expires
and finishes it. Succeeded steps do not run again; the interrupted one runs at most twice.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import nexus_cmd
from .sleeping_plan import SleepingPlan

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, name: str, tmp: Path, database_url: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            NEXUS_HOME=str(tmp / f"home-{name}"),
            NEXUS_DATABASE_URL=database_url,
            NEXUS_LEASE_TTL_S="2",
            NEXUS_CLAIM_INTERVAL_S="0.3",
            NEXUS_API_OPEN="1",
        )
        self.log = (tmp / f"server-{name}.log").open("w")
        self.proc = subprocess.Popen(
            [*nexus_cmd(), "serve", "--port", str(self.port), "--workers", "2"],
            env=env,
            cwd=tmp,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, f"server exited with {self.proc.returncode}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.url}{path}", timeout=10)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def servers(tmp_path: Path, pg_database_url: str) -> Iterator[tuple[Server, Server]]:
    a = Server("a", tmp_path, pg_database_url)
    b = Server("b", tmp_path, pg_database_url)
    try:
        a.wait_ready()
        b.wait_ready()
        yield a, b
    finally:
        a.stop()
        b.stop()


def test_a_killed_server_s_run_is_finished_by_the_other(
    tmp_path: Path, servers: tuple[Server, Server]
) -> None:
    a, b = servers
    sleeping = SleepingPlan.in_dir(tmp_path)
    counter = sleeping.counter
    plan = sleeping.yaml("takeover")
    created = httpx.post(f"{a.url}/api/runs", json={"plan": plan}, timeout=30)
    assert created.status_code == 201, created.text
    run_id = created.json()["run_id"]

    sleeping.wait_for_step_two()
    executing = [s for s in (a, b) if run_id in s.get("/api/system/executor")["active"]]
    assert len(executing) == 1, "exactly one server executes the run"
    victim = executing[0]
    survivor = b if victim is a else a
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(timeout=10)
    sleeping.kill_sleep()
    assert counter.read_text().split() == ["one", "two"]

    deadline = time.monotonic() + 60
    while (run := survivor.get(f"/api/runs/{run_id}"))["status"] != "succeeded":
        assert run["status"] in ("created", "running"), run
        assert time.monotonic() < deadline, f"the survivor never finished the run: {run}"
        time.sleep(0.2)

    assert counter.read_text().split() == ["one", "two", "two", "three"]
    events = survivor.get(f"/api/runs/{run_id}/events?limit=1000")["events"]
    types = [e["type"] for e in events]
    assert types.count("run.started") == 1 and types.count("run.resumed") == 1
    started = [e["step_key"] for e in events if e["type"] == "step.started"]
    assert started.count("one") == 1 and started.count("two") == 2
    steps = {s["step_key"]: s for s in survivor.get(f"/api/runs/{run_id}/steps")}
    assert steps["one"]["attempt"] == 1 and steps["three"]["status"] == "succeeded"
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
