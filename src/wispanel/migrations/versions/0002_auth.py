"""Add the authentication tables

Revision ID: 0002_auth
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wispanel.core.database

revision: str = "0002_auth"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limit_events")),
    )
    with op.batch_alter_table("rate_limit_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rate_limit_events_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_rate_limit_events_ip"), ["ip"], unique=False)
        batch_op.create_index(batch_op.f("ix_rate_limit_events_kind"), ["kind"], unique=False)

    op.create_table(
        "account_security",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("totp_secret", sa.Text(), nullable=True),
        sa.Column("totp_pending_secret", sa.Text(), nullable=True),
        sa.Column("totp_enabled", sa.Boolean(), nullable=False),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("ip_binding", sa.Boolean(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", wispanel.core.database.UTCDateTime(), nullable=True),
        sa.Column("locked_until", wispanel.core.database.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_account_security_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_account_security")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_prefix", sa.String(length=12), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("ip_whitelist", sa.JSON(), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.Column("expires_at", wispanel.core.database.UTCDateTime(), nullable=True),
        sa.Column("last_used_at", wispanel.core.database.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_user_id"), ["user_id"], unique=False)

    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.Column("used_at", wispanel.core.database.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recovery_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
    )
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recovery_codes_user_id"), ["user_id"], unique=False)

    op.create_table(
        "sso_nonces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("minted_by_id", sa.Integer(), nullable=True),
        sa.Column("api_key_id", sa.String(length=32), nullable=True),
        sa.Column("target_path", sa.String(length=2048), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("created_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.Column("expires_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.Column("consumed_at", wispanel.core.database.UTCDateTime(), nullable=True),
        sa.Column("handoff_hash", sa.String(length=64), nullable=True),
        sa.Column("handoff_expires_at", wispanel.core.database.UTCDateTime(), nullable=True),
        sa.Column("exchanged_at", wispanel.core.database.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["minted_by_id"],
            ["users.id"],
            name=op.f("fk_sso_nonces_minted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sso_nonces_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_nonces")),
        sa.UniqueConstraint("handoff_hash", name=op.f("uq_sso_nonces_handoff_hash")),
        sa.UniqueConstraint("nonce_hash", name=op.f("uq_sso_nonces_nonce_hash")),
    )
    with op.batch_alter_table("sso_nonces", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sso_nonces_minted_by_id"), ["minted_by_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sso_nonces_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reauth_until", wispanel.core.database.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("impersonator", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("impersonator")
        batch_op.drop_column("reauth_until")

    with op.batch_alter_table("sso_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_nonces_user_id"))
        batch_op.drop_index(batch_op.f("ix_sso_nonces_minted_by_id"))

    op.drop_table("sso_nonces")
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recovery_codes_user_id"))

    op.drop_table("recovery_codes")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_user_id"))

    op.drop_table("api_keys")
    op.drop_table("account_security")
    with op.batch_alter_table("rate_limit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_limit_events_kind"))
        batch_op.drop_index(batch_op.f("ix_rate_limit_events_ip"))
        batch_op.drop_index(batch_op.f("ix_rate_limit_events_created_at"))

    op.drop_table("rate_limit_events")
