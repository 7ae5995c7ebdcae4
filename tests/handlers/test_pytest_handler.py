"""The pytest handler on small generated projects: exact counts, failures and the report."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nexus.errors import StepTimeout, ToolError
from nexus.handlers.pytest_runner import PytestHandler

from .conftest import MakeCtx


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


CALC = {
    "calc.py": """\
        def add(a, b):
            return a + b
        """,
    "tests/test_calc.py": """\
        from calc import add


        def test_add():
            assert add(2, 2) == 4


        def test_add_negative():
            assert add(-1, 1) == 0


        def test_add_wrong():
            total = add(1, 2)
            assert total == 4, "one plus two should be four"
        """,
}


async def test_two_pass_one_fails(make_ctx: MakeCtx, workspace: Path) -> None:
    write(workspace, CALC)
    result = await PytestHandler().run(make_ctx({"args": ["-q"]}))
    out = result.output
    assert {k: out[k] for k in ("passed", "failed", "errors", "skipped", "total", "exit_code")} == {
        "passed": 2,
        "failed": 1,
        "errors": 0,
        "skipped": 0,
        "total": 3,
        "exit_code": 1,
    }
    assert isinstance(out["duration_s"], float)
    [failure] = out["failures"]
    assert failure["test"] == "tests/test_calc.py::test_add_wrong"
    assert failure["kind"] == "failure"
    assert "one plus two should be four" in failure["message"]
    assert "assert 3 == 4" in failure["details"]

    report = out["report"]
    assert report.startswith("pytest: 2 passed, 1 failed, 0 errors, 0 skipped (3 total) in ")
    assert "FAILED tests/test_calc.py::test_add_wrong - AssertionError: one plus two" in report
    assert '>       assert total == 4, "one plus two should be four"' in report
    assert "E       assert 3 == 4" in report
    assert "tests/test_calc.py:14: AssertionError" in report
    assert "test_add_negative" not in report


async def test_cache_and_bytecode_are_not_written(make_ctx: MakeCtx, workspace: Path) -> None:
    write(workspace, CALC)
    await PytestHandler().run(make_ctx({}))
    written = sorted(str(p.relative_to(workspace)) for p in workspace.rglob("*"))
    assert written == ["calc.py", "tests", "tests/test_calc.py"]


async def test_classes_skips_and_xfails(make_ctx: MakeCtx, workspace: Path) -> None:
    write(
        workspace,
        {
            "test_mixed.py": """\
                import pytest


                class TestGroup:
                    def test_ok(self):
                        assert True

                    def test_bad(self):
                        assert [1, 2] == [1, 3]


                @pytest.mark.skip(reason="not today")
                def test_skipped():
                    pass


                @pytest.mark.xfail(reason="known bug")
                def test_known_bug():
                    assert False


                @pytest.mark.parametrize("n", [1, 2])
                def test_param(n):
                    assert n < 3
                """
        },
    )
    out = (await PytestHandler().run(make_ctx({}))).output
    assert (out["passed"], out["failed"], out["errors"], out["skipped"], out["total"]) == (
        3,
        1,
        0,
        2,
        6,
    )
    assert [f["test"] for f in out["failures"]] == ["test_mixed.py::TestGroup::test_bad"]


async def test_collection_error_counts_as_error(make_ctx: MakeCtx, workspace: Path) -> None:
    write(
        workspace,
        {
            "tests/test_ok.py": "def test_ok():\n    assert True\n",
            "tests/test_broken.py": "def test_x(:\n    pass\n",
        },
    )
    out = (await PytestHandler().run(make_ctx({}))).output
    assert (out["passed"], out["failed"], out["errors"], out["total"]) == (0, 0, 1, 1)
    assert out["exit_code"] == 2
    [error] = out["failures"]
    assert error["test"] == "tests/test_broken.py"
    assert error["kind"] == "error"
    assert "SyntaxError" in error["details"]
    assert "ERROR tests/test_broken.py" in out["report"]


async def test_setup_error_counts_as_error(make_ctx: MakeCtx, workspace: Path) -> None:
    write(
        workspace,
        {
            "test_fixture.py": """\
                import pytest


                @pytest.fixture
                def db():
                    raise RuntimeError("database is down")


                def test_uses_db(db):
                    pass


                def test_plain():
                    pass
                """
        },
    )
    out = (await PytestHandler().run(make_ctx({}))).output
    assert (out["passed"], out["failed"], out["errors"], out["total"]) == (1, 0, 1, 2)
    assert out["failures"][0]["test"] == "test_fixture.py::test_uses_db"
    assert "database is down" in out["report"]


async def test_no_tests_collected_is_not_an_error(make_ctx: MakeCtx, workspace: Path) -> None:
    write(workspace, {"app.py": "x = 1\n"})
    out = (await PytestHandler().run(make_ctx({"args": ["-q"]}))).output
    assert (out["total"], out["passed"], out["failed"], out["exit_code"]) == (0, 0, 0, 5)
    assert out["failures"] == []
    assert out["report"] == "pytest: no tests collected (exit code 5)"


async def test_usage_error_is_a_tool_error(make_ctx: MakeCtx) -> None:
    with pytest.raises(ToolError, match=r"usage error \(exit code 4\)") as info:
        await PytestHandler().run(make_ctx({"args": ["--no-such-option"]}))
    assert info.value.retryable is False
    assert "no-such-option" in str(info.value)
    with pytest.raises(ToolError, match="exit code 4"):
        await PytestHandler().run(make_ctx({"args": ["missing_dir/"]}))


async def test_config_of_directories_above_does_not_apply(
    make_ctx: MakeCtx, workspace: Path
) -> None:
    (workspace.parent / "pytest.ini").write_text("[pytest]\naddopts = --definitely-not-an-option\n")
    write(workspace, {"test_one.py": "def test_one():\n    assert True\n"})
    out = (await PytestHandler().run(make_ctx({}))).output
    assert (out["passed"], out["total"], out["exit_code"]) == (1, 1, 0)


async def test_workspace_config_is_used(make_ctx: MakeCtx, workspace: Path) -> None:
    write(
        workspace,
        {
            "pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["checks"]\n',
            "checks/test_a.py": "def test_a():\n    assert True\n",
            "other/test_b.py": "def test_b():\n    assert False\n",
        },
    )
    out = (await PytestHandler().run(make_ctx({}))).output
    assert (out["passed"], out["failed"], out["total"]) == (1, 0, 1)


async def test_secrets_are_not_visible_to_tests(
    make_ctx: MakeCtx, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_API_KEY", "sk-fake")
    write(
        workspace,
        {
            "test_env.py": """\
                import os


                def test_no_secret():
                    assert "FAKE_API_KEY" not in os.environ
                    assert os.environ["PYTHONDONTWRITEBYTECODE"] == "1"
                """
        },
    )
    out = (await PytestHandler().run(make_ctx({}))).output
    assert (out["passed"], out["failed"]) == (1, 0)


async def test_timeout(make_ctx: MakeCtx, workspace: Path) -> None:
    write(workspace, {"test_slow.py": "import time\n\ndef test_slow():\n    time.sleep(30)\n"})
    with pytest.raises(StepTimeout, match=r"pytest timed out after 1\.5s"):
        await PytestHandler().run(make_ctx({"timeout": 1.5}))
