"""In-process live event fan-out. Durable events live in the store; this only pushes them
to subscribers (CLI progress, SSE, WebSocket) as they happen."""

from __future__ import annotations

import logging
from collections.abc import Callable

from nexus.domain.runs import Event

log = logging.getLogger(__name__)

EventListener = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[EventListener] = []

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    @property
    def active(self) -> bool:
        return bool(self._listeners)

    def publish(self, event: Event) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken subscriber must not break a run
                log.exception("event listener failed on %s", event.type)
