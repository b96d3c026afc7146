"""Secure Login System rules: opt-out, IP restrictions, identity, replacements, reserves, withdrawals.

New columns are nullable or have a server default, so existing rows stay valid without a rewrite.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns and tables of the Secure Login System rules."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("sls_opted_out_at", sa.Float))
        batch.add_column(sa.Column("ip_restrictions", sa.Text))
        batch.add_column(sa.Column("penny_stocks", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("identity_digest", sa.String(64)))
        batch.add_column(sa.Column("email", sa.String(254)))
        batch.add_column(sa.Column("bank_instructions", sa.LargeBinary))
        batch.add_column(sa.Column("last_reactivated_at", sa.Float))
        batch.add_column(sa.Column("closed_at", sa.Float))
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("replaces", sa.String(40)))
        batch.add_column(sa.Column("activate_by", sa.Float))
        batch.add_column(sa.Column("deactivated_at", sa.Float))
        batch.add_column(sa.Column("condition", sa.String(16)))
    with op.batch_alter_table("challenges") as batch:
        batch.add_column(sa.Column("sealed", sa.LargeBinary))
    op.create_table(
        "identity_checks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("used_at", sa.Float),
    )
    op.create_index("ix_identity_checks_user_id", "identity_checks", ["user_id"])
    op.create_table(
        "reserves",
        sa.Column("device_id", sa.String(40), sa.ForeignKey("devices.id"), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("amount_usd", sa.Numeric(20, 2), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("settled_at", sa.Float),
    )
    op.create_index("ix_reserves_user_id", "reserves", ["user_id"])
    op.create_table(
        "withdrawals",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("device_id", sa.String(40), sa.ForeignKey("devices.id")),
        sa.Column("device_kind", sa.String(24), nullable=False),
        sa.Column("amount_usd", sa.Numeric(20, 2), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_withdrawals_user_created", "withdrawals", ["user_id", "created_at"])
    op.create_table(
        "deposits",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("amount_usd", sa.Numeric(20, 2), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_deposits_user_id", "deposits", ["user_id"])
    op.create_table(
        "device_shares",
        sa.Column("device_id", sa.String(40), sa.ForeignKey("devices.id"), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    """Drop the tables and columns again."""
    for table in ("device_shares", "deposits", "withdrawals", "reserves", "identity_checks"):
        op.drop_table(table)
    with op.batch_alter_table("challenges") as batch:
        batch.drop_column("sealed")
    with op.batch_alter_table("devices") as batch:
        for column in ("condition", "deactivated_at", "activate_by", "replaces"):
            batch.drop_column(column)
    with op.batch_alter_table("users") as batch:
        for column in (
            "closed_at",
            "last_reactivated_at",
            "bank_instructions",
            "email",
            "identity_digest",
            "penny_stocks",
            "ip_restrictions",
            "sls_opted_out_at",
        ):
            batch.drop_column(column)
