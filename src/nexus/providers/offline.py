"""The ``offline`` provider (M1): deterministic replies from cassettes, no network.

It is the embedded default model (``offline:replay``). For each request it looks up
the recorded interaction for (task, agent, step, turn) — see
:mod:`nexus.providers.cassette` — in, by priority:

1. the files and directories named by ``NEXUS_CASSETTES`` (``os.pathsep``-separated),
2. the directories in ``request.metadata["cassette_dirs"]`` (the plan's directory),
3. the cassettes bundled with Nexus.

No recording means :class:`~nexus.errors.NoRecordingError` at once, with a
message saying how to configure a real model. Usage comes from the recording
and is priced by the price table, so a replayed run shows what it would cost.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from nexus.domain.messages import ModelRequest, ModelResponse
from nexus.errors import NoRecordingError
from nexus.providers.base import StreamChunk, stream_via_complete
from nexus.providers.cassette import CassetteLibrary, InteractionKey, response_from_record
from nexus.providers.pricing import PriceTable, default_price_table

__all__ = ["OfflineProvider", "bundled_cassette_dir", "cassette_dirs_from_env"]

_CONFIGURE_HINT = (
    "configure a model provider, e.g. NEXUS_DEFAULT_MODEL=openai:gpt-4o-mini with"
    " OPENAI_API_KEY, or anthropic:…/ollama:… (see docs/providers.md)"
)


def bundled_cassette_dir() -> Path:
    """The directory of cassettes shipped inside the package."""
    return Path(str(resources.files("nexus.providers").joinpath("cassettes")))


def cassette_dirs_from_env(value: str | None = None) -> list[Path]:
    """The paths in ``NEXUS_CASSETTES`` (or ``value``), split on ``os.pathsep``."""
    raw = os.environ.get("NEXUS_CASSETTES", "") if value is None else value
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


class OfflineProvider:
    """Replays cassettes. ``model`` is the part after ``offline:`` (only a label)."""

    name = "offline"

    def __init__(
        self,
        model: str = "replay",
        cassette_dirs: Sequence[str | Path] | None = None,
        *,
        include_bundled: bool = True,
        prices: PriceTable | None = None,
    ) -> None:
        self.model = model or "replay"
        self.cassette_dirs: tuple[Path, ...] = tuple(
            Path(p) for p in (cassette_dirs_from_env() if cassette_dirs is None else cassette_dirs)
        )
        self.include_bundled = include_bundled
        self._prices = prices
        self._libraries: dict[tuple[Any, ...], CassetteLibrary] = {}

    def sources_for(self, request: ModelRequest) -> list[Path]:
        """Where cassettes are searched for this request, in priority order."""
        sources = list(self.cassette_dirs)
        extra = request.metadata.get("cassette_dirs") or ()
        if isinstance(extra, (str, Path)):
            extra = [extra]
        sources.extend(Path(str(p)) for p in extra)
        if self.include_bundled:
            sources.append(bundled_cassette_dir())
        return sources

    async def complete(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        turn = int(request.metadata.get("turn") or 1)
        task = request.metadata.get("task")
        key = InteractionKey.of(
            None if task is None else str(task), request.agent_id, request.step_key, turn
        )
        library = self._library(self.sources_for(request))
        found = library.find(key)
        if found is None:
            raise self._no_recording(library, key, task)
        file, cassette, interaction = found
        response = response_from_record(interaction.response, request.model, turn=turn)
        prices = self._prices or default_price_table()
        usage = response.usage.model_copy(
            update={"cost_usd": prices.cost_of(request.model, response.usage)}
        )
        return response.model_copy(
            update={
                "usage": usage,
                "latency_s": time.perf_counter() - started,
                "provider_meta": {
                    "offline": True,
                    "cassette": file.name,
                    "recorded_with": cassette.model_label,
                },
            }
        )

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        return stream_via_complete(self, request)

    def check(self) -> dict[str, Any]:
        """Whether the configured and bundled cassettes load: ``{"ok", "detail"}``."""
        sources = list(self.cassette_dirs)
        if self.include_bundled:
            sources.append(bundled_cassette_dir())
        library = self._library(sources)  # a broken cassette raises ConfigError
        tasks = len(library.tasks)
        where = "bundled" if not self.cassette_dirs else "NEXUS_CASSETTES and bundled"
        return {
            "ok": True,
            "detail": f"{len(library.files)} cassette(s), {tasks} recorded task(s) ({where})",
        }

    def _library(self, sources: Iterable[Path]) -> CassetteLibrary:
        paths = tuple(sources)
        signature = (paths, tuple(_stamp(p) for p in paths))
        library = self._libraries.get(signature)
        if library is None:
            library = CassetteLibrary(paths)
            if len(self._libraries) > 32:
                self._libraries.clear()
            self._libraries[signature] = library
        return library

    def _no_recording(
        self, library: CassetteLibrary, key: InteractionKey, task: Any
    ) -> NoRecordingError:
        where = f"agent {key.agent or '?'}, step {key.step or '?'}, turn {key.turn}"
        details: dict[str, Any] = {
            "agent": key.agent,
            "step": key.step,
            "turn": key.turn,
            "task": task,
            "searched": [str(f) for f in library.files],
        }
        if task is not None and library.has_task(str(task)):
            return NoRecordingError(
                f"the offline model's recording of this task has no answer for {where}"
                f" (the run went another way than the recording); {_CONFIGURE_HINT}",
                **details,
            )
        return NoRecordingError(
            f"the offline model has no recording for this task ({where}); {_CONFIGURE_HINT}",
            **details,
        )


def _stamp(path: Path) -> tuple[Any, ...]:
    """Changes whenever a cassette under ``path`` is added, removed or edited."""
    stamps: list[Any] = []
    for folder in (path, path / "cassettes"):
        try:
            stat = folder.stat()
        except OSError:
            stamps.append(None)
            continue
        stamps.append(stat.st_mtime_ns)
        if folder.is_dir():
            for child in sorted(folder.iterdir()):
                if child.suffix in (".yaml", ".yml"):
                    try:
                        child_stat = child.stat()
                    except OSError:
                        continue
                    stamps.append((child.name, child_stat.st_mtime_ns, child_stat.st_size))
    return tuple(stamps)
