"""A run's artifacts: the scratchpads its agents wrote and the workspace diff of every
step that committed changes (read from the run's git repository)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel, Field

from nexus.domain.runs import RunRecord, StepRecord, StepStatus
from nexus.errors import NexusError
from nexus.workspace.git import GitWorkspace

__all__ = ["ArtifactsOut", "DiffOut", "ScratchpadOut", "collect_artifacts"]

MAX_SCRATCHPAD_BYTES = 256 * 1024
MAX_DIFF_CHARS = 256 * 1024
MAX_SCRATCHPADS = 200
SCRATCHPAD_DIR = "scratchpads"


class ScratchpadOut(BaseModel):
    path: str = Field(description="Relative to the workspace, e.g. scratchpads/aria_to_code.md")
    size: int
    content: str
    truncated: bool


class DiffOut(BaseModel):
    step_key: str
    base: str | None = Field(description="The workspace commit before the step.")
    commit: str = Field(description="The commit the step made.")
    files: list[str]
    diff: str
    truncated: bool


class ArtifactsOut(BaseModel):
    run_id: str
    workspace: str | None
    available: bool = Field(description="False when the run has no workspace on this server.")
    scratchpads: list[ScratchpadOut]
    diffs: list[DiffOut]


def _read_scratchpads(root: Path) -> list[ScratchpadOut]:
    folder = root / SCRATCHPAD_DIR
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.rglob("*.md"))[:MAX_SCRATCHPADS]:
        if path.is_symlink() or not path.is_file():
            continue
        resolved = path.resolve()
        if not resolved.is_relative_to(root.resolve()):
            continue
        size = resolved.stat().st_size
        with resolved.open("rb") as handle:
            data = handle.read(MAX_SCRATCHPAD_BYTES)
        out.append(
            ScratchpadOut(
                path=path.relative_to(root).as_posix(),
                size=size,
                content=data.decode("utf-8", errors="replace"),
                truncated=size > MAX_SCRATCHPAD_BYTES,
            )
        )
    return out


async def _diff(ws: GitWorkspace, step: StepRecord) -> DiffOut | None:
    commit = step.meta.get("commit")
    if not isinstance(commit, str) or not commit:
        return None
    base = step.meta.get("head_before")
    base = base if isinstance(base, str) and base else f"{commit}^"
    try:
        text = await ws.diff(base, commit)
        files = await ws.changed_files(base, commit)
    except NexusError:
        return None
    return DiffOut(
        step_key=step.step_key,
        base=step.meta.get("head_before"),
        commit=commit,
        files=files,
        diff=text[:MAX_DIFF_CHARS],
        truncated=len(text) > MAX_DIFF_CHARS,
    )


async def collect_artifacts(run: RunRecord, steps: list[StepRecord]) -> ArtifactsOut:
    root = Path(run.workspace) if run.workspace else None
    if root is None or not (root / ".git").exists():
        return ArtifactsOut(
            run_id=run.run_id, workspace=run.workspace, available=False, scratchpads=[], diffs=[]
        )
    scratchpads = await asyncio.to_thread(_read_scratchpads, root)
    ws = GitWorkspace(root)
    committed = sorted(
        (s for s in steps if s.status == StepStatus.SUCCEEDED and s.meta.get("commit")),
        key=lambda s: (s.finished_at or 0.0, s.step_key),
    )
    diffs = [d for d in [await _diff(ws, s) for s in committed] if d is not None]
    return ArtifactsOut(
        run_id=run.run_id,
        workspace=run.workspace,
        available=True,
        scratchpads=scratchpads,
        diffs=diffs,
    )
