"""Settings of the API server: the Nexus settings plus how the server executes and streams."""

from __future__ import annotations

from pydantic import Field

from nexus.settings import Settings

__all__ = ["ServerSettings"]


class ServerSettings(Settings):
    """``NEXUS_…`` variables read by ``nexus serve`` (besides those of :class:`Settings`).

    ``api_open`` (``NEXUS_API_OPEN=1`` or ``nexus serve --open``): requests without an
    API key act as the admin of the default tenant even when keys are configured.
    ``workers``: runs this server executes at once. ``claim``: pick up runnable runs
    from the store (runs created elsewhere, runs whose executor died) every
    ``claim_interval_s`` seconds. ``stream_poll_s``: how often a live stream of a run
    executed by another process reads the store for new events.
    """

    api_open: bool = False
    workers: int = Field(8, ge=1, le=1024)
    claim: bool = True
    claim_interval_s: float = Field(1.0, gt=0, le=60)
    stream_poll_s: float = Field(0.5, gt=0, le=30)
    shutdown_timeout_s: float = Field(10.0, gt=0)
