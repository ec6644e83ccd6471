"""Add DNS zones and their records

Revision ID: 0006_dns
Revises: 0005_domains
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wispanel.core.database

revision: str = "0006_dns"
down_revision: str | None = "0005_domains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dns_zones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("created_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.Column("updated_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domains.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(op.f("ix_dns_zones_domain_id"), "dns_zones", ["domain_id"], unique=False)
    op.create_index(op.f("ix_dns_zones_owner_id"), "dns_zones", ["owner_id"], unique=False)
    op.create_table(
        "dns_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("ttl", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("weight", sa.Integer(), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("flags", sa.Integer(), nullable=True),
        sa.Column("tag", sa.String(length=32), nullable=True),
        sa.Column("created_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.Column("updated_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["zone_id"], ["dns_zones.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_dns_records_zone_id"), "dns_records", ["zone_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_dns_records_zone_id"), table_name="dns_records")
    op.drop_table("dns_records")
    op.drop_index(op.f("ix_dns_zones_owner_id"), table_name="dns_zones")
    op.drop_index(op.f("ix_dns_zones_domain_id"), table_name="dns_zones")
    op.drop_table("dns_zones")
