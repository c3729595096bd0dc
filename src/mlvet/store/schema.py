"""The inventory database schema (SQLAlchemy 2 declarative ORM).

Layout, and why:

``runs``
    One row per ``mlvet inventory`` invocation. ``roots_key`` is a digest of the sorted, de-duplicated
    roots so that "the previous run over the same roots" is one indexed equality lookup.
``assets``
    One row per asset *identity* (the stable :func:`mlvet.inventory.model.asset_id`): kind and the run it
    was first seen in. It never changes after insertion, so concurrent writers only ever
    ``INSERT ... ON CONFLICT DO NOTHING`` it and never contend on updates.
``asset_versions``
    The state of one asset in one run (one row per asset per run), with its files, findings and metadata
    hanging off it. A row per run rather than de-duplicated content versions because (a) inventories hold a
    few hundred assets, not the 100,000 ordinary files of a tree, so a run costs hundreds of rows;
    (b) "assets of run N" is then a single indexed lookup with no reconstruction across runs, "history of
    asset X" is ``WHERE asset_id = X ORDER BY run_id`` and "latest state of each asset" is a
    ``MAX(run_id) GROUP BY asset_id`` over the ``(asset_id, run_id)`` index; (c) a row is immutable once
    written, so concurrent runs never update each other's rows. ``content_hash`` lets consumers see
    identical content across runs without comparing files.
``asset_files`` / ``findings``
    Children of a version, ordered by ``position`` so that a round trip returns exactly the tuples recorded.
``run_changes``
    The change lists (new, changed, removed, worse) computed for a run.
``hash_cache``
    ``path -> (size, mtime_ns, inode, sha256)``: files whose stat triple is unchanged are not re-hashed.

Metadata: the scalar fields users filter on (license, architecture, task, library, parameters, flags) are
columns, so filtering by license is plain SQL on any database; list-valued fields (base models, datasets,
languages, tags, card sections, extras) are one portable JSON column.

Portability: only types both SQLite and PostgreSQL have (JSON, BIGINT, timestamps with time zone); text
goes through :mod:`mlvet.store.types` so that any path or evidence string can be stored. Constraint and
index names come from a naming convention, so the Alembic migration and this module agree by construction
and ``compare_metadata`` can check it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from mlvet.store.types import SafeJSON, SafeString, SafeText, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: 64-bit surrogate keys; SQLite only auto-increments an ``INTEGER PRIMARY KEY`` (its rowid alias).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of the inventory tables."""
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class RunRow(Base):
    """One inventory run: when, over which roots, with which tool version."""
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    roots: Mapped[list[str]] = mapped_column(SafeJSON())
    #: sha256 of the sorted unique roots: exact-set lookups of the previous run.
    roots_key: Mapped[str] = mapped_column(sa.String(64))
    tool_version: Mapped[str] = mapped_column(SafeString(64))
    host: Mapped[str | None] = mapped_column(SafeString(255))
    files_seen: Mapped[int] = mapped_column(sa.BigInteger())
    files_hashed: Mapped[int] = mapped_column(sa.BigInteger())

    versions: Mapped[list[AssetVersionRow]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (sa.Index("ix_runs_roots_key_id", "roots_key", "id"),)


class AssetRow(Base):
    """One asset's identity across runs."""
    __tablename__ = "assets"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: The run that recorded the asset first (informational, not a foreign key: pruning old runs must not
    #: delete an asset's later history).
    first_run_id: Mapped[int] = mapped_column(sa.BigInteger())


class AssetVersionRow(Base):
    """An asset as one run saw it: metadata, hashes, verdict."""
    __tablename__ = "asset_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("runs.id", ondelete="CASCADE"))
    asset_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("assets.id", ondelete="CASCADE"))
    #: Order of the asset in the run as recorded, so that a round trip returns the same sequence.
    position: Mapped[int] = mapped_column(sa.Integer())
    kind: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(SafeText())
    path: Mapped[str] = mapped_column(SafeText())
    format: Mapped[str] = mapped_column(SafeString(64))
    framework: Mapped[str | None] = mapped_column(SafeString(64))
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger())
    #: :class:`mlvet.model.Severity` value of the highest finding (0 = none): ``--min-severity`` in SQL.
    severity: Mapped[int] = mapped_column(sa.SmallInteger())
    verdict: Mapped[str] = mapped_column(sa.String(16))
    incomplete: Mapped[bool] = mapped_column(sa.Boolean())
    # Hugging Face coordinates (all NULL when the asset is not from a hub layout).
    hub_repo_type: Mapped[str | None] = mapped_column(SafeString(16))
    hub_repo_id: Mapped[str | None] = mapped_column(SafeText())
    hub_revision: Mapped[str | None] = mapped_column(SafeString(255))
    hub_refs: Mapped[list[str] | None] = mapped_column(SafeJSON())
    # Metadata users filter on.
    architecture: Mapped[str | None] = mapped_column(SafeText())
    parameters: Mapped[int | None] = mapped_column(sa.BigInteger())
    task: Mapped[str | None] = mapped_column(SafeText())
    license: Mapped[str | None] = mapped_column(SafeText())
    library: Mapped[str | None] = mapped_column(SafeText())
    card: Mapped[bool] = mapped_column(sa.Boolean())
    remote_code: Mapped[bool] = mapped_column(sa.Boolean())
    #: base_models, datasets, languages, tags, card_sections (lists of strings) and extra (list of pairs).
    meta: Mapped[dict[str, Any]] = mapped_column(SafeJSON())

    run: Mapped[RunRow] = relationship(back_populates="versions")
    files: Mapped[list[FileRow]] = relationship(
        order_by="FileRow.position", cascade="all, delete-orphan", passive_deletes=True, lazy="raise"
    )
    findings: Mapped[list[FindingRow]] = relationship(
        order_by="FindingRow.position", cascade="all, delete-orphan", passive_deletes=True, lazy="raise"
    )

    __table_args__ = (
        sa.UniqueConstraint("run_id", "asset_id"),
        sa.Index("ix_asset_versions_asset_id_run_id", "asset_id", "run_id"),
        sa.Index("ix_asset_versions_run_id_severity", "run_id", "severity"),
        sa.Index("ix_asset_versions_license", "license"),
        sa.Index("ix_asset_versions_format", "format"),
    )


class FileRow(Base):
    """One file of an asset version."""
    __tablename__ = "asset_files"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("asset_versions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(sa.Integer())
    rel: Mapped[str] = mapped_column(SafeText())
    path: Mapped[str] = mapped_column(SafeText())
    size: Mapped[int] = mapped_column(sa.BigInteger())
    sha256: Mapped[str] = mapped_column(sa.String(64))
    format: Mapped[str | None] = mapped_column(SafeString(64))
    severity: Mapped[int] = mapped_column(sa.SmallInteger())
    scan_status: Mapped[str | None] = mapped_column(sa.String(16))
    integrity: Mapped[str | None] = mapped_column(sa.String(16))

    __table_args__ = (
        sa.UniqueConstraint("version_id", "position"),
        sa.Index("ix_asset_files_sha256", "sha256"),
        sa.Index("ix_asset_files_format", "format"),
    )


class FindingRow(Base):
    """One scanner finding in a file of an asset version."""
    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("asset_versions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(sa.Integer())
    rule_id: Mapped[str] = mapped_column(sa.String(32))
    severity: Mapped[int] = mapped_column(sa.SmallInteger())
    confidence: Mapped[int] = mapped_column(sa.SmallInteger())
    message: Mapped[str] = mapped_column(SafeText())
    evidence: Mapped[str] = mapped_column(SafeText())
    path: Mapped[str] = mapped_column(SafeText())
    members: Mapped[list[str]] = mapped_column(SafeJSON())
    offset: Mapped[int | None] = mapped_column(sa.BigInteger())
    opcode_index: Mapped[int | None] = mapped_column(sa.BigInteger())
    cwe: Mapped[int | None] = mapped_column(sa.Integer())
    fingerprint: Mapped[str] = mapped_column(sa.String(64))

    __table_args__ = (
        sa.UniqueConstraint("version_id", "position"),
        sa.Index("ix_findings_rule_id", "rule_id"),
        sa.Index("ix_findings_fingerprint", "fingerprint"),
    )


class RunChangeRow(Base):
    """What changed for an asset between a run and the one before it."""
    __tablename__ = "run_changes"

    run_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    #: "new", "changed", "removed" or "worse".
    change: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    position: Mapped[int] = mapped_column(sa.Integer(), primary_key=True)
    asset_id: Mapped[str] = mapped_column(sa.String(64))


class HashCacheRow(Base):
    """A file's hash keyed by path, size, mtime and inode (re-hashed when any changes)."""
    __tablename__ = "hash_cache"

    path: Mapped[str] = mapped_column(SafeText(), primary_key=True)
    size: Mapped[int] = mapped_column(sa.BigInteger())
    mtime_ns: Mapped[int] = mapped_column(sa.BigInteger())
    #: Stored as signed 64-bit (see :func:`mlvet.store.types.to_signed64`).
    inode: Mapped[int] = mapped_column(sa.BigInteger())
    sha256: Mapped[str] = mapped_column(sa.String(64))
    hashed_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ---- issue 14: the content-hash result cache and resumable scan runs (migration 0002) --------------------


class ResultCacheRow(Base):
    """A file's scan result keyed by content, mlvet version, policy digest and file name (``mlvet.engine.codec``).

    The same blob in ten thousand repositories is scanned once. The name is part of the key because the
    scanner reads it (an extension that hides code is a finding); the policy digest because a policy change
    must never reuse a result made under another policy (:mod:`mlvet.policy.digest`).
    """
    __tablename__ = "scan_results_cache"

    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tool_version: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    policy_digest: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    #: sha256 of the file name the scanner saw (a fixed-width key; the name itself is in ``name``).
    name_key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(SafeText())
    result: Mapped[dict[str, Any]] = mapped_column(SafeJSON())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RunPolicyRow(Base):
    """The policy digest an inventory run scanned with: its results are reused only under the same policy."""
    __tablename__ = "run_policies"

    run_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    policy_digest: Mapped[str] = mapped_column(sa.String(64))


class ScanRunRow(Base):
    """One resumable batch scan (``mlvet hub-scan``, ``scan --db``): what it covers and under which policy."""
    __tablename__ = "scan_runs"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    command: Mapped[str] = mapped_column(sa.String(32))
    #: sha256 of the run's inputs (repo list, paths): ``--resume`` finds the run of the same inputs.
    inputs_key: Mapped[str] = mapped_column(sa.String(64))
    policy_digest: Mapped[str] = mapped_column(sa.String(64))
    tool_version: Mapped[str] = mapped_column(sa.String(64))
    engine: Mapped[str] = mapped_column(SafeString(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    items_total: Mapped[int | None] = mapped_column(sa.BigInteger(), nullable=True)

    __table_args__ = (sa.Index("ix_scan_runs_inputs_key", "inputs_key"),)


class ScanRunResultRow(Base):
    """One file's result in a batch scan, written exactly once (``INSERT ... ON CONFLICT DO NOTHING``)."""
    __tablename__ = "scan_run_results"

    run_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("scan_runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    #: sha256 of ``path`` (fixed width, so any URL can be a key).
    item_key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    path: Mapped[str] = mapped_column(SafeText())
    #: The repository (or root) the file belongs to, for per-repository queries.
    source: Mapped[str | None] = mapped_column(SafeText(), nullable=True)
    sha256: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    format: Mapped[str] = mapped_column(SafeString(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    severity: Mapped[int] = mapped_column(sa.SmallInteger())
    bytes_read: Mapped[int | None] = mapped_column(sa.BigInteger(), nullable=True)
    cache_hit: Mapped[bool] = mapped_column(sa.Boolean())
    result: Mapped[dict[str, Any]] = mapped_column(SafeJSON())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (sa.Index("ix_scan_run_results_sha256", "sha256"),
                      sa.Index("ix_scan_run_results_run_id_severity", "run_id", "severity"))
class LineageRow(Base):
    """A dataset a model was trained on (issue 15 lineage), and where that was read.

    Keyed by the model's path (the inventory's asset root, as :attr:`Asset.path`) and, when known, its asset id:
    ``mlvet data link`` may name a model before any inventory saw it. Discovered rows (card, MLflow run,
    Lightning hyper-parameters) are replaced whenever an inventory records the model again; ``explicit`` rows
    are replaced only by a new link of the same model and dataset name.
    """
    __tablename__ = "lineage"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    model_path: Mapped[str] = mapped_column(SafeText())
    model_id: Mapped[str | None] = mapped_column(sa.String(64))
    model_name: Mapped[str | None] = mapped_column(SafeText())
    #: "model-card", "mlflow-run", "lightning-hparams" or "explicit".
    source: Mapped[str] = mapped_column(sa.String(32))
    dataset_name: Mapped[str] = mapped_column(SafeText())
    dataset_uri: Mapped[str | None] = mapped_column(SafeText())
    #: Root digest of the dataset's lock file (sha256 hex) when the link names one.
    lock_root: Mapped[str | None] = mapped_column(sa.String(64))
    digest: Mapped[str | None] = mapped_column(SafeString(128))
    digest_kind: Mapped[str | None] = mapped_column(sa.String(16))
    detail: Mapped[str | None] = mapped_column(SafeText())
    #: The dataset matched its lock when linked (None: not checked).
    verified: Mapped[bool | None] = mapped_column(sa.Boolean())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.Index("ix_lineage_model_path", "model_path"),
        sa.Index("ix_lineage_model_id", "model_id"),
        sa.Index("ix_lineage_lock_root", "lock_root"),
    )
# -- server (issue 13; migration 0004_server) -------------------------------------------------------------


class ApiTokenRow(Base):
    """An API token of ``mlvet serve``: only its SHA-256 is stored, so a leaked database leaks no token."""
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(SafeString(255))
    #: sha256 hex of the whole token: the lookup key of every authenticated request.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: The first characters of the token, shown by ``mlvet token list`` so a user can tell tokens apart.
    prefix: Mapped[str] = mapped_column(sa.String(16))
    scopes: Mapped[list[str]] = mapped_column(SafeJSON())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FleetPushRow(Base):
    """One inventory run pushed by a machine: who sent it, from where, under which idempotency key.

    ``idempotency_key`` is unique, so a retried push finds the run it already created instead of adding a
    second one; ``run_id`` is unique too (one push per run) and the row is written in the run's transaction.
    """
    __tablename__ = "fleet_pushes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("runs.id", ondelete="CASCADE"), unique=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(128), unique=True)
    host: Mapped[str] = mapped_column(SafeString(255))
    owner: Mapped[str | None] = mapped_column(SafeString(255))
    #: The pushing machine's own id for the run (its local database id or a UUID), informational.
    client_run_id: Mapped[str | None] = mapped_column(SafeString(64))
    token_id: Mapped[int | None] = mapped_column(sa.BigInteger())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: sha256 of the request body: the same key sent with a different body is a conflict, not a retry.
    payload_sha256: Mapped[str] = mapped_column(sa.String(64))

    __table_args__ = (sa.Index("ix_fleet_pushes_host_id", "host", "id"),)


class FleetChangeRow(Base):
    """What a push changed in the fleet-wide inventory (the union of every host's latest runs)."""
    __tablename__ = "fleet_changes"

    push_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("fleet_pushes.id", ondelete="CASCADE"), primary_key=True
    )
    #: "new", "changed", "removed" or "worse".
    change: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    position: Mapped[int] = mapped_column(sa.Integer(), primary_key=True)
    asset_id: Mapped[str] = mapped_column(sa.String(64))


class BomRow(Base):
    """A CycloneDX ML-BOM uploaded to the server (from any tool), linked to a project by name."""
    __tablename__ = "boms"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(SafeString(255))
    #: sha256 of the uploaded bytes: the same BOM uploaded twice to one project is stored once.
    sha256: Mapped[str] = mapped_column(sa.String(64))
    serial_number: Mapped[str | None] = mapped_column(SafeString(255))
    spec_version: Mapped[str] = mapped_column(sa.String(16))
    components: Mapped[int] = mapped_column(sa.Integer())
    size: Mapped[int] = mapped_column(sa.BigInteger())
    token_id: Mapped[int | None] = mapped_column(sa.BigInteger())
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    document: Mapped[dict[str, Any]] = mapped_column(SafeJSON())

    __table_args__ = (sa.UniqueConstraint("project", "sha256"),)


# -- gateway (issue 13; migration 0005_gateway) -----------------------------------------------------------


class GatewayDecisionRow(Base):
    """One download decision of the hub gateway: who asked for which file, which bytes, and what was decided.

    Written in one transaction after the decision is made (a crash mid-scan leaves no row, never half of one).
    ``scanned`` tells a decision that ran the scanner from one served from the cached verdict.
    """
    __tablename__ = "gateway_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The token's name ("anonymous" when the operator allows anonymous gateway use).
    who: Mapped[str] = mapped_column(SafeString(255))
    token_id: Mapped[int | None] = mapped_column(sa.BigInteger())
    repo_type: Mapped[str] = mapped_column(sa.String(16))
    repo_id: Mapped[str] = mapped_column(SafeString(255))
    #: The revision as the client named it (branch, tag or commit) and the commit it was pinned to.
    revision: Mapped[str] = mapped_column(SafeString(255))
    commit: Mapped[str] = mapped_column(sa.String(64))
    path: Mapped[str] = mapped_column(SafeText())
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int | None] = mapped_column(sa.BigInteger())
    #: "served" or "refused".
    verdict: Mapped[str] = mapped_column(sa.String(16))
    #: The scan outcome: "pass", "fail" (a finding at or above the threshold) or "error" (incomplete).
    status: Mapped[str] = mapped_column(sa.String(16))
    rule_ids: Mapped[list[str]] = mapped_column(SafeJSON())
    reason: Mapped[str] = mapped_column(SafeText())
    scanned: Mapped[bool] = mapped_column(sa.Boolean())

    __table_args__ = (
        sa.Index("ix_gateway_decisions_sha256", "sha256"),
        sa.Index("ix_gateway_decisions_repo_id_id", "repo_id", "id"),
        sa.Index("ix_gateway_decisions_verdict_id", "verdict", "id"),
    )
