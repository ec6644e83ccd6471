"""Add the certificates installed for domains

Revision ID: 0008_ssl
Revises: 0007_system
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wispanel.core.database

revision: str = "0008_ssl"
down_revision: str | None = "0007_system"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ssl_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(length=1024), nullable=False),
        sa.Column("issuer", sa.String(length=1024), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("not_before", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.Column("not_after", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.Column("fingerprint_sha256", sa.String(length=95), nullable=False),
        sa.Column("created_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.Column("updated_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domains.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("domain_id"),
    )
    op.create_index(
        op.f("ix_ssl_certificates_not_after"), "ssl_certificates", ["not_after"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ssl_certificates_not_after"), table_name="ssl_certificates")
    op.drop_table("ssl_certificates")
