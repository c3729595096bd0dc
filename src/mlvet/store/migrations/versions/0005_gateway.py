"""Gateway table: one row per download decision of the hub gateway.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

Written by hand from the gateway section of :mod:`mlvet.store.schema` and checked against it by
``tests/store/test_store.py::test_migration_matches_orm`` (SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gateway_decisions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("decided_at", _TS, nullable=False),
        sa.Column("who", sa.String(length=255), nullable=False),
        sa.Column("token_id", sa.BigInteger(), nullable=True),
        sa.Column("repo_type", sa.String(length=16), nullable=False),
        sa.Column("repo_id", sa.String(length=255), nullable=False),
        sa.Column("revision", sa.String(length=255), nullable=False),
        sa.Column("commit", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rule_ids", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("scanned", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_decisions")),
    )
    op.create_index("ix_gateway_decisions_sha256", "gateway_decisions", ["sha256"], unique=False)
    op.create_index("ix_gateway_decisions_repo_id_id", "gateway_decisions", ["repo_id", "id"], unique=False)
    op.create_index("ix_gateway_decisions_verdict_id", "gateway_decisions", ["verdict", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_gateway_decisions_verdict_id", table_name="gateway_decisions")
    op.drop_index("ix_gateway_decisions_repo_id_id", table_name="gateway_decisions")
    op.drop_index("ix_gateway_decisions_sha256", table_name="gateway_decisions")
    op.drop_table("gateway_decisions")
