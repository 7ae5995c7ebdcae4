"""The ``healthcheck`` handler: is the store reachable, the workspace usable, a model there?"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import shutil
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from nexus.errors import ToolError
from nexus.handlers.base import BaseHandler, StepContext, StepResult
from nexus.handlers.common import check_params

__all__ = ["CHECKS", "HealthcheckHandler"]

CHECKS = ("store", "workspace", "models")
DEFAULT_CHECK_TIMEOUT = 10.0


class _Skip(Exception):
    """A check that cannot run here (nothing to check); not a failure unless asked for."""


class _Failed(Exception):
    """A check that ran and found a problem; the message is the detail."""


class HealthcheckHandler(BaseHandler):
    """Run the checks and output ``{check: {"ok": bool, "detail": str}}``; fail if any fails.

    ``store``: ``ctx.services.store.stats()`` answers. ``workspace``: the
    directory exists, a file can be written in it, and git runs. ``models``:
    ``ctx.services.models.names()`` lists at least one model. A check with
    nothing to check (no services, no workspace) is reported as skipped with
    ``ok: true``, unless it was named in ``checks``: then it fails.
    """

    name = "healthcheck"
    description = "Check the store, the workspace (writable, git) and the models."
    params_schema: dict[str, Any] = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "checks": {
                "type": "array",
                "items": {"enum": list(CHECKS)},
                "uniqueItems": True,
                "minItems": 1,
                "description": "Checks that must pass (default: every check that applies).",
            },
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": DEFAULT_CHECK_TIMEOUT,
                "description": "Seconds each check may take.",
            },
        },
        "required": [],
        "additionalProperties": False,
    }

    async def run(self, ctx: StepContext) -> StepResult:
        params = check_params(self.name, self.params_schema, ctx.params)
        required = set(params.get("checks") or ())
        timeout = float(params.get("timeout", DEFAULT_CHECK_TIMEOUT))
        if ctx.timeout:
            timeout = min(timeout, ctx.timeout)
        runners: dict[str, Callable[[], Awaitable[str]]] = {
            "store": lambda: _check_store(ctx.services),
            "workspace": lambda: _check_workspace(ctx.workspace, timeout),
            "models": lambda: _check_models(ctx.services),
        }
        names = [n for n in CHECKS if n in required] if required else list(CHECKS)
        results = await asyncio.gather(
            *(_run_check(runners[n], timeout, required=n in required) for n in names)
        )
        output = dict(zip(names, results, strict=True))
        failed = [n for n, r in output.items() if not r["ok"]]
        if failed:
            listed = "; ".join(f"{n}: {output[n]['detail']}" for n in failed)
            raise ToolError(f"healthcheck failed: {listed}", checks=output)
        return StepResult(output=output, meta={"checks": names})


async def _run_check(
    check: Callable[[], Awaitable[str]], timeout: float, *, required: bool
) -> dict[str, Any]:
    try:
        detail = await asyncio.wait_for(check(), timeout)
    except _Skip as skip:
        if required:
            return {"ok": False, "detail": f"cannot check: {skip}"}
        return {"ok": True, "detail": f"skipped: {skip}", "skipped": True}
    except _Failed as failed:
        return {"ok": False, "detail": str(failed)}
    except TimeoutError:
        return {"ok": False, "detail": f"no answer within {timeout:g}s"}
    except Exception as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "detail": detail}


async def _check_store(services: Any) -> str:
    store = getattr(services, "store", None)
    if store is None:
        raise _Skip("no store in the step's services")
    stats = store.stats()
    if inspect.isawaitable(stats):
        stats = await stats
    if isinstance(stats, dict) and stats:
        shown = [f"{k}={v}" for k, v in stats.items() if isinstance(v, int | float | str)][:6]
        return "store answers: " + (", ".join(shown) if shown else f"{len(stats)} figures")
    return "store answers"


async def _check_workspace(workspace: str | None, timeout: float) -> str:
    if not workspace:
        raise _Skip("the step has no workspace")
    path = Path(workspace)
    if not path.is_dir():
        raise _Failed(f"{path} is not a directory")
    probe = path / f".nexus-probe-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"")
    except OSError as exc:
        raise _Failed(f"{path} is not writable: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    git = shutil.which("git")
    if git is None:
        raise _Failed("git is not installed (not found on PATH)")
    proc = await asyncio.create_subprocess_exec(
        git,
        "-C",
        str(path),
        "rev-parse",
        "--is-inside-work-tree",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    repo = "a git repository" if out.strip() == b"true" else "not yet a git repository"
    return f"{path} is writable, git runs, {repo}"


async def _check_models(services: Any) -> str:
    models = getattr(services, "models", None)
    if models is None:
        raise _Skip("no model registry in the step's services")
    names_fn = getattr(models, "names", None)
    if not callable(names_fn):
        raise _Skip(f"{type(models).__name__} cannot list its models")
    names = names_fn()
    if inspect.isawaitable(names):
        names = await names
    names = list(names)
    if not names:
        raise _Failed("no models are configured")
    shown = ", ".join(str(n) for n in names[:5]) + (" …" if len(names) > 5 else "")
    return f"{len(names)} model{'s' if len(names) != 1 else ''}: {shown}"
