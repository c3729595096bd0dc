"""Lineage rows in the inventory database: record and read the datasets each model was trained on.

Kept out of :mod:`mlvet.store.store` (the run/asset store) because lineage has its own life cycle: explicit links
(``mlvet data link``) outlive inventory runs, and discovered links are replaced each time an inventory records
the model again, so "what was this model trained on" is one indexed lookup by model path or asset id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from mlvet.inventory.lineage import DatasetRef
from mlvet.inventory.model import Asset
from mlvet.store.schema import LineageRow
from mlvet.store.store import Store

__all__ = ["lineage_by_model", "lineage_of", "record_discovered", "record_link"]

EXPLICIT = "explicit"


def _row(model_path: str, model_id: str | None, model_name: str | None, ref: DatasetRef,
         now: datetime) -> LineageRow:
    return LineageRow(model_path=model_path, model_id=model_id, model_name=model_name, source=ref.source,
                      dataset_name=ref.name, dataset_uri=ref.uri, lock_root=ref.lock_root, digest=ref.digest,
                      digest_kind=ref.digest_kind, detail=ref.detail, verified=ref.verified, recorded_at=now)


def _ref(row: LineageRow) -> DatasetRef:
    return DatasetRef(name=row.dataset_name, source=row.source, uri=row.dataset_uri, lock_root=row.lock_root,
                      digest=row.digest, digest_kind=row.digest_kind, detail=row.detail, verified=row.verified)


def record_link(store: Store, model_path: str, ref: DatasetRef, *, model_id: str | None = None,
                model_name: str | None = None) -> None:
    """Record an explicit link (replacing an earlier explicit link of the same model and dataset name)."""
    if ref.source != EXPLICIT:
        raise ValueError(f"record_link records explicit links, not {ref.source!r}")

    def work(conn: Connection) -> None:
        with Session(bind=conn, join_transaction_mode="rollback_only") as s:
            s.execute(sa.delete(LineageRow).where(LineageRow.model_path == model_path,
                                                  LineageRow.source == EXPLICIT,
                                                  LineageRow.dataset_name == ref.name))
            s.add(_row(model_path, model_id, model_name, ref, datetime.now(timezone.utc)))
            s.flush()

    store._guard("recording the link", lambda: store._write(work))


def record_discovered(store: Store, found: Iterable[tuple[Asset, Sequence[DatasetRef]]]) -> int:
    """Replace the discovered (non-explicit) lineage of each model with what this inventory found; returns rows."""
    items = [(a, list(refs)) for a, refs in found]
    if not items:
        return 0
    now = datetime.now(timezone.utc)

    def work(conn: Connection) -> int:
        n = 0
        with Session(bind=conn, join_transaction_mode="rollback_only") as s:
            for asset, refs in sorted(items, key=lambda item: item[0].path):
                s.execute(sa.delete(LineageRow).where(LineageRow.model_path == asset.path,
                                                      LineageRow.source != EXPLICIT))
                s.add_all(_row(asset.path, asset.id, asset.name, r, now) for r in refs if r.source != EXPLICIT)
                n += sum(r.source != EXPLICIT for r in refs)
            s.flush()
        return n

    return store._guard("recording lineage", lambda: store._write(work))


def lineage_of(store: Store, model_path: str, model_id: str | None = None) -> list[DatasetRef]:
    """Every dataset recorded for the model at ``model_path`` (or with asset id ``model_id``), explicit first."""
    cond = LineageRow.model_path == model_path
    if model_id is not None:
        cond = sa.or_(cond, LineageRow.model_id == model_id)
    stmt = sa.select(LineageRow).where(cond).order_by(
        sa.case((LineageRow.source == EXPLICIT, 0), else_=1), LineageRow.source, LineageRow.id)

    def read(s: Session) -> list[DatasetRef]:
        return [_ref(r) for r in s.scalars(stmt)]

    return store._read(read)


def lineage_by_model(store: Store) -> dict[str, list[DatasetRef]]:
    """All recorded lineage keyed by model path (and by asset id, for models the inventory identified)."""
    stmt = sa.select(LineageRow).order_by(sa.case((LineageRow.source == EXPLICIT, 0), else_=1), LineageRow.id)

    def read(s: Session) -> dict[str, list[DatasetRef]]:
        out: dict[str, list[DatasetRef]] = {}
        for r in s.scalars(stmt):
            ref = _ref(r)
            out.setdefault(r.model_path, []).append(ref)
            if r.model_id:
                out.setdefault(f"id:{r.model_id}", []).append(ref)
        return out

    return store._read(read)
