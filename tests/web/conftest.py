"""Browser test fixtures: a real ``nexus serve`` on loopback with its own NEXUS_HOME, and
Playwright driving Debian's Chromium (``scripts/setup-browser.sh`` installs it).

Without the browser the browser tests skip locally and fail in CI (``CI`` set), so a
CI machine that lost its browser cannot pass by skipping them. Screenshots land in
``artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
EXAMPLE = REPO / "examples" / "slugify"
CHROMIUM = os.environ.get("NEXUS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TERMINAL = ("succeeded", "failed", "cancelled")


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser tests; see scripts/setup-browser.sh)")
    pytest.skip(f"{reason}; run scripts/setup-browser.sh (as root) to enable the browser tests")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _nexus_command() -> list[str]:
    script = Path(sys.executable).with_name("nexus")
    if script.exists():
        return [str(script)]
    found = shutil.which("nexus")
    assert found, "the nexus command is not installed (pip install -e .)"
    return [found]


@dataclass
class Server:
    """A running ``nexus serve`` and a client for its API."""

    url: str
    process: subprocess.Popen[bytes]
    home: Path
    log: Path

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def start_run(self, plan: dict[str, Any] | str, **body: Any) -> str:
        with self.api() as client:
            reply = client.post("/api/runs", json={"plan": plan, **body})
        assert reply.status_code == 201, reply.text
        run_id: str = reply.json()["run_id"]
        return run_id

    def wait_run(self, run_id: str, statuses: tuple[str, ...] = TERMINAL, timeout: float = 60):
        deadline = time.monotonic() + timeout
        with self.api() as client:
            while True:
                body = client.get(f"/api/runs/{run_id}").json()
                if body["status"] in statuses:
                    return body
                assert time.monotonic() < deadline, f"run {run_id} stayed {body['status']}"
                time.sleep(0.1)


def slugify_plan() -> dict[str, Any]:
    """The demo plan with its workspace seed as an absolute path (it is sent inline)."""
    plan: dict[str, Any] = yaml.safe_load((EXAMPLE / "plan.yaml").read_text())
    plan["workspace"] = {"seed": str(EXAMPLE / "project")}
    return plan


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``nexus serve`` on 127.0.0.1 with a fresh home, offline model answers from the demo's
    cassettes, and quick claim and stream polling."""
    home = tmp_path_factory.mktemp("web-home")
    port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("NEXUS_") or k == "NEXUS_CHROMIUM"
    }
    env.update(
        {
            "NEXUS_HOME": str(home),
            "NEXUS_CASSETTES": str(EXAMPLE / "cassettes"),
            "NEXUS_CLAIM_INTERVAL_S": "0.2",
            "NEXUS_STREAM_POLL_S": "0.1",
            "NEXUS_LOG_LEVEL": "WARNING",
            "GIT_AUTHOR_NAME": "Nexus Test",
            "GIT_AUTHOR_EMAIL": "nexus@example.invalid",
            "GIT_COMMITTER_NAME": "Nexus Test",
            "GIT_COMMITTER_EMAIL": "nexus@example.invalid",
        }
    )
    log = home / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*_nexus_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, f"nexus serve exited: {log.read_text()[-2000:]}"
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"nexus serve did not start: {log.read_text()[-2000:]}"
        time.sleep(0.1)
    try:
        yield Server(url, process, home, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium under Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        _missing(f"Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, timeout=30_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class PageErrors:
    """Uncaught errors and console errors of the pages of a test."""

    messages: list[str]

    def check(self) -> None:
        assert not self.messages, "the page reported errors:\n" + "\n".join(self.messages)


def new_page(context: Any, errors: PageErrors) -> Any:
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda exc: errors.messages.append(f"uncaught: {exc}"))
    page.on(
        "console",
        lambda msg: errors.messages.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    return page


def screenshot(page: Any, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot as artifacts/screenshots/<name>.png (the viewport by default)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
