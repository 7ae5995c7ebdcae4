"""Every SQL statement of the store, written once in SQLAlchemy Core and compiled per dialect.

The hot path runs these compiled strings on the DBAPI cursor directly (no
per-call SQLAlchemy overhead). Parameters are always passed by name as dicts:
SQLite is compiled with the ``named`` style, psycopg uses ``pyformat``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ClauseElement,
    Select,
    bindparam,
    delete,
    func,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from nexus.store import _schema as s
from nexus.store._codec import RUN_WRITE_COLUMNS

_STEP_VALUES = (
    "rid", "key", "kind", "status", "attempt", "input", "input_h", "output", "output_h",
    "error", "started", "finished", "meta",
)  # fmt: skip
_EVENT_VALUES = ("rid", "seq", "type", "step_key", "cid", "ts", "data")
_CHECKPOINT_VALUES = ("checkpoint_id", "run_id", "created", "label", "state", "state_h")


class Statements:
    """The compiled SQL of every store operation for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        ins: Any = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        c = self._compile

        # --- schema ------------------------------------------------------------
        self.create: list[str] = [c(CreateTable(t, if_not_exists=True)) for t in s.TABLES]
        self.create += [
            c(CreateIndex(ix, if_not_exists=True)) for t in s.TABLES for ix in t.indexes
        ]
        self.meta_get = c(select(s.meta.c.value).where(s.meta.c.key == bindparam("key")))
        self.meta_put = c(
            ins(s.meta)
            .values(key=bindparam("key"), value=bindparam("value"))
            .on_conflict_do_update(index_elements=["key"], set_={"value": bindparam("value")})
        )

        # --- writes ------------------------------------------------------------
        self.blob_insert = c(
            ins(s.blobs)
            .values(hash=bindparam("hash"), data=bindparam("data"))
            .on_conflict_do_nothing(index_elements=["hash"])
        )
        run_insert_columns = (*RUN_WRITE_COLUMNS, "lease_owner", "lease_exp")
        self.run_insert = c(
            ins(s.runs)
            .values({n: bindparam(n) for n in run_insert_columns})
            .returning(s.runs.c.rid)
        )
        self.run_update = c(
            update(s.runs)
            .where(s.runs.c.rid == bindparam("w_rid"))
            .values({n: bindparam(n) for n in RUN_WRITE_COLUMNS if n != "run_id"})
        )
        # the same when ``created`` is unchanged (nearly always): a column that is not set
        # leaves its index alone, so the update does not rewrite a page of runs_created
        self.run_update_same_created = c(
            update(s.runs)
            .where(s.runs.c.rid == bindparam("w_rid"), s.runs.c.created == bindparam("created"))
            .values({n: bindparam(n) for n in RUN_WRITE_COLUMNS if n not in ("run_id", "created")})
        )
        self.run_lookup = c(
            select(s.runs.c.rid, s.runs.c.cid).where(s.runs.c.run_id == bindparam("run_id"))
        )
        self.events_keep_cid = c(
            update(s.events)
            .where(s.events.c.rid == bindparam("w_rid"), s.events.c.cid.is_(None))
            .values(cid=bindparam("old_cid"))
        )
        step_ins = ins(s.steps).values({n: bindparam(n) for n in _STEP_VALUES})
        self.step_upsert = c(
            step_ins.on_conflict_do_update(
                index_elements=["rid", "key"],
                set_={n: step_ins.excluded[n] for n in _STEP_VALUES[2:]},
            )
        )
        self.step_delete = c(
            delete(s.steps).where(
                s.steps.c.rid == bindparam("w_rid"), s.steps.c.key == bindparam("w_key")
            )
        )
        self.event_insert = c(ins(s.events).values({n: bindparam(n) for n in _EVENT_VALUES}))
        cp_ins = ins(s.checkpoints).values({n: bindparam(n) for n in _CHECKPOINT_VALUES})
        self.checkpoint_upsert = c(
            cp_ins.on_conflict_do_update(
                index_elements=["checkpoint_id"],
                set_={n: cp_ins.excluded[n] for n in _CHECKPOINT_VALUES[1:]},
            )
        )

        # --- leases --------------------------------------------------------------
        r = s.runs.c
        self.lease_claim = c(
            update(s.runs)
            .where(
                r.run_id == bindparam("w_run_id"),
                or_(
                    r.lease_owner.is_(None),
                    r.lease_exp < bindparam("now"),
                    r.lease_owner == bindparam("owner"),
                ),
            )
            .values(lease_owner=bindparam("owner"), lease_exp=bindparam("exp"))
        )
        self.lease_force = c(
            update(s.runs)
            .where(r.run_id == bindparam("w_run_id"))
            .values(lease_owner=bindparam("owner"), lease_exp=bindparam("exp"))
        )
        self.lease_release = c(
            update(s.runs)
            .where(r.run_id == bindparam("w_run_id"), r.lease_owner == bindparam("owner"))
            .values(lease_owner=null(), lease_exp=null())
        )
        self.runs_claimable = c(
            select(r.run_id)
            .where(
                or_(
                    r.status == literal_column("'created'"), r.status == literal_column("'running'")
                ),
                or_(r.lease_owner.is_(None), r.lease_exp < bindparam("now")),
            )
            .order_by(r.created, r.rid)
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
        )
        self.lease_holder = c(
            select(r.lease_owner, r.lease_exp).where(r.run_id == bindparam("run_id"))
        )

        # --- reads ---------------------------------------------------------------
        self.run_get = c(self._runs_select().where(r.run_id == bindparam("run_id")))
        self.run_list: dict[tuple[bool, bool], str] = {}
        for by_status in (False, True):
            for by_tenant in (False, True):
                q = self._runs_select()
                if by_status:
                    q = q.where(r.status == bindparam("status"))
                if by_tenant:
                    q = q.where(r.tenant == bindparam("tenant"))
                q = q.order_by(r.created.desc(), r.rid.desc())
                q = q.limit(bindparam("limit")).offset(bindparam("offset"))
                self.run_list[(by_status, by_tenant)] = c(q)

        st = s.steps.c
        bi, bo = s.blobs.alias("bi"), s.blobs.alias("bo")
        self.steps_get = c(
            select(
                st.key,
                st.kind,
                st.status,
                st.attempt,
                st.input,
                bi.c.data,
                st.output,
                bo.c.data,
                st.error,
                st.started,
                st.finished,
                st.meta,
            )
            .select_from(
                s.steps.join(s.runs, r.rid == st.rid)
                .outerjoin(bi, bi.c.hash == st.input_h)
                .outerjoin(bo, bo.c.hash == st.output_h)
            )
            .where(r.run_id == bindparam("run_id"))
            .order_by(st.key)
        )

        ev = s.events.c
        self.events_get = c(
            select(r.cid, ev.seq, ev.type, ev.step_key, ev.cid, ev.ts, ev.data)
            .select_from(s.events.join(s.runs, r.rid == ev.rid))
            .where(r.run_id == bindparam("run_id"), ev.seq > bindparam("after"))
            .order_by(ev.seq)
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
        )
        self.events_last = c(
            select(func.max(ev.seq))
            .select_from(s.events.join(s.runs, r.rid == ev.rid))
            .where(r.run_id == bindparam("run_id"))
        )

        cp = s.checkpoints.c
        bs = s.blobs.alias("bs")
        cp_select = select(
            cp.checkpoint_id, cp.run_id, cp.created, cp.label, cp.state, bs.c.data
        ).select_from(s.checkpoints.outerjoin(bs, bs.c.hash == cp.state_h))
        self.checkpoint_get = c(cp_select.where(cp.checkpoint_id == bindparam("checkpoint_id")))
        self.checkpoints_list = c(
            cp_select.where(cp.run_id == bindparam("run_id")).order_by(cp.created, cp.checkpoint_id)
        )

        self.counts = {
            t.name: c(select(func.count()).select_from(t))
            for t in (s.runs, s.steps, s.events, s.blobs, s.checkpoints)
        }
        self.blob_bytes = c(
            select(func.coalesce(func.sum(func.length(s.blobs.c.data)), literal_column("0")))
        )

    def _compile(self, element: ClauseElement) -> str:
        return str(element.compile(dialect=self.dialect))

    @staticmethod
    def _runs_select() -> Select[Any]:
        r = s.runs.c
        bp, bi, bo = s.blobs.alias("bp"), s.blobs.alias("bi"), s.blobs.alias("bo")
        return select(
            r.run_id,
            r.plan_name,
            r.plan,
            bp.c.data,
            r.inputs,
            bi.c.data,
            r.status,
            r.cid,
            r.workspace,
            r.tenant,
            r.parent,
            r.fork_step,
            r.output,
            bo.c.data,
            r.error,
            r.created,
            r.updated,
            r.finished,
            r.ver,
            r.options,
        ).select_from(
            s.runs.outerjoin(bp, bp.c.hash == r.plan_h)
            .outerjoin(bi, bi.c.hash == r.inputs_h)
            .outerjoin(bo, bo.c.hash == r.output_h)
        )
