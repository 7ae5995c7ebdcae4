"""Recording cassettes from a real model: a provider that wraps another and writes down
every answer in the cassette format the offline provider replays.

::

    registry.register("rec", lambda model: RecordingProvider(openai, "cassettes/mine.yaml"))

The file is rewritten after every answer (atomically), so a run that stops half
way leaves a usable cassette. Answering the same (task, agent, step, turn) again
replaces the earlier recording.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from nexus.domain.messages import ModelRequest, ModelResponse
from nexus.providers.base import ModelProvider, StreamChunk, complete_via_stream
from nexus.providers.cassette import (
    Cassette,
    Interaction,
    InteractionKey,
    dump_cassette,
    key_of,
    load_cassette,
    normalize_task,
    record_from_response,
)

__all__ = ["RecordingProvider"]


class RecordingProvider:
    """Passes requests to ``inner`` and appends each answer to the cassette at ``path``."""

    def __init__(self, inner: ModelProvider, path: str | Path, *, model_label: str | None = None):
        self.inner = inner
        self.path = Path(path)
        self.name = inner.name
        self.model_label = model_label
        self._lock = asyncio.Lock()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        response = await self.inner.complete(request)
        await self.record(request, response)
        return response

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        chunks: list[StreamChunk] = []
        async for chunk in self.inner.stream(request):
            chunks.append(chunk)
            yield chunk
        response = await complete_via_stream(_Replayed(self.name, chunks), request)
        await self.record(request, response)

    async def record(self, request: ModelRequest, response: ModelResponse) -> None:
        """Add (or replace) the interaction for this request in the cassette file."""
        task = request.metadata.get("task")
        task_text = None if task is None else str(task)
        turn = int(request.metadata.get("turn") or 1)
        async with self._lock:
            cassette = self._current(task_text, response.model)
            interaction = Interaction(
                agent=request.agent_id or "",
                step=request.step_key or "",
                turn=turn,
                task=None if normalize_task(task_text) == normalize_task(cassette.task) else task,
                response=record_from_response(response),
            )
            key = InteractionKey.of(task_text, interaction.agent, interaction.step, turn)
            cassette.interactions = [
                i for i in cassette.interactions if key_of(cassette, i) != key
            ] + [interaction]
            await asyncio.to_thread(dump_cassette, cassette, self.path)

    def _current(self, task: str | None, model: str) -> Cassette:
        if self.path.exists():
            return load_cassette(self.path).model_copy(deep=True)
        return Cassette(task=task, model_label=self.model_label or model)


class _Replayed:
    """A provider that streams chunks already received (to assemble a response)."""

    def __init__(self, name: str, chunks: list[StreamChunk]) -> None:
        self.name = name
        self._chunks = chunks

    async def complete(self, request: ModelRequest) -> ModelResponse:  # pragma: no cover
        return await complete_via_stream(self, request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        for chunk in self._chunks:
            yield chunk
