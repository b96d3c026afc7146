"""IB Key signed requests: the time of each phone's last accepted request, so none is taken twice.

The new column is nullable: a registration that never signed a request has none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``devices.request_time``."""
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("request_time", sa.BigInteger))


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("request_time")
