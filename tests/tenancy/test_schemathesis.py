"""Schemathesis against the app's OpenAPI document, in-process: generated requests with an
admin key find no server error and no response that breaks the schema.

Bounded in time: a fixed number of derandomized examples per operation, no
shrinking. Bodies never carry ``workspace`` (a directory of the server).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from nexus.api import create_app
from nexus.tenancy.store import TenancyStore
from tests.api.conftest import server_settings

EXAMPLES_PER_OPERATION = 25
#: Endless streams: an in-process client waits for their end (SSE is tested elsewhere).
SKIPPED = {"GET /api/agents/stream"}
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


async def _admin_key(url: str) -> str:
    store = TenancyStore(url)
    await store.open()
    try:
        # generous limits: the generator sends hundreds of requests a second
        await store.update_tenant("default", overrides={"rate_per_s": 1e6, "burst": 1e6})
        _, token = await store.create_key("default", "admin", "schemathesis")
        return token
    finally:
        await store.close()


def _strip_server_paths(case: Any) -> None:
    if isinstance(case.body, dict):
        case.body.pop("workspace", None)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_generated_requests_find_no_server_error_and_no_schema_break(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'nexus.db'}"
    token = asyncio.run(_admin_key(url))
    app = create_app(settings=server_settings(database_url=url, workers=2))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    tested: list[str] = []
    started = time.monotonic()
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            name = f"{operation.method.upper()} {operation.path}"
            if name in SKIPPED:
                continue

            @hypothesis.given(
                case=operation.as_strategy(GenerationMode.POSITIVE)
                | operation.as_strategy(GenerationMode.NEGATIVE)
            )
            @hypothesis.settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                _strip_server_paths(case)
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                check()
            except Exception as exc:  # collect all, report together
                failures.append(f"{name}: {exc}")
            tested.append(name)
    finally:
        shutdown_lifespans()
    elapsed = time.monotonic() - started
    assert len(tested) >= 35, tested
    assert not failures, "\n\n".join(failures)
    print(f"schemathesis: {len(tested)} operations in {elapsed:.1f} s")
