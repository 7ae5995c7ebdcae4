"""``nexus doctor``: is the store reachable, the home writable, git and pytest there, which
model providers are configured."""

from __future__ import annotations

import importlib.util
import os
import shutil
from typing import Any

from nexus.services import Services
from nexus.settings import Settings


def _check(ok: bool, detail: str, essential: bool = True) -> dict[str, Any]:
    return {"ok": ok, "detail": detail, "essential": essential}


async def run_checks(settings: Settings, services: Services) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    try:
        stats = await services.store.stats()
        checks["store"] = _check(
            True, f"{services.store.url.split('@')[-1]} ({stats.get('runs', '?')} runs)"
        )
    except Exception as exc:
        checks["store"] = _check(False, f"{type(exc).__name__}: {exc}")
    home = settings.home
    try:
        home.mkdir(parents=True, exist_ok=True)
        writable = os.access(home, os.W_OK)
        checks["home"] = _check(writable, f"{home} {'writable' if writable else 'not writable'}")
    except OSError as exc:
        checks["home"] = _check(False, f"{home}: {exc}")
    git = shutil.which("git")
    checks["git"] = _check(git is not None, git or "git not found on PATH")
    has_pytest = importlib.util.find_spec("pytest") is not None
    checks["pytest"] = _check(
        has_pytest, "importable" if has_pytest else "not installed", essential=False
    )
    models = services.models
    if models is not None and hasattr(models, "describe"):
        for name, info in models.describe().items():
            checks[f"provider:{name}"] = _check(
                bool(info.get("ok")), str(info.get("detail")), essential=name == "offline"
            )
    elif models is not None:
        checks["providers"] = _check(True, ", ".join(models.names()), essential=False)
    checks["default_model"] = _check(True, settings.default_model, essential=False)
    return checks
