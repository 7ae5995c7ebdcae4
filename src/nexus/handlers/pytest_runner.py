"""The ``pytest`` handler: run the workspace's tests and return structured results.

Failing tests are a result, not an error: the step succeeds with ``failed > 0``
so that a plan can branch on it (``if: steps.tests.output.failed > 0``). Only a
pytest that could not run (internal or usage error, a crash, a timeout) fails
the step.
"""

from __future__ import annotations

import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from nexus.errors import StepTimeout, ToolError
from nexus.handlers.base import BaseHandler, StepContext, StepResult
from nexus.handlers.common import check_params, effective_timeout, fatal, require_workspace
from nexus.handlers.junit import TestSummary, format_report, parse_junit_xml
from nexus.handlers.sandbox import ProcessResult, run_sandboxed
from nexus.handlers.shell import ENV_PARAM_SCHEMA, env_from_param, limits_for
from nexus.workspace.paths import resolve_inside

__all__ = ["DEFAULT_PYTEST_TIMEOUT", "PytestHandler"]

DEFAULT_PYTEST_TIMEOUT = 300.0
#: pytest exit codes (``pytest.ExitCode``)
EXIT_OK, EXIT_TESTS_FAILED, EXIT_INTERRUPTED, EXIT_INTERNAL, EXIT_USAGE, EXIT_NO_TESTS = range(6)
_CONFIG_FILES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
_TAIL_LINES = 20


class PytestHandler(BaseHandler):
    """Run ``python -m pytest <args>`` in the workspace and parse its JUnit XML report.

    Output: ``passed``, ``failed``, ``errors`` (collection, setup and teardown
    errors), ``skipped``, ``total``, ``exit_code``, ``duration_s``, ``failures``
    (``test``, ``message``, ``details``, ``kind``) and ``report`` (counts plus
    each failure's assertion lines). The interpreter is the one running Nexus;
    the cache provider is off and no bytecode is written, so the workspace only
    changes where the tests themselves change it. A workspace without its own
    pytest configuration gets an empty one, so settings of directories above it
    do not apply.
    """

    name = "pytest"
    description = "Run the workspace's tests with pytest; structured pass/fail counts."
    params_schema: dict[str, Any] = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "args": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Arguments after 'python -m pytest', e.g. ['-q', 'tests/'].",
            },
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": DEFAULT_PYTEST_TIMEOUT,
            },
            "cwd": {"type": "string", "description": "Directory inside the workspace."},
            "env": ENV_PARAM_SCHEMA,
        },
        "required": [],
        "additionalProperties": False,
    }

    async def run(self, ctx: StepContext) -> StepResult:
        params = check_params(self.name, self.params_schema, ctx.params)
        workspace = require_workspace(ctx, self.name)
        cwd = resolve_inside(workspace, params["cwd"]) if params.get("cwd") else workspace
        if not cwd.is_dir():
            raise fatal(ToolError(f"pytest: cwd '{params['cwd']}' is not a directory"))
        timeout = effective_timeout(float(params.get("timeout", DEFAULT_PYTEST_TIMEOUT)), ctx)
        args = [str(a) for a in params.get("args", [])]

        with tempfile.TemporaryDirectory(prefix="nexus-pytest-") as tmp:
            report_path = Path(tmp) / "junit.xml"
            argv = [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                f"--junitxml={report_path}",
                "-o",
                "junit_family=xunit1",
                "-o",
                "verbosity_assertions=2",
            ]
            if not any((cwd / name).is_file() for name in _CONFIG_FILES):
                empty = Path(tmp) / "pytest.ini"
                empty.write_text("[pytest]\n", encoding="utf-8")
                argv += ["-c", str(empty), f"--rootdir={cwd}"]
            env = env_from_param(params.get("env"), extra={"PYTHONDONTWRITEBYTECODE": "1"})
            env.pop("PYTEST_CURRENT_TEST", None)
            result = await run_sandboxed(
                [*argv, *args], cwd=cwd, env=env, timeout=timeout, limits=limits_for(timeout)
            )
            xml_text = report_path.read_bytes() if report_path.is_file() else None

        if result.timed_out:
            raise StepTimeout(
                f"pytest timed out after {timeout:g}s in {cwd} (its process group was killed)"
                + _tail(result),
                exit_code=result.exit_code,
            )
        summary = self._summary(result, xml_text, cwd)
        output = {
            "passed": summary.passed,
            "failed": summary.failed,
            "errors": summary.errors,
            "skipped": summary.skipped,
            "total": summary.total,
            "exit_code": result.exit_code,
            "duration_s": result.duration_s,
            "failures": [f.to_dict() for f in summary.failures],
            "report": format_report(
                summary, exit_code=result.exit_code, duration_s=result.duration_s
            ),
        }
        return StepResult(output=output, meta={"args": args, "cwd": str(cwd)})

    @staticmethod
    def _summary(result: ProcessResult, xml_text: bytes | None, cwd: Path) -> TestSummary:
        code = result.exit_code
        if code in (EXIT_INTERNAL, EXIT_USAGE):
            what = "an internal error" if code == EXIT_INTERNAL else "a usage error"
            raise fatal(
                ToolError(
                    f"pytest could not run in {cwd}: {what} (exit code {code})" + _tail(result),
                    exit_code=code,
                )
            )
        if code not in (EXIT_OK, EXIT_TESTS_FAILED, EXIT_INTERRUPTED, EXIT_NO_TESTS):
            raise ToolError(
                f"pytest did not finish in {cwd} (exit code {code})" + _tail(result),
                exit_code=code,
            )
        if xml_text is None:
            if code == EXIT_NO_TESTS:
                return TestSummary()
            raise ToolError(
                f"pytest wrote no JUnit report in {cwd} (exit code {code})" + _tail(result),
                exit_code=code,
            )
        try:
            return parse_junit_xml(xml_text)
        except ET.ParseError as exc:
            raise ToolError(f"pytest's JUnit report from {cwd} is not valid XML: {exc}") from exc


def _tail(result: ProcessResult) -> str:
    text = "\n".join(part for part in (result.stdout.strip(), result.stderr.strip()) if part)
    lines = text.splitlines()[-_TAIL_LINES:]
    return (":\n" + "\n".join(lines)) if lines else ""
