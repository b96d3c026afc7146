"""Database engine and transactions, for SQLite (default) and PostgreSQL, and the data folder.

SQLite runs in WAL mode so readers never wait for the writer. Its Python driver opens transactions
lazily and in DEFERRED mode, where two transactions that both read and then write can fail with
"database is locked" when the second tries to upgrade its lock; so the driver's own transaction
handling is turned off and tokensim emits ``BEGIN IMMEDIATE`` for every write transaction, which
takes the write lock up front and waits (``busy_timeout``) instead of failing. Within one process,
write transactions also queue on a lock of their own first: SQLite's busy handler polls with sleeps
of up to 100 ms, so threads of one server left to it would wait far longer than the writer holds
the lock (the tail latency under load). Across the processes of one server (``--workers``) they
then queue on an ``flock`` of a file beside the database, which the kernel hands to the next waiter
the moment it is released. Both locks only order the writers; SQLite's own lock still guarantees
that one writes at a time, so a process that does not take them (another tool) stays correct.

SQL logging (``sqlalchemy.engine`` at INFO) never shows bound parameters: they are hidden, so
identifiers and sealed values stay out of logs even when someone turns SQL logging on.

PostgreSQL runs at READ COMMITTED: every one-time state change is a conditional UPDATE
(``... WHERE status = 'open'``), which a concurrent transaction re-checks after the first commits, so
exactly one of two concurrent answers wins, whichever process each came to.

Migrations are Alembic scripts run in-process at start (:mod:`tokensim.server.storage.migrate`) under a
lock taken here (an advisory lock on PostgreSQL, the write lock on SQLite), so several server processes
starting at once migrate exactly once.

The answer path's prepared statements are in :mod:`tokensim.server.storage.prepared`.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session

from tokensim.protocol.errors import InvalidParameter
from tokensim.server.storage.migrate import current_revision, upgrade_to_head
from tokensim.server.storage.prepared import execute_on_driver

try:
    import fcntl
except ImportError:  # Windows: processes queue on SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

__all__ = ["Database", "prepare_data_dir"]

_log = logging.getLogger(__name__)

# Any constant works; it only has to be the same in every tokensim process.
_PG_MIGRATION_LOCK = 0x746F6B73


def prepare_data_dir(folder: Path) -> None:
    """Make the data folder private (0700) and check that it can be written, before anything else.

    A missing folder is created with mode 0700. An existing one with looser modes is tightened to
    0700 when it belongs to this user and has no sticky bit (a shared folder such as ``/tmp`` is
    left as it is, with a warning): the folder holds the database, the master key and the support
    token, and its listing alone tells who uses which device. A small file is written and removed,
    so a full or read-only disk is named here, with the folder, rather than by whichever write
    fails first.

    Raises:
        InvalidParameter: the path is a file, or the folder cannot be created or written.
    """
    if folder.exists() and not folder.is_dir():
        raise InvalidParameter(f"the data folder {folder} is a file, not a folder: give another --data-dir")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise InvalidParameter(f"cannot create the data folder {folder}: {e.strerror}") from e
    status = folder.stat()
    loose = status.st_mode & 0o077
    if loose and hasattr(os, "getuid"):
        if status.st_uid == os.getuid() and not status.st_mode & stat.S_ISVTX:
            try:
                os.chmod(folder, 0o700)
            except OSError as e:
                _log.warning("cannot make the data folder %s private (0700): %s", folder, e.strerror)
            else:
                _log.warning(
                    "data folder %s was mode %04o; made it 0700", folder, stat.S_IMODE(status.st_mode)
                )
        else:
            _log.warning(
                "data folder %s is mode %04o and not this user's own; keep it private",
                folder,
                stat.S_IMODE(status.st_mode),
            )
    probe = folder / f".tokensim-write-check-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as e:
        raise InvalidParameter(f"cannot write in the data folder {folder}: {e.strerror}") from e
    try:
        os.write(fd, b"\0" * 4096)
        os.fsync(fd)
    except OSError as e:
        raise InvalidParameter(f"cannot write in the data folder {folder}: {e.strerror}") from e
    finally:
        os.close(fd)
        probe.unlink()


def _private_sqlite_files(database: Path) -> None:
    """Create the SQLite file with mode 0600 (its -wal and -shm files take its mode) or tighten it."""
    if not database.exists():
        try:
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as e:
            raise InvalidParameter(f"cannot create the database {database}: {e.strerror}") from e
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        try:
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)
        except FileNotFoundError:
            continue
        except OSError as e:
            _log.warning("cannot make %s private (0600): %s", path, e.strerror)


#: What SQLite's terse messages mean for the person starting the server.
_SQLITE_HINTS = {
    "file is not a database": "is not a SQLite database (damaged, or another kind of file); "
    "restore it from a backup or move it away",
    "database disk image is malformed": "is damaged (malformed); restore it from a backup or move it away",
    "database or disk is full": "cannot be written: the disk is full",
    "attempt to write a readonly database": "cannot be written: read-only (file mode or file system)",
    "unable to open database file": "cannot be opened (missing folder, permissions or a read-only disk)",
}


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Turn off the driver's own BEGIN so the "begin" hook below decides the transaction mode.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    write = connection.get_execution_options().get("tokensim_write", False)
    statement = "BEGIN IMMEDIATE" if write else "BEGIN"
    # Straight to the driver: through ``exec_driver_sql`` this one statement cost about 60
    # microseconds of Python, twice per verification. Its errors (a lock not granted within
    # busy_timeout) are raised as SQLAlchemy's own, as from any statement.
    execute_on_driver(connection.connection.driver_connection, statement, (), {}, connection.dialect)


class Database:
    """One database: its engine, read and write transactions, and migrations.

    Args:
        url: a SQLAlchemy URL: ``sqlite:///path`` or ``postgresql+psycopg://user@host/db``.
        pool_size: connections kept open (PostgreSQL).

    Raises:
        InvalidParameter: the URL is not a SQLite or PostgreSQL URL.
    """

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        try:
            parsed: URL = make_url(url)
        except ArgumentError as e:
            raise InvalidParameter(f"not a database URL: {url!r}") from e
        self.url = parsed
        self.dialect = parsed.get_backend_name()
        try:
            if self.dialect == "sqlite":
                if parsed.database and parsed.database != ":memory:":
                    where = Path(parsed.database)
                    if where.parent.exists() and not where.parent.is_dir():
                        raise InvalidParameter(f"{where.parent} is a file, not a folder for the database")
                    try:
                        where.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    except OSError as e:
                        raise InvalidParameter(
                            f"cannot create the folder {where.parent}: {e.strerror}"
                        ) from e
                    _private_sqlite_files(where)
                engine = create_engine(
                    parsed, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
                )
                event.listen(engine, "connect", _sqlite_connect)
                event.listen(engine, "begin", _sqlite_begin)
            elif self.dialect == "postgresql":
                engine = create_engine(
                    parsed,
                    pool_size=pool_size,
                    max_overflow=pool_size * 2,
                    pool_pre_ping=True,
                    hide_parameters=True,
                )
            else:
                raise InvalidParameter(f"unsupported database {self.dialect!r}: use sqlite or postgresql")
        except (NoSuchModuleError, ImportError) as e:
            raise InvalidParameter(f"no driver for {parsed.drivername!r}: {e}") from e
        self.engine: Engine = engine
        self._writer = engine.execution_options(tokensim_write=True)
        # Reentrant, so a write opened inside another on the same thread fails as SQLite would
        # have it (busy), instead of deadlocking here.
        self._write_lock: threading.RLock | None = threading.RLock() if self.dialect == "sqlite" else None
        # The lock file of the processes sharing a SQLite file (none for an in-memory database, or
        # where the platform has no flock); opened on the first write, so each worker opens its own.
        self._lock_path: Path | None = None
        if self.dialect == "sqlite" and fcntl is not None and parsed.database not in (None, "", ":memory:"):
            self._lock_path = Path(f"{parsed.database}.writer-lock")
        self._lock_file: int | None = None
        self._depth = 0

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that writes: committed on success, rolled back on any exception."""
        if self._write_lock is None:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                yield session
            return
        with (
            self._write_lock,
            self._between_processes(),
            Session(self._writer, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @contextmanager
    def _between_processes(self) -> Iterator[None]:
        # Held by at most one thread (the one holding the write lock); a nested write on that thread
        # keeps the outer flock rather than releasing it early.
        if self._lock_path is None or self._depth > 0:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        assert fcntl is not None
        if self._lock_file is None:
            self._lock_file = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction that only reads (on SQLite it does not take the write lock)."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def serialize(self, session: Session) -> None:
        """Make this write transaction exclusive among tokensim processes (for start-up steps).

        SQLite's ``BEGIN IMMEDIATE`` already is; PostgreSQL takes a transaction-scoped advisory lock.
        """
        if self.dialect == "postgresql":
            session.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))

    def migrate(self) -> str:
        """Bring the schema to the newest revision; return that revision.

        Safe to call from several processes at once: they wait for one another.
        """
        with self.explained("cannot migrate"), self._writer.begin() as connection:
            if self.dialect == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            head = upgrade_to_head(connection, batch=self.dialect == "sqlite")
        _log.info("database schema at revision %s", head)
        return head

    def revision(self) -> str | None:
        """The schema revision the database is at, or ``None`` if it was never migrated."""
        with self.explained("cannot read"), self.engine.connect() as connection:
            return current_revision(connection)

    def probe_write(self) -> None:
        """Write to the database and commit: a row rewritten as it is (the schema revision's).

        What ``/v1/health`` and ``tokensim serve`` run to tell a database that can be read but not
        written (a full or read-only disk) from one that works.

        Raises:
            InvalidParameter: the write failed; the message names the database and why.
        """
        with self.explained("cannot write to"), self._writer.begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")

    @contextmanager
    def explained(self, action: str) -> Iterator[None]:
        """Turn a database error into one line that names the database and the cause.

        Raises:
            InvalidParameter: for any error of the database driver.
        """
        try:
            yield
        except DBAPIError as e:
            reason = str(e.orig).strip().splitlines()[0] if e.orig is not None else str(e)
            where = self.url.render_as_string(hide_password=True)
            if self.dialect == "sqlite":
                where = str(self.url.database)
                hint = _SQLITE_HINTS.get(reason)
                if hint is not None:
                    raise InvalidParameter(f"the database {where} {hint}") from e
            raise InvalidParameter(f"{action} the database {where}: {reason}") from e

    def dispose(self) -> None:
        """Close every pooled connection (and the writers' lock file)."""
        self.engine.dispose()
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"
