"""Result cache and resumable batch scans: scan_results_cache, run_policies, scan_runs, scan_run_results.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

Written by hand from the issue-14 classes at the end of :mod:`mlvet.store.schema` (checked against them by
``compare_metadata`` in ``tests/engine/test_result_cache.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scan_results_cache",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("tool_version", sa.String(length=64), nullable=False),
        sa.Column("policy_digest", sa.String(length=64), nullable=False),
        sa.Column("name_key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("sha256", "tool_version", "policy_digest", "name_key",
                                name=op.f("pk_scan_results_cache")),
    )
    op.create_table(
        "run_policies",
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("policy_digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_run_policies_run_id_runs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_policies")),
    )
    op.create_table(
        "scan_runs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("command", sa.String(length=32), nullable=False),
        sa.Column("inputs_key", sa.String(length=64), nullable=False),
        sa.Column("policy_digest", sa.String(length=64), nullable=False),
        sa.Column("tool_version", sa.String(length=64), nullable=False),
        sa.Column("engine", sa.String(length=255), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("items_total", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_runs")),
    )
    op.create_index("ix_scan_runs_inputs_key", "scan_runs", ["inputs_key"], unique=False)
    op.create_table(
        "scan_run_results",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("item_key", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("format", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("bytes_read", sa.BigInteger(), nullable=True),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("recorded_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["scan_runs.id"], name=op.f("fk_scan_run_results_run_id_scan_runs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "item_key", name=op.f("pk_scan_run_results")),
    )
    op.create_index("ix_scan_run_results_sha256", "scan_run_results", ["sha256"], unique=False)
    op.create_index("ix_scan_run_results_run_id_severity", "scan_run_results", ["run_id", "severity"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_scan_run_results_run_id_severity", table_name="scan_run_results")
    op.drop_index("ix_scan_run_results_sha256", table_name="scan_run_results")
    op.drop_table("scan_run_results")
    op.drop_index("ix_scan_runs_inputs_key", table_name="scan_runs")
    op.drop_table("scan_runs")
    op.drop_table("run_policies")
    op.drop_table("scan_results_cache")
