"""Writing the audit log in batches, and exporting it as JSON lines or CSV.

:class:`AuditWriter` gathers the entries of concurrent requests while one
batch commits and writes the next batch in one transaction (group commit);
``append`` returns once its entry is committed.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

from nexus.errors import ConfigError
from nexus.tenancy.models import AuditEntry
from nexus.tenancy.store import TenancyStore

__all__ = ["EXPORT_FIELDS", "AuditWriter", "export_audit", "format_entries", "parse_since"]

log = logging.getLogger(__name__)

#: The columns of an export, in order.
EXPORT_FIELDS = (
    "seq", "time", "ts", "tenant_id", "actor", "action", "resource", "outcome", "status",
    "client_ip", "detail",
)  # fmt: skip


class AuditWriter:
    """Appends audit entries to the store in batches."""

    def __init__(self, store: TenancyStore) -> None:
        self._store = store
        self._pending: list[tuple[AuditEntry, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0

    async def append(self, entry: AuditEntry) -> None:
        """Append ``entry``; returns when it is committed (raises if the write failed)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, future))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flusher())
        await future

    async def _flusher(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._store.append_audit([entry for entry, _ in batch])
                    self.batches += 1
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._task = None

    async def drain(self) -> None:
        """Wait until everything appended so far is written."""
        while self._task is not None:
            await asyncio.shield(self._task)


def parse_since(text: str | None) -> float | None:
    """``--since``: an ISO date or time (UTC unless it names a zone), or a duration back from
    now such as ``30m``, ``12h``, ``7d``; None for no bound."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return datetime.now(UTC).timestamp() - float(text[:-1]) * units[text[-1]]
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--since {text!r} is neither an ISO date/time (2025-01-31, 2025-01-31T12:00) "
            "nor a duration (30m, 12h, 7d)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _row(entry: AuditEntry) -> dict[str, object]:
    data = entry.to_dict()
    data["time"] = datetime.fromtimestamp(entry.ts, UTC).isoformat(timespec="milliseconds")
    return {name: data.get(name) for name in EXPORT_FIELDS}


def format_entries(entries: Sequence[AuditEntry], fmt: str, *, header: bool = True) -> str:
    """Entries as JSON lines (``jsonl``) or CSV (``csv``, with a header row if ``header``)."""
    if fmt == "jsonl":
        return "".join(json.dumps(_row(e), ensure_ascii=False) + "\n" for e in entries)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
        if header:
            writer.writeheader()
        for entry in entries:
            writer.writerow({k: "" if v is None else v for k, v in _row(entry).items()})
        return out.getvalue()
    raise ConfigError(f"unknown export format {fmt!r}; use jsonl or csv")


async def export_audit(
    store: TenancyStore,
    fmt: str = "jsonl",
    *,
    tenant_id: str | None = None,
    since: float | None = None,
    page: int = 1000,
) -> AsyncIterator[str]:
    """The matching entries, oldest first, as chunks of text in ``fmt``."""
    if fmt not in ("jsonl", "csv"):
        raise ConfigError(f"unknown export format {fmt!r}; use jsonl or csv")
    after = 0
    first = True
    while True:
        entries = await store.read_audit(
            tenant_id=tenant_id, since=since, after_seq=after, limit=page
        )
        if first and fmt == "csv":
            yield format_entries([], "csv")
        first = False
        if not entries:
            return
        yield format_entries(entries, fmt, header=False)
        after = entries[-1].seq or after
        if len(entries) < page:
            return
