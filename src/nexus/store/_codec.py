"""How records become rows and rows become records, shared by every backend.

Payloads (plans, inputs, outputs, checkpoint states) are written as canonical
JSON: sorted keys, compact separators. A payload of at most
:data:`INLINE_MAX` bytes stays in its row; a larger one is stored once in the
``blobs`` table under its SHA-256 digest and the row keeps the digest. The
same plan saved for a thousand runs is therefore stored once.

Each payload column ``x`` has a twin ``x_h``: exactly one of them is set, or
neither when the value is ``None``. Dicts that default to empty (``meta``,
``options``, event ``data``) are stored as NULL when empty. Events of common
shapes are stored compactly (:mod:`nexus.store._event_codes`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import orjson

from nexus.domain.runs import Checkpoint, Event, RunRecord, RunStatus, StepRecord, StepStatus
from nexus.errors import StoreError
from nexus.store import _event_codes

#: Payloads up to this many characters of canonical JSON are kept inline in their row.
#: A payload in ``blobs`` costs its row's 32-byte digest plus ~100 bytes of row and index
#: overhead, so sharing pays only for payloads that repeat; a step row with two inline
#: payloads stays under SQLite's ~1,000-byte limit for a cell kept whole in its page.
INLINE_MAX = 400

_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_encoder = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
_decode = json.loads

Blobs = dict[bytes, str]
"""Digest → canonical JSON of the payloads a write needs in ``blobs``."""


def _refuse(value: Any) -> Any:
    raise TypeError  # orjson met a type the json module would not take either: ask json


def encode(value: Any) -> str:
    """Canonical JSON of ``value``, as ``json`` writes it with sorted keys and no spaces.

    orjson writes it (a tenth of the time) whenever its text reads back the same;
    anything orjson writes differently goes to the json module: ``null`` in the text
    (orjson writes NaN and infinities as null), integers beyond 64 bits, keys that
    are not strings, subclasses of built-in types, dataclasses and dates (refused
    by json: the refusal is json's). Raises ``TypeError``/``ValueError`` as json does.
    One difference is left: ``uuid.UUID`` values and members of plain ``Enum``
    classes, which json refuses, are written as their string and their value.
    """
    try:
        raw = orjson.dumps(value, default=_refuse, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _encoder.encode(value)
    if b"null" in raw:
        return _encoder.encode(value)
    return raw.decode()


def _refused(what: str, exc: Exception) -> StoreError:
    return StoreError(f"{what} cannot be stored: it is not JSON-serializable ({exc})")


def dumps(value: Any, what: str) -> str:
    """Canonical JSON of ``value``; ``what`` names the field in the error."""
    try:
        return encode(value)
    except (TypeError, ValueError) as exc:
        raise _refused(what, exc) from exc


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _split(text: str | None, blobs: Blobs) -> tuple[str | None, bytes | None]:
    """A payload's JSON as (inline JSON, digest); a large one is added to ``blobs``."""
    if text is None or len(text) <= INLINE_MAX:
        return text, None
    key = digest(text)
    blobs[key] = text
    return None, key


def payload(value: Any, what: str, blobs: Blobs) -> tuple[str | None, bytes | None]:
    """Split a payload into (inline JSON, digest); large ones are added to ``blobs``."""
    return _split(None if value is None else dumps(value, what), blobs)


def load(inline: str | None, blob: str | None) -> Any:
    """The value of a payload column pair whose digest has been resolved to ``blob``."""
    if inline is not None:
        return _decode(inline)
    if blob is not None:
        return _decode(blob)
    return None


def dict_from(text: str | None) -> dict[str, Any]:
    return _decode(text) if text else {}


def opt_dict_from(text: str | None) -> dict[str, Any] | None:
    return None if text is None else _decode(text)


# runs -----------------------------------------------------------------------

#: Columns of ``runs`` that :func:`run_row` fills (``rid`` and the lease are not part of it).
RUN_WRITE_COLUMNS = (
    "run_id", "plan_name", "plan", "plan_h", "inputs", "inputs_h", "status", "cid",
    "workspace", "tenant", "parent", "fork_step", "output", "output_h", "error",
    "created", "updated", "finished", "ver", "options",
)  # fmt: skip


def run_row(run: RunRecord, blobs: Blobs) -> dict[str, Any]:
    field = "plan"
    try:
        plan_text = encode(run.plan) if run.plan is not None else None
        field = "inputs"
        inputs_text = encode(run.inputs) if run.inputs is not None else None
        field = "output"
        output = encode(run.output) if run.output is not None else None
        field = "error"
        error = None if run.error is None else encode(run.error)
        field = "options"
        options = encode(run.options) if run.options else None
    except (TypeError, ValueError) as exc:
        raise _refused(f"run '{run.run_id}': {field}", exc) from exc
    plan, plan_h = _split(plan_text, blobs)
    inputs, inputs_h = _split(inputs_text, blobs)
    output, output_h = _split(output, blobs)
    return {
        "run_id": run.run_id,
        "plan_name": run.plan_name,
        "plan": plan,
        "plan_h": plan_h,
        "inputs": inputs,
        "inputs_h": inputs_h,
        "status": str(run.status),
        "cid": run.correlation_id,
        "workspace": run.workspace,
        "tenant": run.tenant_id,
        "parent": run.parent_run_id,
        "fork_step": run.forked_from_step,
        "output": output,
        "output_h": output_h,
        "error": error,
        "created": float(run.created_at),
        "updated": float(run.updated_at),
        "finished": None if run.finished_at is None else float(run.finished_at),
        "ver": run.schema_version,
        "options": options,
    }


#: The order in which readers hand run values to :func:`run_from`; payloads resolved.
RUN_READ_COLUMNS = (
    "run_id", "plan_name", "plan", "plan_blob", "inputs", "inputs_blob", "status", "cid",
    "workspace", "tenant", "parent", "fork_step", "output", "output_blob", "error",
    "created", "updated", "finished", "ver", "options",
)  # fmt: skip


def run_from(v: Sequence[Any]) -> RunRecord:
    return RunRecord(
        run_id=v[0],
        plan_name=v[1],
        plan=load(v[2], v[3]),
        inputs=load(v[4], v[5]),
        status=RunStatus(v[6]),
        correlation_id=v[7],
        workspace=v[8],
        tenant_id=v[9],
        parent_run_id=v[10],
        forked_from_step=v[11],
        output=load(v[12], v[13]),
        error=opt_dict_from(v[14]),
        created_at=v[15],
        updated_at=v[16],
        finished_at=v[17],
        schema_version=v[18],
        options=dict_from(v[19]),
    )


# steps ----------------------------------------------------------------------


def step_row(step: StepRecord, blobs: Blobs) -> dict[str, Any]:
    """The row of a step without ``rid`` (the writer resolves it); ``run_id`` is kept."""
    field = "input"
    try:
        input_ = None if step.input is None else encode(step.input)
        field = "output"
        output = None if step.output is None else encode(step.output)
        field = "error"
        error = None if step.error is None else encode(step.error)
        field = "meta"
        meta = encode(step.meta) if step.meta else None
    except (TypeError, ValueError) as exc:
        where = f"step '{step.step_key}' of run '{step.run_id}': {field}"
        raise _refused(where, exc) from exc
    input_, input_h = _split(input_, blobs)
    output, output_h = _split(output, blobs)
    return {
        "run_id": step.run_id,
        "key": step.step_key,
        "kind": step.kind,
        "status": str(step.status),
        "attempt": step.attempt,
        "input": input_,
        "input_h": input_h,
        "output": output,
        "output_h": output_h,
        "error": error,
        "started": None if step.started_at is None else float(step.started_at),
        "finished": None if step.finished_at is None else float(step.finished_at),
        "meta": meta,
    }


#: Reader order for :func:`step_from`, after the run id.
STEP_READ_COLUMNS = (
    "key", "kind", "status", "attempt", "input", "input_blob", "output", "output_blob",
    "error", "started", "finished", "meta",
)  # fmt: skip


def step_from(run_id: str, v: Sequence[Any]) -> StepRecord:
    return StepRecord(
        run_id=run_id,
        step_key=v[0],
        kind=v[1],
        status=StepStatus(v[2]),
        attempt=v[3],
        input=load(v[4], v[5]),
        output=load(v[6], v[7]),
        error=opt_dict_from(v[8]),
        started_at=v[9],
        finished_at=v[10],
        meta=dict_from(v[11]),
    )


# events ---------------------------------------------------------------------


def event_row(event: Event) -> dict[str, Any]:
    """The row of an event; the writer sets ``cid`` to NULL when it is the run's own.

    ``type`` and ``data`` are stored compactly for common shapes, see
    :mod:`nexus.store._event_codes`."""
    try:
        type_, data = _event_codes.encode(event.type, event.data, encode)
    except (TypeError, ValueError) as exc:
        where = f"event {event.seq} ({event.type}) of run '{event.run_id}': data"
        raise _refused(where, exc) from exc
    return {
        "run_id": event.run_id,
        "seq": event.seq,
        "type": type_,
        "step_key": event.step_key,
        "cid": event.correlation_id,
        "ts": float(event.ts),
        "data": data,
    }


#: Reader order for :func:`event_from`, after the run id and the run's correlation id.
EVENT_READ_COLUMNS = ("seq", "type", "step_key", "cid", "ts", "data")


def event_from(run_id: str, run_cid: str, v: Sequence[Any]) -> Event:
    type_, data = _event_codes.decode(v[1], v[5], _decode)
    return Event(
        run_id=run_id,
        seq=v[0],
        type=type_,
        data=data,
        correlation_id=run_cid if v[3] is None else v[3],
        step_key=v[2],
        ts=v[4],
    )


# checkpoints ----------------------------------------------------------------


def checkpoint_row(cp: Checkpoint, blobs: Blobs) -> dict[str, Any]:
    state, state_h = payload(cp.state, f"checkpoint '{cp.checkpoint_id}': state", blobs)
    return {
        "checkpoint_id": cp.checkpoint_id,
        "run_id": cp.run_id,
        "created": float(cp.created_at),
        "label": cp.label,
        "state": state,
        "state_h": state_h,
    }


#: Reader order for :func:`checkpoint_from`.
CHECKPOINT_READ_COLUMNS = ("checkpoint_id", "run_id", "created", "label", "state", "state_blob")


def checkpoint_from(v: Sequence[Any]) -> Checkpoint:
    return Checkpoint(
        checkpoint_id=v[0],
        run_id=v[1],
        created_at=v[2],
        label=v[3],
        state=load(v[4], v[5]),
    )
