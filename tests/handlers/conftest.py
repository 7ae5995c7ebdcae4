"""Building StepContext objects for handler tests; checking that processes are gone."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nexus.handlers.base import StepContext

MakeCtx = Callable[..., StepContext]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def make_ctx(workspace: Path) -> MakeCtx:
    def make(
        params: dict[str, Any],
        *,
        name: str = "tool",
        workspace_dir: Path | bool | None = True,
        timeout: float | None = None,
        services: Any = None,
    ) -> StepContext:
        if workspace_dir is True:
            ws: str | None = str(workspace)
        elif workspace_dir is False or workspace_dir is None:
            ws = None
        else:
            ws = str(workspace_dir)
        return StepContext(
            run_id="run-1",
            step_key=name,
            kind="tool",
            name=name,
            params=params,
            inputs={},
            workspace=ws,
            timeout=timeout,
            services=services,
        )

    return make


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # an unreaped zombie is gone


@pytest.fixture
def process_gone() -> Callable[[int], bool]:
    """``process_gone(pid)``: True once the process has ended (allowing a moment to be reaped)."""

    def gone(pid: int, within: float = 5.0) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            time.sleep(0.02)
        return not _alive(pid)

    return gone
