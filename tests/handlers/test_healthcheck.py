"""The healthcheck handler with a real workspace and stand-in services."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nexus.errors import ToolError
from nexus.handlers.healthcheck import HealthcheckHandler

from .conftest import MakeCtx


class Store:
    def __init__(self, fail: bool = False, slow: bool = False) -> None:
        self.fail = fail
        self.slow = slow

    async def stats(self) -> dict[str, Any]:
        if self.slow:
            await asyncio.sleep(10)
        if self.fail:
            raise OSError("database is locked")
        return {"runs": 3, "steps": 12, "backend": "sqlite"}


class Models:
    def __init__(self, names: list[str]) -> None:
        self._names = names

    def names(self) -> list[str]:
        return list(self._names)


@dataclass
class Services:
    store: Any = field(default_factory=Store)
    models: Any = field(default_factory=lambda: Models(["offline:replay", "openai:gpt-4o"]))


async def test_all_checks_pass(make_ctx: MakeCtx, workspace: Path) -> None:
    result = await HealthcheckHandler().run(make_ctx({}, services=Services()))
    assert result.output == {
        "store": {"ok": True, "detail": "store answers: runs=3, steps=12, backend=sqlite"},
        "workspace": {
            "ok": True,
            "detail": f"{workspace} is writable, git runs, not yet a git repository",
        },
        "models": {"ok": True, "detail": "2 models: offline:replay, openai:gpt-4o"},
    }
    assert list(workspace.iterdir()) == []  # the probe file is gone


async def test_failing_checks_fail_the_step(make_ctx: MakeCtx) -> None:
    services = Services(store=Store(fail=True), models=Models([]))
    with pytest.raises(ToolError) as info:
        await HealthcheckHandler().run(make_ctx({}, services=services))
    assert str(info.value) == (
        "healthcheck failed: store: OSError: database is locked; models: no models are configured"
    )
    checks = info.value.details["checks"]
    assert checks["workspace"]["ok"] is True
    assert (checks["store"]["ok"], checks["models"]["ok"]) == (False, False)


async def test_slow_check_times_out(make_ctx: MakeCtx) -> None:
    services = Services(store=Store(slow=True))
    with pytest.raises(ToolError, match=r"store: no answer within 0\.2s"):
        await HealthcheckHandler().run(make_ctx({"timeout": 0.2}, services=services))


async def test_missing_workspace_directory_fails(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx = make_ctx({"checks": ["workspace"]}, workspace_dir=tmp_path / "gone")
    with pytest.raises(ToolError, match=r"workspace: .*gone is not a directory"):
        await HealthcheckHandler().run(ctx)


async def test_nothing_to_check_is_skipped(make_ctx: MakeCtx) -> None:
    result = await HealthcheckHandler().run(make_ctx({}, workspace_dir=None))
    assert result.output == {
        "store": {
            "ok": True,
            "detail": "skipped: no store in the step's services",
            "skipped": True,
        },
        "workspace": {"ok": True, "detail": "skipped: the step has no workspace", "skipped": True},
        "models": {
            "ok": True,
            "detail": "skipped: no model registry in the step's services",
            "skipped": True,
        },
    }


async def test_requested_check_that_cannot_run_fails(make_ctx: MakeCtx) -> None:
    with pytest.raises(ToolError, match="store: cannot check: no store in the step's services"):
        await HealthcheckHandler().run(make_ctx({"checks": ["store"]}))


async def test_only_requested_checks_run(make_ctx: MakeCtx, workspace: Path) -> None:
    result = await HealthcheckHandler().run(make_ctx({"checks": ["models"]}, services=Services()))
    assert list(result.output) == ["models"]
