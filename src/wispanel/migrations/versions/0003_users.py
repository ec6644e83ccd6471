"""Add hosting packages and the account fields for limits, suspension and disk usage

Revision ID: 0003_users
Revises: 0002_auth
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wispanel.core.database

revision: str = "0003_users"
down_revision: str | None = "0002_auth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIMIT_COLUMNS = (
    "max_domains",
    "max_subdomains",
    "max_databases",
    "max_email_accounts",
    "max_ftp_accounts",
    "max_cronjobs",
    "disk_quota_mb",
    "bandwidth_quota_mb",
)


def upgrade() -> None:
    packages = op.create_table(
        "packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in LIMIT_COLUMNS),
        sa.Column("php", sa.Boolean(), nullable=False),
        sa.Column("ssl", sa.Boolean(), nullable=False),
        sa.Column("cron", sa.Boolean(), nullable=False),
        sa.Column("dns_control", sa.Boolean(), nullable=False),
        sa.Column("ssh", sa.Boolean(), nullable=False),
        sa.Column("created_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.Column("updated_at", wispanel.core.database.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packages")),
        sa.UniqueConstraint("name", name=op.f("uq_packages_name")),
    )
    now = wispanel.core.database.utcnow()
    op.bulk_insert(
        packages,
        [
            {
                "name": "default",
                "description": "Unlimited; every feature but SSH",
                **dict.fromkeys(LIMIT_COLUMNS, -1),
                "php": True,
                "ssl": True,
                "cron": True,
                "dns_control": True,
                "ssh": False,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("package_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("limit_overrides", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("feature_overrides", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("allow_overselling", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("suspension_reason", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("suspended_at", wispanel.core.database.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "suspended_with_reseller", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(sa.Column("disk_used_bytes", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("disk_measured_at", wispanel.core.database.UTCDateTime(), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_users_package_id"), ["package_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_users_package_id_packages"),
            "packages",
            ["package_id"],
            ["id"],
            ondelete="RESTRICT",
        )

    # Accounts that existed before packages did get the default package; admins stay unlimited.
    op.execute(
        "UPDATE users SET package_id = (SELECT id FROM packages WHERE name = 'default') "
        "WHERE role <> 'admin'"
    )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_package_id_packages"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_users_package_id"))
        for column in (
            "disk_measured_at",
            "disk_used_bytes",
            "suspended_with_reseller",
            "suspended_at",
            "suspension_reason",
            "allow_overselling",
            "feature_overrides",
            "limit_overrides",
            "package_id",
        ):
            batch_op.drop_column(column)
    op.drop_table("packages")
