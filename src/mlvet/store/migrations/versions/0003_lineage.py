"""Training-data lineage: which datasets each model was trained on (issue 15).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

Written by hand from :class:`mlvet.store.schema.LineageRow`; ``tests/store/test_store.py``
(``compare_metadata``) checks that the two agree on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lineage",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("model_path", sa.Text(), nullable=False),
        sa.Column("model_id", sa.String(length=64), nullable=True),
        sa.Column("model_name", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("dataset_name", sa.Text(), nullable=False),
        sa.Column("dataset_uri", sa.Text(), nullable=True),
        sa.Column("lock_root", sa.String(length=64), nullable=True),
        sa.Column("digest", sa.String(length=128), nullable=True),
        sa.Column("digest_kind", sa.String(length=16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lineage")),
    )
    op.create_index("ix_lineage_model_path", "lineage", ["model_path"], unique=False)
    op.create_index("ix_lineage_model_id", "lineage", ["model_id"], unique=False)
    op.create_index("ix_lineage_lock_root", "lineage", ["lock_root"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_lineage_lock_root", table_name="lineage")
    op.drop_index("ix_lineage_model_id", table_name="lineage")
    op.drop_index("ix_lineage_model_path", table_name="lineage")
    op.drop_table("lineage")
