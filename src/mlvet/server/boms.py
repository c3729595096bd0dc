"""CycloneDX ML-BOMs uploaded by any tool (as to Dependency-Track), validated and linked to a project.

A BOM is validated with mlvet's own offline validator (:func:`mlvet.bom.cyclonedx_validate.validate_bom`:
the official CycloneDX 1.6 JSON schema plus reference checks) before anything is stored; an invalid or
oversized document is refused and nothing is kept. The same bytes uploaded twice to one project are stored
once (``(project, sha256)`` is unique), so a CI job may retry an upload freely.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from mlvet.store import Store
from mlvet.store.schema import BomRow

__all__ = ["BomRejected", "StoredBom", "bom_document", "list_boms", "projects", "store_bom"]


class BomRejected(ValueError):
    """The upload is not a valid CycloneDX 1.6 JSON document; ``errors`` says why (first problems first)."""

    def __init__(self, message: str, errors: list[str]) -> None:
        super().__init__(message)
        self.errors = errors


@dataclass(frozen=True)
class StoredBom:
    """A stored BOM (without its document) and whether this upload created it."""

    id: int
    project: str
    sha256: str
    serial_number: str | None
    spec_version: str
    components: int
    ml_components: int
    size: int
    uploaded_at: datetime
    created: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form (API answers)."""
        return {"id": self.id, "project": self.project, "sha256": self.sha256, "serial_number": self.serial_number,
                "spec_version": self.spec_version, "components": self.components,
                "ml_components": self.ml_components, "size": self.size,
                "uploaded_at": self.uploaded_at.isoformat(), "created": self.created}


def _components(doc: dict[str, Any]) -> tuple[int, int]:
    total = ml = 0
    stack = list(doc.get("components") or [])
    while stack:
        comp = stack.pop()
        if not isinstance(comp, dict):
            continue
        total += 1
        ml += comp.get("type") in ("machine-learning-model", "data")
        stack.extend(comp.get("components") or [])
    return total, ml


def validate_upload(raw: bytes) -> dict[str, Any]:
    """The parsed document of a valid CycloneDX 1.6 upload; :class:`BomRejected` otherwise."""
    from mlvet.bom.cyclonedx_validate import validate_bom

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BomRejected("the BOM is not UTF-8 text", [str(exc)]) from None
    errors = validate_bom(text)
    if errors:
        raise BomRejected(f"not a valid CycloneDX 1.6 JSON BOM ({len(errors)} problem(s))", errors[:20])
    doc: dict[str, Any] = json.loads(text)
    return doc


def _stored(row: BomRow, created: bool) -> StoredBom:
    ml = _components(row.document)[1]
    return StoredBom(row.id, row.project, row.sha256, row.serial_number, row.spec_version, row.components, ml,
                     row.size, row.uploaded_at, created)


def store_bom(store: Store, project: str, raw: bytes, doc: dict[str, Any], token_id: int | None) -> StoredBom:
    """Store a validated BOM for ``project`` (or find the identical one stored before)."""
    digest = hashlib.sha256(raw).hexdigest()
    total, _ml = _components(doc)
    serial = doc.get("serialNumber")

    def work(conn: Connection) -> StoredBom:
        with Session(bind=conn, expire_on_commit=False, join_transaction_mode="rollback_only") as session:
            found = session.scalars(sa.select(BomRow).where(BomRow.project == project, BomRow.sha256 == digest)).first()
            if found is not None:
                return _stored(found, False)
            row = BomRow(project=project, sha256=digest, serial_number=serial if isinstance(serial, str) else None,
                         spec_version=str(doc.get("specVersion")), components=total, size=len(raw),
                         token_id=token_id, uploaded_at=datetime.now(timezone.utc), document=doc)
            session.add(row)
            session.flush()
            return _stored(row, True)

    def attempt() -> StoredBom:
        try:
            return store._write(work)
        except sa.exc.IntegrityError:  # the same upload, concurrently: answer with the stored one
            return store._write(work)

    return store._guard("storing the BOM", attempt)


def list_boms(store: Store, project: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Stored BOMs, newest first (without documents)."""
    stmt = sa.select(BomRow).order_by(BomRow.id.desc()).limit(limit)
    if project is not None:
        stmt = stmt.where(BomRow.project == project)
    return store._read(lambda s: [_stored(r, False).to_dict() for r in s.scalars(stmt)])


def bom_document(store: Store, bom_id: int) -> tuple[str, dict[str, Any]] | None:
    """``(project, document)`` of a stored BOM, or None."""

    def read(s: Session) -> tuple[str, dict[str, Any]] | None:
        row = s.get(BomRow, bom_id)
        return None if row is None else (row.project, row.document)

    return store._read(read)


def projects(store: Store) -> list[dict[str, Any]]:
    """Projects with BOMs: name, number of BOMs, last upload."""
    stmt = (sa.select(BomRow.project, sa.func.count(BomRow.id), sa.func.max(BomRow.uploaded_at))
            .group_by(BomRow.project).order_by(BomRow.project))
    return store._read(lambda s: [{"project": p, "boms": n, "last_upload": last.isoformat() if last else None}
                                  for p, n, last in s.execute(stmt)])
