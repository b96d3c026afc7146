"""Auth core: password throttle counters keyed by digests, and the index that ends a user's sessions.

The new table starts empty (every counter starts at zero); existing sessions stay valid.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the password throttle table and the sessions' user index."""
    op.create_table(
        "password_throttle",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(64)),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lockouts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", sa.Float),
        sa.Column("window_start", sa.Float),
    )
    op.create_index("ix_password_throttle_subject", "password_throttle", ["subject"])
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_sessions_user_id", "sessions")
    op.drop_index("ix_password_throttle_subject", "password_throttle")
    op.drop_table("password_throttle")
