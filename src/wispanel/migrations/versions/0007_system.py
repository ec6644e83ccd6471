"""Add the resource samples behind the system history graphs

Revision ID: 0007_system
Revises: 0006_dns
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wispanel.core.database

revision: str = "0007_system"
down_revision: str | None = "0006_dns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resource_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("taken_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.Column("cpu_busy_seconds", sa.Double(), nullable=False),
        sa.Column("cpu_total_seconds", sa.Double(), nullable=False),
        sa.Column("memory_percent", sa.Double(), nullable=False),
        sa.Column("memory_used_bytes", sa.BigInteger(), nullable=False),
        sa.Column("swap_percent", sa.Double(), nullable=False),
        sa.Column("data_disk_percent", sa.Double(), nullable=False),
        sa.Column("home_disk_percent", sa.Double(), nullable=False),
        sa.Column("load_1", sa.Double(), nullable=False),
        sa.Column("load_5", sa.Double(), nullable=False),
        sa.Column("load_15", sa.Double(), nullable=False),
        sa.Column("net_bytes_sent", sa.BigInteger(), nullable=False),
        sa.Column("net_bytes_recv", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_samples")),
    )
    op.create_index(
        "ix_resource_samples_host_taken_at",
        "resource_samples",
        ["host", "taken_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_resource_samples_taken_at"), "resource_samples", ["taken_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_resource_samples_taken_at"), table_name="resource_samples")
    op.drop_index("ix_resource_samples_host_taken_at", table_name="resource_samples")
    op.drop_table("resource_samples")
