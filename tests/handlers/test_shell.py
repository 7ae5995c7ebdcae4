"""The shell handler: output, exit codes, timeouts that kill the group, scrubbed secrets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from nexus.errors import StepTimeout, ToolError
from nexus.handlers.shell import ShellHandler

from .conftest import MakeCtx


async def test_command_string_runs_in_workspace(make_ctx: MakeCtx, workspace: Path) -> None:
    (workspace / "data.txt").write_text("one\ntwo\n")
    result = await ShellHandler().run(make_ctx({"command": "pwd; wc -l < data.txt; echo oops >&2"}))
    out = result.output
    assert out["exit_code"] == 0
    assert out["stdout"].split() == [str(workspace), "2"]
    assert out["stderr"] == "oops\n"
    assert isinstance(out["duration_s"], float) and out["duration_s"] >= 0
    assert result.meta == {
        "stdout_bytes": len(out["stdout"]),
        "stderr_bytes": 5,
        "truncated": False,
    }


async def test_argv_list_is_not_interpreted_by_a_shell(make_ctx: MakeCtx) -> None:
    result = await ShellHandler().run(make_ctx({"command": ["echo", "$HOME", "a b"]}))
    assert result.output["stdout"] == "$HOME a b\n"


async def test_stdin_and_cwd(make_ctx: MakeCtx, workspace: Path) -> None:
    (workspace / "sub").mkdir()
    result = await ShellHandler().run(
        make_ctx({"command": "pwd; tr a-z A-Z", "stdin": "hello", "cwd": "sub"})
    )
    assert result.output["stdout"] == f"{workspace / 'sub'}\nHELLO"


async def test_nonzero_exit_is_a_tool_error_unless_check_false(make_ctx: MakeCtx) -> None:
    with pytest.raises(ToolError, match=r"exited with code 3:\nbroken thing") as info:
        await ShellHandler().run(make_ctx({"command": "echo broken thing >&2; exit 3"}))
    assert info.value.details["output"]["exit_code"] == 3
    assert info.value.retryable is True

    result = await ShellHandler().run(make_ctx({"command": "exit 3", "check": False}))
    assert result.output["exit_code"] == 3


async def test_unknown_program_is_a_tool_error(make_ctx: MakeCtx) -> None:
    with pytest.raises(ToolError, match="command not found: no-such-program-xyz"):
        await ShellHandler().run(make_ctx({"command": ["no-such-program-xyz"]}))


async def test_timeout_kills_the_whole_process_group(
    make_ctx: MakeCtx, workspace: Path, process_gone: Callable[[int], bool]
) -> None:
    command = "sleep 30 & echo $! > child.pid; echo started; wait"
    with pytest.raises(StepTimeout, match=r"timed out after 1s") as info:
        await ShellHandler().run(make_ctx({"command": command, "timeout": 1}))
    child = int((workspace / "child.pid").read_text())
    assert process_gone(child)
    assert info.value.details["output"]["stdout"] == "started\n"


async def test_step_timeout_bounds_the_command_timeout(make_ctx: MakeCtx) -> None:
    with pytest.raises(StepTimeout, match=r"after 0.5s"):
        await ShellHandler().run(make_ctx({"command": "sleep 30", "timeout": 100}, timeout=0.5))


async def test_background_children_do_not_outlive_the_step(
    make_ctx: MakeCtx, workspace: Path, process_gone: Callable[[int], bool]
) -> None:
    result = await ShellHandler().run(make_ctx({"command": "sleep 30 >/dev/null 2>&1 & echo $!"}))
    assert result.output["exit_code"] == 0
    assert process_gone(int(result.output["stdout"]))


async def test_cancelling_the_step_kills_the_process_group(
    make_ctx: MakeCtx, workspace: Path, process_gone: Callable[[int], bool]
) -> None:
    pid_file = workspace / "child.pid"
    task = asyncio.create_task(
        ShellHandler().run(make_ctx({"command": "sleep 30 & echo $! > child.pid; wait"}))
    )
    for _ in range(500):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert process_gone(int(pid_file.read_text()))


async def test_secrets_are_scrubbed_from_the_environment(
    make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_API_KEY", "sk-fake-123")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-fake")
    monkeypatch.setenv("db_password", "hunter2")
    monkeypatch.setenv("DB_URL", "postgresql://app:hunter2@db.internal/app")
    monkeypatch.setenv("HARMLESS_SETTING", "visible")
    script = "env | sort"
    out = (await ShellHandler().run(make_ctx({"command": script}))).output["stdout"]
    assert "sk-fake-123" not in out and "FAKE_API_KEY" not in out
    assert "ghp-fake" not in out and "hunter2" not in out
    assert "HARMLESS_SETTING=visible" in out.splitlines()


async def test_env_allowlist_and_values(make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_API_KEY", "sk-fake-123")
    monkeypatch.setenv("OTHER_TOKEN", "tok")
    allowed = await ShellHandler().run(
        make_ctx({"command": 'echo "[$FAKE_API_KEY][$OTHER_TOKEN]"', "env": ["FAKE_API_KEY"]})
    )
    assert allowed.output["stdout"] == "[sk-fake-123][]\n"
    values = await ShellHandler().run(
        make_ctx({"command": 'echo "[$MODE][$FAKE_API_KEY]"', "env": {"MODE": "test"}})
    )
    assert values.output["stdout"] == "[test][]\n"


async def test_output_keeps_the_tail_and_says_it_was_cut(make_ctx: MakeCtx) -> None:
    command = "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done"
    result = await ShellHandler().run(make_ctx({"command": command, "max_output": 1000}))
    stdout = result.output["stdout"]
    total = sum(len(f"line-{i}\n") for i in range(3000))
    assert result.meta == {"stdout_bytes": total, "stderr_bytes": 0, "truncated": True}
    note = f"[… output truncated: the first {total - 1000} bytes are not shown …]\n"
    assert stdout.startswith(note)
    assert stdout.endswith("line-2998\nline-2999\n")
    assert len(stdout.split("…]\n", 1)[1]) == 1000


async def test_resource_limits_are_set(make_ctx: MakeCtx) -> None:
    result = await ShellHandler().run(make_ctx({"command": "ulimit -v; ulimit -c; ulimit -t"}))
    virtual_kib, core, cpu = result.output["stdout"].split()
    assert (int(virtual_kib), int(core)) == (4 * 1024 * 1024, 0)
    assert int(cpu) == 2 * 120 + 10  # a CPU backstop: twice the wall-clock timeout, plus 10 s
    smaller = await ShellHandler().run(make_ctx({"command": "ulimit -v", "memory_mb": 512}))
    assert int(smaller.output["stdout"]) == 512 * 1024


async def test_bad_parameters_are_not_retried(make_ctx: MakeCtx) -> None:
    with pytest.raises(ToolError, match=r"invalid parameters: \$: Additional properties") as info:
        await ShellHandler().run(make_ctx({"command": "true", "shell": "bash"}))
    assert info.value.retryable is False
    with pytest.raises(ToolError, match="'command' is a required property"):
        await ShellHandler().run(make_ctx({}))


async def test_needs_a_workspace_and_stays_inside_it(make_ctx: MakeCtx) -> None:
    with pytest.raises(ToolError, match="needs a workspace"):
        await ShellHandler().run(make_ctx({"command": "true"}, workspace_dir=None))
    with pytest.raises(ToolError, match="outside the workspace"):
        await ShellHandler().run(make_ctx({"command": "true", "cwd": "../.."}))
