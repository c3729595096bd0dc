"""Initial inventory schema: runs, assets, asset versions, files, findings, run changes, hash cache.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

Written by hand from :mod:`mlvet.store.schema` with plain SQLAlchemy types (the escaping type decorators
change values, not the database type), and checked against it by ``tests/store/test_store.py``
(``compare_metadata`` must report no difference on SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=False),
        sa.Column("roots", sa.JSON(), nullable=False),
        sa.Column("roots_key", sa.String(length=64), nullable=False),
        sa.Column("tool_version", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("files_seen", sa.BigInteger(), nullable=False),
        sa.Column("files_hashed", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index("ix_runs_roots_key_id", "runs", ["roots_key", "id"], unique=False)

    op.create_table(
        "assets",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("first_run_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assets")),
    )

    op.create_table(
        "run_changes",
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_run_changes_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "change", "position", name=op.f("pk_run_changes")),
    )

    op.create_table(
        "asset_versions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=64), nullable=False),
        sa.Column("framework", sa.String(length=64), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("incomplete", sa.Boolean(), nullable=False),
        sa.Column("hub_repo_type", sa.String(length=16), nullable=True),
        sa.Column("hub_repo_id", sa.Text(), nullable=True),
        sa.Column("hub_revision", sa.String(length=255), nullable=True),
        sa.Column("hub_refs", sa.JSON(), nullable=True),
        sa.Column("architecture", sa.Text(), nullable=True),
        sa.Column("parameters", sa.BigInteger(), nullable=True),
        sa.Column("task", sa.Text(), nullable=True),
        sa.Column("license", sa.Text(), nullable=True),
        sa.Column("library", sa.Text(), nullable=True),
        sa.Column("card", sa.Boolean(), nullable=False),
        sa.Column("remote_code", sa.Boolean(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_asset_versions_asset_id_assets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_asset_versions_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_versions")),
        sa.UniqueConstraint("run_id", "asset_id", name=op.f("uq_asset_versions_run_id_asset_id")),
    )
    op.create_index("ix_asset_versions_asset_id_run_id", "asset_versions", ["asset_id", "run_id"], unique=False)
    op.create_index("ix_asset_versions_format", "asset_versions", ["format"], unique=False)
    op.create_index("ix_asset_versions_license", "asset_versions", ["license"], unique=False)
    op.create_index("ix_asset_versions_run_id_severity", "asset_versions", ["run_id", "severity"], unique=False)

    op.create_table(
        "asset_files",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("version_id", _ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("rel", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=64), nullable=True),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("scan_status", sa.String(length=16), nullable=True),
        sa.Column("integrity", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["asset_versions.id"],
            name=op.f("fk_asset_files_version_id_asset_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_files")),
        sa.UniqueConstraint("version_id", "position", name=op.f("uq_asset_files_version_id_position")),
    )
    op.create_index("ix_asset_files_format", "asset_files", ["format"], unique=False)
    op.create_index("ix_asset_files_sha256", "asset_files", ["sha256"], unique=False)

    op.create_table(
        "findings",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("version_id", _ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("confidence", sa.SmallInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=True),
        sa.Column("opcode_index", sa.BigInteger(), nullable=True),
        sa.Column("cwe", sa.Integer(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["asset_versions.id"],
            name=op.f("fk_findings_version_id_asset_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint("version_id", "position", name=op.f("uq_findings_version_id_position")),
    )
    op.create_index("ix_findings_fingerprint", "findings", ["fingerprint"], unique=False)
    op.create_index("ix_findings_rule_id", "findings", ["rule_id"], unique=False)

    op.create_table(
        "hash_cache",
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("hashed_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_hash_cache")),
    )


def downgrade() -> None:
    op.drop_table("hash_cache")
    op.drop_index("ix_findings_rule_id", table_name="findings")
    op.drop_index("ix_findings_fingerprint", table_name="findings")
    op.drop_table("findings")
    op.drop_index("ix_asset_files_sha256", table_name="asset_files")
    op.drop_index("ix_asset_files_format", table_name="asset_files")
    op.drop_table("asset_files")
    op.drop_index("ix_asset_versions_run_id_severity", table_name="asset_versions")
    op.drop_index("ix_asset_versions_license", table_name="asset_versions")
    op.drop_index("ix_asset_versions_format", table_name="asset_versions")
    op.drop_index("ix_asset_versions_asset_id_run_id", table_name="asset_versions")
    op.drop_table("asset_versions")
    op.drop_table("run_changes")
    op.drop_table("assets")
    op.drop_index("ix_runs_roots_key_id", table_name="runs")
    op.drop_table("runs")
