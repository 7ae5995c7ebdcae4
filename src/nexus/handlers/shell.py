"""The ``shell`` handler: one command in the run's workspace, boxed in by :mod:`.sandbox`."""

from __future__ import annotations

import math
import os
from typing import Any

from nexus.errors import StepTimeout, ToolError
from nexus.handlers.base import BaseHandler, StepContext, StepResult
from nexus.handlers.common import check_params, effective_timeout, require_workspace
from nexus.handlers.sandbox import DEFAULT_MAX_OUTPUT, ResourceLimits, run_sandboxed, scrub_env
from nexus.workspace.paths import resolve_inside

__all__ = [
    "DEFAULT_SHELL_TIMEOUT",
    "ENV_PARAM_SCHEMA",
    "ShellHandler",
    "env_from_param",
    "limits_for",
]

DEFAULT_SHELL_TIMEOUT = 120.0
_MIB = 1024 * 1024

#: ``env``: names of variables to pass even if they look secret, or a mapping to set.
ENV_PARAM_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "array", "items": {"type": "string", "minLength": 1}},
        {"type": "object", "additionalProperties": {"type": "string"}},
    ],
    "description": "A list of variable names passed through although they look secret, "
    "or a mapping of variables to set for the command.",
}


def env_from_param(env: Any, *, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The scrubbed environment for a command, given a handler's ``env`` parameter."""
    allow: list[str] = []
    values: dict[str, str] = {}
    if isinstance(env, list):
        allow = [str(name) for name in env]
    elif isinstance(env, dict):
        values = {str(k): str(v) for k, v in env.items()}
    return scrub_env(os.environ, allow=allow, extra={**(extra or {}), **values})


def limits_for(timeout: float | None, memory_mb: int | None = None) -> ResourceLimits:
    """Resource limits for a command: CPU time as a backstop to the wall-clock timeout."""
    cpu = None if timeout is None else math.ceil(timeout * 2) + 10
    address_space = memory_mb * _MIB if memory_mb else ResourceLimits().address_space
    return ResourceLimits(cpu_seconds=cpu, address_space=address_space)


class ShellHandler(BaseHandler):
    """Run ``command`` (a string for ``/bin/sh -c`` or an argv list) in the workspace.

    Output ``{"exit_code", "stdout", "stderr", "duration_s"}``; a non-zero exit
    is a :class:`ToolError` unless ``check`` is false, a timeout a
    :class:`StepTimeout`. The environment has no secrets (see ``env``), limits
    are set on CPU time, memory and file size, and the command's whole process
    group is killed when it ends or times out.
    """

    name = "shell"
    description = "Run a shell command in the run's workspace (sandboxed, with a timeout)."
    params_schema: dict[str, Any] = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "command": {
                "oneOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "items": {"type": "string"}, "minItems": 1},
                ],
                "description": "A command line for /bin/sh -c, or an argv list run directly.",
            },
            "timeout": {"type": "number", "exclusiveMinimum": 0, "default": DEFAULT_SHELL_TIMEOUT},
            "cwd": {"type": "string", "description": "Directory inside the workspace."},
            "env": ENV_PARAM_SCHEMA,
            "stdin": {"type": "string"},
            "check": {"type": "boolean", "default": True},
            "max_output": {"type": "integer", "minimum": 0, "default": DEFAULT_MAX_OUTPUT},
            "memory_mb": {"type": "integer", "minimum": 64},
        },
        "required": ["command"],
        "additionalProperties": False,
    }

    async def run(self, ctx: StepContext) -> StepResult:
        params = check_params(self.name, self.params_schema, ctx.params)
        workspace = require_workspace(ctx, self.name)
        cwd = resolve_inside(workspace, params["cwd"]) if params.get("cwd") else workspace
        if not cwd.is_dir():
            raise ToolError(f"shell: cwd '{params['cwd']}' is not a directory in the workspace")
        command = params["command"]
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        timeout = effective_timeout(float(params.get("timeout", DEFAULT_SHELL_TIMEOUT)), ctx)
        shown = command if isinstance(command, str) else " ".join(command)

        result = await run_sandboxed(
            argv,
            cwd=cwd,
            env=env_from_param(params.get("env")),
            timeout=timeout,
            stdin=params.get("stdin"),
            limits=limits_for(timeout, params.get("memory_mb")),
            max_output=int(params.get("max_output", DEFAULT_MAX_OUTPUT)),
        )
        output = {
            "exit_code": result.exit_code,
            "stdout": result.stdout,
            "stderr": result.stderr,
            "duration_s": result.duration_s,
        }
        meta = {
            "stdout_bytes": result.stdout_bytes,
            "stderr_bytes": result.stderr_bytes,
            "truncated": result.truncated,
        }
        if result.timed_out:
            raise StepTimeout(
                f"shell: command '{_short(shown)}' timed out after {timeout:g}s "
                "(its process group was killed)",
                output=output,
            )
        if result.exit_code != 0 and params.get("check", True):
            raise ToolError(
                f"shell: command '{_short(shown)}' exited with code {result.exit_code}"
                + _last_lines(result.stderr or result.stdout),
                output=output,
            )
        return StepResult(output=output, meta=meta)


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _last_lines(text: str, count: int = 5) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()][-count:]
    return (":\n" + "\n".join(lines)) if lines else ""
