"""Add domains and their alias names

Revision ID: 0005_domains
Revises: 0004_webhooks
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wispanel.core.database

revision: str = "0005_domains"
down_revision: str | None = "0004_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("webserver", sa.String(length=16), nullable=False),
        sa.Column("php_version", sa.String(length=16), nullable=True),
        sa.Column("document_root", sa.String(length=255), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("suspended_at", wispanel.core.database.UTCDateTime(), nullable=True),
        sa.Column("redirect_url", sa.String(length=2048), nullable=True),
        sa.Column("redirect_code", sa.Integer(), nullable=False),
        sa.Column("ssl_enabled", sa.Boolean(), nullable=False),
        sa.Column("force_https", sa.Boolean(), nullable=False),
        sa.Column("hsts", sa.Boolean(), nullable=False),
        sa.Column("custom_directives", sa.Text(), nullable=False),
        sa.Column("created_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.Column("updated_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["parent_id"], ["domains.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(op.f("ix_domains_owner_id"), "domains", ["owner_id"], unique=False)
    op.create_index(op.f("ix_domains_parent_id"), "domains", ["parent_id"], unique=False)
    op.create_table(
        "domain_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("created_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domains.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(
        op.f("ix_domain_aliases_domain_id"), "domain_aliases", ["domain_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_domain_aliases_domain_id"), table_name="domain_aliases")
    op.drop_table("domain_aliases")
    op.drop_index(op.f("ix_domains_parent_id"), table_name="domains")
    op.drop_index(op.f("ix_domains_owner_id"), table_name="domains")
    op.drop_table("domains")
