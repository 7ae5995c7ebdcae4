"""Usage errors of the ``nexus`` command: exit 2 with one clear message, found before any run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import nexus
from nexus.cli.app import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def test_a_bad_input_names_the_argument(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: p\nsteps: {}\n")
    code, out, err = invoke("run", str(plan), "--input", "who=me", "--input", "oops")
    assert code == 2
    assert out == ""
    assert err.strip() == "error: --input 'oops': expected KEY=VALUE (no '=' found)"


def test_a_missing_plan_file_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    code, out, err = invoke("run", str(missing))
    assert code == 2
    assert out == ""
    assert err.strip() == f"error: plan file not found: {missing}"
    code, out, err = invoke("plan", "validate", str(missing))
    assert code == 2
    assert "plan file not found" in err


def test_with_json_the_error_is_also_a_json_document(tmp_path: Path) -> None:
    code, out, err = invoke("run", "nope.json", "--json")
    assert code == 2
    assert json.loads(out) == {"error": {"code": "not_found", "message": err[7:].strip()}}
    assert err.startswith("error: plan file not found")


def test_a_bad_fork_setting_names_the_option() -> None:
    code, _, err = invoke("runs", "fork", "r1", "--from", "implement", "--set", "=3")
    assert code == 2
    assert err.strip() == "error: --set '=3': expected KEY=VALUE (the key is empty)"


@pytest.mark.parametrize(
    "args",
    [
        ["run"],  # the plan or task is required
        ["runs", "list", "--status", "sleeping"],
        ["runs", "list", "--limit", "0"],
        ["runs", "fork", "r1"],  # --from is required
        ["runs", "answer", "r1", "yes"],  # --step is required
        ["nosuchcommand"],
    ],
)
def test_malformed_command_lines_exit_2(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_bad_settings_are_reported_as_configuration_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("NEXUS_MAX_CONCURRENCY=0\n")  # read from the working dir
    code, out, err = invoke("runs", "list")
    assert code == 2
    assert out == ""
    assert err.startswith("error: invalid settings: NEXUS_MAX_CONCURRENCY:")
    assert "greater than or equal to 1" in err


def test_version() -> None:
    code, out, _ = invoke("version", "--json")
    assert code == 0
    assert json.loads(out)["version"] == nexus.__version__
    code, out, _ = invoke("version")
    assert out.startswith(f"nexus {nexus.__version__} ")


def test_help_documents_the_exit_codes() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    assert "3 run waiting for input" in " ".join(out.split())
