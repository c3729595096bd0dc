"""Server tables: API tokens, fleet pushes and their fleet-wide changes, uploaded BOMs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

Written by hand from the server section of :mod:`mlvet.store.schema` and checked against it by
``tests/store/test_store.py::test_migration_matches_orm`` (SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "fleet_pushes",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("client_run_id", sa.String(length=64), nullable=True),
        sa.Column("token_id", sa.BigInteger(), nullable=True),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_fleet_pushes_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_pushes")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_fleet_pushes_idempotency_key")),
        sa.UniqueConstraint("run_id", name=op.f("uq_fleet_pushes_run_id")),
    )
    op.create_index("ix_fleet_pushes_host_id", "fleet_pushes", ["host", "id"], unique=False)
    op.create_table(
        "fleet_changes",
        sa.Column("push_id", _ID, nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["push_id"], ["fleet_pushes.id"], name=op.f("fk_fleet_changes_push_id_fleet_pushes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("push_id", "change", "position", name=op.f("pk_fleet_changes")),
    )
    op.create_table(
        "boms",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("project", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("serial_number", sa.String(length=255), nullable=True),
        sa.Column("spec_version", sa.String(length=16), nullable=False),
        sa.Column("components", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("token_id", sa.BigInteger(), nullable=True),
        sa.Column("uploaded_at", _TS, nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boms")),
        sa.UniqueConstraint("project", "sha256", name=op.f("uq_boms_project_sha256")),
    )


def downgrade() -> None:
    op.drop_table("boms")
    op.drop_table("fleet_changes")
    op.drop_index("ix_fleet_pushes_host_id", table_name="fleet_pushes")
    op.drop_table("fleet_pushes")
    op.drop_table("api_tokens")
