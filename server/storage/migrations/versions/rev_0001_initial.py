"""Initial schema: users, phones, devices, logins, challenges, sessions, outbox, audit log, meta.

The audit log is append-only in the database itself: a trigger refuses every UPDATE and DELETE, so
even a bug (or a person with the server's database credentials) cannot quietly rewrite history
through the normal connection.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create every table of the first release."""
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("jurisdiction", sa.String(8), nullable=False),
        sa.Column("primary_user", sa.Boolean, nullable=False),
        sa.Column("equity", sa.Numeric(20, 2), nullable=False),
        sa.Column("entity", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("password_failures", sa.Integer, nullable=False),
        sa.Column("password_lockouts", sa.Integer, nullable=False),
        sa.Column("password_locked_until", sa.Float),
        sa.Column("factor_failures", sa.Integer, nullable=False),
        sa.Column("account_locked_at", sa.Float),
    )
    op.create_table(
        "phone_numbers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("verified_at", sa.Float, nullable=False),
        sa.UniqueConstraint("user_id", "number", name="uq_phone_numbers_user_number"),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False, unique=True),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("secrets", sa.LargeBinary),
        sa.Column("suite", sa.String(64)),
        sa.Column("digits", sa.Integer, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("algorithm", sa.String(8), nullable=False),
        sa.Column("firmware", sa.String(16), nullable=False),
        sa.Column("number", sa.String(32)),
        sa.Column("public_key", sa.Text),
        sa.Column("counter", sa.BigInteger),
        sa.Column("last_step", sa.BigInteger),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("lockouts", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.Float),
        sa.Column("issued_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("activated_at", sa.Float),
        sa.Column("revoked_at", sa.Float),
    )
    op.create_index("ix_devices_user_id", "devices", ["user_id"])
    op.create_table(
        "card_cells",
        sa.Column("device_id", sa.String(40), sa.ForeignKey("devices.id"), primary_key=True),
        sa.Column("cell", sa.Integer, primary_key=True),
    )
    op.create_table(
        "logins",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_table(
        "challenges",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("device_id", sa.String(40), sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("login_id", sa.String(64), sa.ForeignKey("logins.id")),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("form", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("question", sa.String(64)),
        sa.Column("indices", sa.String(64)),
        sa.Column("push_request", sa.Text),
        sa.Column("code_mac", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("answered_at", sa.Float),
    )
    op.create_index("ix_challenges_device_status", "challenges", ["device_id", "status"])
    op.create_index("ix_challenges_login_id", "challenges", ["login_id"])
    op.create_table(
        "sessions",
        sa.Column("token_digest", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("device_id", sa.String(40), sa.ForeignKey("devices.id")),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
    )
    op.create_table(
        "outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(40), nullable=False, unique=True),
        sa.Column("to_number", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("sender", sa.String(32), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_outbox_to_number", "outbox", ["to_number"])
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("event", sa.String(48), nullable=False),
        sa.Column("actor", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(40)),
        sa.Column("username", sa.String(64)),
        sa.Column("device_id", sa.String(40)),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_events_user_id", "audit_events", ["user_id"])
    _append_only_audit()


def _append_only_audit() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{action.lower()} BEFORE {action} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
        )


def downgrade() -> None:
    """Drop everything (development only: the audit log goes with it)."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    for table in (
        "audit_events",
        "outbox",
        "sessions",
        "challenges",
        "logins",
        "card_cells",
        "devices",
        "phone_numbers",
        "users",
        "meta",
    ):
        op.drop_table(table)
