"""Secure Login System pages: account funding, the IB Key phone's OS, the DSC+ PIN change's second step.

New columns are nullable, so existing rows stay valid without a rewrite.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("funded_at", sa.Float))
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("os", sa.String(16)))
    with op.batch_alter_table("challenges") as batch:
        batch.add_column(sa.Column("next_sealed", sa.LargeBinary))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("challenges") as batch:
        batch.drop_column("next_sealed")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("os")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("funded_at")
