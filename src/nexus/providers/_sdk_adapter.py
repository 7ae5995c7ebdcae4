"""A remote adapter over an official provider SDK (``openai``, ``anthropic``): the call, the
stream, and the mapping of SDK errors to :mod:`nexus.providers.errors` values.

Both SDKs are generated alike: the same exception classes under other module names, a
``create`` call that takes ``timeout`` and answers pydantic models (or an async stream of
them). :class:`SdkAdapter` does the work once; an adapter names its SDK's exceptions
(:class:`SdkErrors`) and supplies its wire format: :meth:`~SdkAdapter._request`,
:meth:`~SdkAdapter._create`, :meth:`~SdkAdapter._parse` and
:meth:`~SdkAdapter._assembler`. The SDK's own retries stay off: the reliability layer
retries.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, cast

from nexus.domain.messages import ModelRequest, ModelResponse, Usage
from nexus.providers._adapter import RemoteAdapter
from nexus.providers.base import StopReason, StreamChunk
from nexus.providers.errors import (
    BadResponse,
    ProviderError,
    ProviderUnavailable,
    error_from_status,
)
from nexus.providers.translate_openai import ParsedResponse

__all__ = ["SdkAdapter", "SdkErrors", "StreamAssembler"]

SdkClientT = TypeVar("SdkClientT", bound="_SdkClient")


class _SdkClient(Protocol):
    async def close(self) -> None: ...


class _StatusError(Protocol):
    """What an SDK's ``APIStatusError`` carries."""

    status_code: int
    body: object
    response: Any


class _ApiError(Protocol):
    """What an SDK's ``APIError`` carries."""

    body: object
    message: str


class StreamAssembler(Protocol):
    """Turns the events of one streamed answer into canonical stream chunks."""

    def feed(self, event: Mapping[str, Any]) -> list[StreamChunk]: ...

    @property
    def partial_text(self) -> str: ...

    def finish(self) -> tuple[StopReason, Usage, dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class SdkErrors:
    """The exception classes of one SDK, as the error mapping checks them (in this order).

    ``base`` is the root of the SDK's errors; ``stream_event``, when set, is the class an
    error event inside a stream arrives as (it answers with HTTP 200).
    """

    base: type[Exception]
    status: type[Exception]
    timeout: type[Exception]
    connection: type[Exception]
    validation: type[Exception]
    stream_event: type[Exception] | None = None


class SdkAdapter(RemoteAdapter[SdkClientT]):
    """A :class:`~nexus.providers._adapter.RemoteAdapter` whose client is an official SDK."""

    _sdk_errors: ClassVar[SdkErrors]

    @abstractmethod
    def _request(self, request: ModelRequest, *, stream: bool) -> dict[str, Any]:
        """The keyword arguments of the SDK's ``create`` (without the timeout)."""

    @abstractmethod
    async def _create(self, client: SdkClientT, kwargs: dict[str, Any]) -> Any:
        """The SDK's ``create`` call: a pydantic model, or an async stream of them."""

    @abstractmethod
    def _parse(self, body: dict[str, Any]) -> ParsedResponse:
        """A whole answer in canonical form."""

    @abstractmethod
    def _assembler(self) -> StreamAssembler:
        """A fresh assembler for one stream."""

    async def _close_client(self, client: SdkClientT) -> None:
        await client.close()

    def _error(self, exc: BaseException, partial_text: str = "") -> ProviderError:
        """Map an SDK, transport or format error to a provider error."""
        if isinstance(exc, ProviderError):
            return exc
        kinds = self._sdk_errors
        where = (self.name, self.base_url)
        error: ProviderError
        if isinstance(exc, kinds.status):
            failed = cast(_StatusError, exc)
            error = error_from_status(
                *where, failed.status_code, failed.body, failed.response.headers
            )
        elif isinstance(exc, kinds.timeout):
            error = self._timed_out()
        elif isinstance(exc, kinds.connection):
            cause = exc.__cause__ or exc.__context__
            error = self._connect_failed(f"{type(cause).__name__}: {cause}" if cause else str(exc))
        elif kinds.stream_event is not None and isinstance(exc, kinds.stream_event):
            event = cast(_ApiError, exc)
            error = error_from_status(*where, 200, event.body or event.message)
        elif isinstance(exc, (ValueError, kinds.validation)):
            error = BadResponse.at(*where, f"unreadable response: {exc}")
        else:  # a transport error the SDK let through, e.g. a body cut short
            error = ProviderUnavailable.at(
                *where, f"the connection failed: {type(exc).__name__}: {exc}", reason="transport"
            )
        return self._interrupted(error, partial_text)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        client = self._loop_client()
        kwargs = self._request(request, stream=False)
        started = time.perf_counter()
        try:
            answer = await self._create(client, kwargs)
            parsed = self._parse(answer.model_dump())
        except (self._sdk_errors.base, ValueError) as exc:
            raise self._error(exc) from exc
        return self._response(parsed, started)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        client = self._loop_client()
        kwargs = self._request(request, stream=True)
        assembler = self._assembler()
        try:
            sdk_stream = await self._create(client, kwargs)
        except (self._sdk_errors.base, ValueError) as exc:
            raise self._error(exc) from exc
        try:
            async for event in sdk_stream:
                for out in assembler.feed(event.model_dump()):
                    yield out
            stop, usage, meta = assembler.finish()
        except Exception as exc:  # the boundary: every failure while reading becomes ours
            raise self._error(exc, assembler.partial_text) from exc
        finally:
            await sdk_stream.close()
        yield self._final(stop, usage, meta)
