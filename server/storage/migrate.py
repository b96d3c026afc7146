"""Alembic migrations run in-process: where the scripts are, the upgrade to the newest, the revision.

The scripts are a package resource (:mod:`tokensim.server.storage.migrations`), so they work from a
wheel, and they run without an ``env.py``: :func:`upgrade_to_head` configures Alembic's environment
on a connection it is given. The caller holds the lock that makes one process migrate at a time
(:meth:`tokensim.server.storage.db.Database.migrate`); this module knows only Alembic.
"""

from __future__ import annotations

from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, RevisionStep
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from tokensim.server.storage.models import Base

__all__ = ["MIGRATIONS", "current_revision", "upgrade_to_head"]

#: Where Alembic finds the migration scripts (a package resource, so it works from a wheel).
MIGRATIONS = "tokensim.server.storage:migrations"


def _scripts() -> tuple[Config, ScriptDirectory]:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return config, ScriptDirectory.from_config(config)


def upgrade_to_head(connection: Connection, *, batch: bool) -> str:
    """Run every migration the database on ``connection`` lacks; return the newest revision.

    Args:
        connection: a connection inside the transaction the migrations run in.
        batch: alter tables by copying them (SQLite, whose ALTER TABLE cannot change columns).
    """
    config, script = _scripts()

    def upgrade(revision: Any, _context: MigrationContext) -> list[RevisionStep]:
        # What alembic's own "upgrade head" command runs, without needing an env.py.
        return script._upgrade_revs("head", revision)

    environment = EnvironmentContext(config, script, fn=upgrade, destination_rev="head")
    with environment:
        environment.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=batch)
        with environment.begin_transaction():
            environment.run_migrations()
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database on ``connection`` is at, or ``None`` if it was never migrated."""
    return MigrationContext.configure(connection).get_current_revision()
