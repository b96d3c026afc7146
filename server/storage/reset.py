"""Emptying a test server's database: what ``POST /v1/support/reset`` and the pytest plugin run.

A reset deletes every user, device, challenge, session, outbox message and audit event, and keeps
what makes the database this server's: the schema revision and the master key check value (so the
same master key and support token go on working). It is one write transaction: a reset either
happens whole or not at all.

The audit log is append-only in the database itself (triggers refuse UPDATE and DELETE), so a reset
drops those triggers, empties the tables and puts the triggers back, inside that transaction. This is
why a reset is only ever offered by test servers: ``tokensim serve --ephemeral``, whose state is
thrown away at exit anyway, and the pytest plugin's in-process server.

The tables are read from the database, not from the models, so tables added by later migrations are
emptied too.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, text

from tokensim.server.storage.db import Database

__all__ = ["KEPT_TABLES", "reset_database"]

_log = logging.getLogger(__name__)

#: Tables a reset keeps: the schema revision and the master key check value.
KEPT_TABLES = frozenset({"alembic_version", "meta"})


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _reset_sqlite(connection: Connection) -> None:
    # Foreign keys are checked at commit, when every table is empty.
    connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    triggers = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL"
    ).all()
    tables = [
        str(row[0])
        for row in connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    for name, _sql in triggers:
        connection.exec_driver_sql(f"DROP TRIGGER {_quote(str(name))}")
    for table in tables:
        if table not in KEPT_TABLES:
            connection.exec_driver_sql(f"DELETE FROM {_quote(table)}")  # noqa: S608 - names read from the schema
    has_sequence = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
    ).first()
    if has_sequence is not None:
        connection.exec_driver_sql("DELETE FROM sqlite_sequence")
    for _name, sql in triggers:
        connection.exec_driver_sql(str(sql))


def _reset_postgresql(connection: Connection) -> None:
    tables = [
        str(row[0])
        for row in connection.execute(
            text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        )
    ]
    emptied = [table for table in tables if table not in KEPT_TABLES]
    if not emptied:
        return
    # The append-only trigger refuses TRUNCATE too; user triggers are off for this transaction only.
    for table in emptied:
        connection.exec_driver_sql(f"ALTER TABLE {_quote(table)} DISABLE TRIGGER USER")
    connection.exec_driver_sql(
        "TRUNCATE " + ", ".join(_quote(table) for table in emptied) + " RESTART IDENTITY CASCADE"
    )
    for table in emptied:
        connection.exec_driver_sql(f"ALTER TABLE {_quote(table)} ENABLE TRIGGER USER")


def reset_database(db: Database) -> None:
    """Empty every table but the schema revision and the master key check, in one transaction.

    Only for test servers (see the module docstring): the audit log goes too.

    Args:
        db: the database to empty.
    """
    with db.write() as session:
        connection = session.connection()
        if db.dialect == "sqlite":
            _reset_sqlite(connection)
        else:
            _reset_postgresql(connection)
    _log.info("test server state reset")
