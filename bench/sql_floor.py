"""What a verification costs in the database alone, against what it costs through the service.

    python bench/sql_floor.py [--count 2000] [--form numeric]

It seeds devices and prepares ``--count`` logins in-process (untimed, as http_load.py does), copies the
SQLite database, then answers every login through the service (no HTTP) on driver connections that
record every call made on them: each statement with its parameters, each commit and rollback. The
record is then replayed, in order, on the copy through one bare ``sqlite3`` connection: the same
reads and writes, on the same rows, with no tokensim code between them. It prints the CPU time per
verification of each: the service's, and the floor that a verification costs however little Python
surrounds it.

The gap between the two is the Python around the statements (SQLAlchemy's session and transaction,
the answer check, the audit rows, the session token); the HTTP stack comes on top of both (see
the no-op runs of http_load.py). Read with those, it shows where a verification's time goes, and
how far any rewrite of the answer path could take it.

This is a script that prints figures, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from http_load import FORMS, _config, in_process, prepare, seed
from sqlalchemy import event


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="verifications to time")
    parser.add_argument(
        "--form", default="numeric", choices=[f for f in FORMS if f not in ("code", "oob", "push")]
    )
    args = parser.parse_args()
    clients = 32
    with tempfile.TemporaryDirectory(prefix="tokensim-floor-") as temp:
        folder = Path(temp)
        config = _config(folder, None)
        with in_process(config) as (service, harness):
            seeded = seed(service, harness, args.form, clients, 0)
            work = prepare(service, harness, seeded, clients, args.count)
            answers = [verification.steps[0] for mine in work for verification in mine]
            engine = service.core.db.engine
            # Every connection from here on is new and traced; the file is copied with none open.
            engine.dispose()
            database = Path(str(engine.url.database))
            copy = folder / "floor.sqlite3"
            _copy_database(database, copy)
            event.listen(engine, "do_connect", _recorded)
            cpu = time.process_time()
            for step in answers:
                assert step.body is not None
                service.logins.answer(step.path.split("/")[3], step.body["challenge_id"], step.body["answer"])
            service_cpu = time.process_time() - cpu
        replay = sqlite3.connect(copy, isolation_level=None)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
            replay.execute(f"PRAGMA {pragma}")
        calls = list(_RECORD)
        cursor = replay.cursor()
        cpu = time.process_time()
        for sql, parameters in calls:
            if sql is _COMMIT:
                replay.commit()
            elif sql is _ROLLBACK:
                replay.rollback()
            else:
                cursor.execute(sql, parameters).fetchall()
        floor_cpu = time.process_time() - cpu
        replay.close()
    count = len(answers)
    statements = sum(sql not in (_COMMIT, _ROLLBACK) for sql, _ in calls)
    print(f"{count} {args.form} verifications, {statements / count:.1f} statements each (SQLite)")
    print(f"  service, in-process (no HTTP):        {1000 * service_cpu / count:.3f} ms CPU each")
    print(f"  the same statements on bare sqlite3:  {1000 * floor_cpu / count:.3f} ms CPU each")
    return 0


#: Every call made on a recorded connection, in order: (SQL, parameters), or a commit or rollback.
_RECORD: list[tuple[str, Any]] = []
_COMMIT, _ROLLBACK = "COMMIT (driver)", "ROLLBACK (driver)"


class _RecordedCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        _RECORD.append((sql, parameters))
        return super().execute(sql, parameters)


class _RecordedConnection(sqlite3.Connection):
    def cursor(self, factory: Any = _RecordedCursor) -> Any:
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        _RECORD.append((sql, parameters))
        return super().execute(sql, parameters)

    def commit(self) -> None:
        _RECORD.append((_COMMIT, None))
        super().commit()

    def rollback(self) -> None:
        _RECORD.append((_ROLLBACK, None))
        super().rollback()


def _recorded(_dialect: Any, _record: Any, _args: Any, options: dict[str, Any]) -> None:
    """SQLAlchemy's ``do_connect`` hook: the engine's next connections record what runs on them."""
    options["factory"] = _RecordedConnection


def _copy_database(database: Path, copy: Path) -> None:
    """Copy a SQLite database that no connection holds open, folding its WAL into the copy."""
    source = sqlite3.connect(database)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    shutil.copymode(database, copy)


if __name__ == "__main__":
    sys.exit(main())
