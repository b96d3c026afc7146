"""Storage: migrations, SQLite WAL, PostgreSQL, the append-only audit log, secrets at rest, the master key."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import bindparam, insert, inspect, select, text, update
from sqlalchemy.exc import DatabaseError, IntegrityError

from tokensim.protocol.clock import FixedClock
from tokensim.server.config import MASTER_KEY_ENV, ServerConfig
from tokensim.server.errors import MasterKeyError
from tokensim.server.service import Service
from tokensim.server.storage.db import Database
from tokensim.server.storage.models import Base, Device, User
from tokensim.server.storage.models import Session as SessionRow
from tokensim.server.storage.prepared import Prepared, PreparedLoad, changed
from tokensim.server.testing.harness import ALL_KINDS, Harness

from .conftest import NO_ENV, PASSWORD, PHONE


def _check_schema(db: Database) -> None:
    assert db.migrate() == "0005"
    assert db.migrate() == "0005"  # a second start changes nothing
    assert db.revision() == "0005"
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def _check_append_only(db: Database) -> None:
    with db.write() as session:
        session.execute(
            text(
                "INSERT INTO audit_events (at, event, actor, outcome, detail) "
                "VALUES (1, 'e', 'user', 'ok', '{}')"
            )
        )
    for statement in ("UPDATE audit_events SET outcome = 'changed'", "DELETE FROM audit_events"):
        with pytest.raises(DatabaseError, match="append-only"), db.write() as session:
            session.execute(text(statement))
    with db.read() as session:
        assert session.execute(text("SELECT outcome FROM audit_events")).scalars().all() == ["ok"]


def test_sqlite_migrates_to_the_models_in_wal_mode(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/t.sqlite3")
    try:
        _check_schema(db)
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        _check_append_only(db)
    finally:
        db.dispose()


def test_postgresql_migrates_to_the_models(postgres_schema_url: str) -> None:
    db = Database(postgres_schema_url)
    try:
        _check_schema(db)
        _check_append_only(db)
    finally:
        db.dispose()


def test_the_migration_scripts_are_package_resources() -> None:
    names = [entry.name for entry in resources.files("tokensim.server.storage.migrations.versions").iterdir()]
    assert "rev_0001_initial.py" in names


@pytest.mark.parametrize("url", ["mysql://x/y", "not a url", "oracle://u@h/d"])
def test_an_unusable_database_url_is_named(url: str) -> None:
    from tokensim.protocol.errors import InvalidParameter

    with pytest.raises(InvalidParameter):
        Database(url)


def test_a_database_dump_shows_no_secret(config: ServerConfig, clock: FixedClock) -> None:
    from tokensim.server.client import TokensimClient
    from tokensim.server.core import load_support_token
    from tokensim.server.http.app import create_app

    app = create_app(config, clock=clock, environ=NO_ENV)
    secrets: list[str] = [PASSWORD]
    try:
        with TokensimClient.in_process(app, support_token=load_support_token(config.token_path)) as client:
            client.create_user("alice", PASSWORD, phones=[PHONE])
            harness = Harness(client, clock=clock)
            devices = harness.enroll_all("alice", ALL_KINDS, pin="4821")
            clock.advance(30)
            for enrolled in devices:
                result = harness.login("alice", PASSWORD, enrolled)
                secrets.extend([result.grant.token, result.answer])
                provisioning = enrolled.provisioning
                assert provisioning is not None
                if provisioning.secret:
                    secrets.append(provisioning.secret.hex())
                if provisioning.totp_secret:
                    secrets.append(provisioning.totp_secret.hex())
            # Last: a temporary passcode puts the permanent devices back to pending.
            check = client.verify_identity("alice", method="phone-questions", agent="agent-7")
            temporary = client.issue_temporary_passcode("alice", verification_id=check.id)
            assert temporary.passcode is not None
            secrets.append(temporary.passcode)
            secrets.extend(m.text for m in client.outbox())
    finally:
        app.state.service.close()
    secrets = [s for s in secrets if not s.startswith("signed")]
    connection = sqlite3.connect(config.data_dir / "tokensim.sqlite3")
    try:
        dump = "\n".join(connection.iterdump())
        # PINs are 4 digits, so they are looked for as whole values of the readable columns.
        readable = {
            str(v) for row in connection.execute("SELECT * FROM devices") for v in row if isinstance(v, str)
        }
    finally:
        connection.close()
    assert "4821" not in readable
    raw = (config.data_dir / "tokensim.sqlite3").read_bytes()
    for secret in secrets:
        assert secret not in dump, f"{secret[:4]}... appears in the dump"
        assert secret.encode() not in raw


def test_a_wrong_master_key_stops_the_start_with_a_clear_message(config: ServerConfig) -> None:
    Service.open(config, environ=NO_ENV).close()
    with pytest.raises(MasterKeyError, match="not the key this database was created with"):
        Service.open(config, environ={MASTER_KEY_ENV: "11" * 32})


def test_a_missing_master_key_stops_the_start_instead_of_making_a_new_one(config: ServerConfig) -> None:
    Service.open(config, environ=NO_ENV).close()
    config.key_path.unlink()
    with pytest.raises(MasterKeyError, match="no master key"):
        Service.open(config, environ=NO_ENV)
    assert not config.key_path.exists()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_servers_starting_together_on_an_empty_database_agree(
    request: pytest.FixtureRequest, config: ServerConfig, backend: str
) -> None:
    import threading

    if backend == "postgresql":
        config = config.replace(database_url=request.getfixturevalue("postgres_schema_url"))
    environ = {MASTER_KEY_ENV: "33" * 32}
    barrier = threading.Barrier(4)
    outcomes: list[object] = []

    def start() -> None:
        barrier.wait()
        try:
            service = Service.open(config, environ=environ)
        except Exception as e:  # collected and checked below
            outcomes.append(e)
        else:
            outcomes.append(service.core.keys.key_id)
            service.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(outcomes)) == 1
    assert isinstance(outcomes[0], str)


def test_sqlite_writers_of_several_processes_queue_on_a_lock_file(tmp_path: Path) -> None:
    """Two Database objects on one file hold separate locks, as two server processes do."""
    fcntl = pytest.importorskip("fcntl", reason="flock is POSIX-only; elsewhere SQLite's busy handler queues")
    url = f"sqlite:///{tmp_path}/t.sqlite3"
    first, second = Database(url), Database(url)
    first.migrate()

    def held_by_someone() -> bool:
        probe = os.open(tmp_path / "t.sqlite3.writer-lock", os.O_RDWR)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(probe)
        return False

    inside, release, order = threading.Event(), threading.Event(), []

    def hold() -> None:
        with first.write() as session:
            session.execute(text("INSERT INTO meta (key, value) VALUES ('a', '1')"))
            inside.set()
            release.wait(10)
            order.append("first commits")

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(10)
        assert held_by_someone()
        waiter = threading.Thread(target=lambda: _write_then_note(second, order))
        waiter.start()
        waiter.join(0.2)
        assert waiter.is_alive(), "the second writer went ahead while the first held the lock"
        release.set()
        holder.join(10)
        waiter.join(10)
        assert order == ["first commits", "second wrote"]
        assert not held_by_someone()
        with second.read() as session:
            assert session.execute(text("SELECT count(*) FROM meta WHERE key IN ('a', 'b')")).scalar() == 2
    finally:
        release.set()
        holder.join(10)
        first.dispose()
        second.dispose()


def _write_then_note(db: Database, order: list[str]) -> None:
    with db.write() as session:
        session.execute(text("INSERT INTO meta (key, value) VALUES ('b', '2')"))
        order.append("second wrote")


#: One user row with a value of each type that needs converting on its way in or out.
_USER_ROW = {
    "id": "u1",
    "username": "prepared",
    "password_hash": "x",
    "jurisdiction": "US",
    "primary_user": True,  # Boolean: SQLite stores 1
    "equity": Decimal("1234.50"),  # Numeric: SQLite stores a float or a string
    "status": "active",
    "created_at": 7,  # Float: an int is converted too
    "bank_instructions": b"\x00\xff",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database of each backend, disposed afterwards."""
    url = (
        request.getfixturevalue("postgres_schema_url")
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path}/prepared.sqlite3"
    )
    db = Database(url)
    try:
        db.migrate()
        yield db
    finally:
        db.dispose()


def test_prepared_statements_convert_values_count_rows_and_roll_back(migrated: Database) -> None:
    db = migrated
    add_user = Prepared(insert(User))
    lock = Prepared(
        update(User)
        .where(User.id == bindparam("user_id"), User.account_locked_at.is_(None))
        .values(account_locked_at=bindparam("now"))
    )
    row = _USER_ROW
    with db.write() as session:
        assert add_user.run(session, row) == 1
        assert changed(session, lock, {"user_id": "u1", "now": 9.5}) == 1
        assert changed(session, lock, {"user_id": "u1", "now": 10.0}) == 0  # locked already
        assert changed(session, lock, {"user_id": "nobody", "now": 10.0}) == 0
    with db.read() as session:
        user = session.get(User, "u1")
        assert user is not None
        assert (user.equity, user.created_at, user.account_locked_at) == (Decimal("1234.50"), 7.0, 9.5)
        assert (user.password_failures, user.penny_stocks) == (0, False)  # column defaults applied
        assert user.bank_instructions == b"\x00\xff"

    # A driver error comes out as SQLAlchemy's, and the transaction's earlier writes go with it.
    def add_two() -> None:
        with db.write() as session:
            assert add_user.run(session, row | {"id": "u2", "username": "other"}) == 1
            add_user.run(session, row | {"id": "u3"})  # the username is taken

    with pytest.raises(IntegrityError):
        add_two()
    with db.read() as session:
        assert session.scalars(select(User.id).order_by(User.id)).all() == ["u1"]


def test_prepared_load_gives_what_a_session_loads_as_detached_rows(
    migrated: Database, tmp_path: Path
) -> None:
    db = migrated
    with db.write() as session:
        session.execute(insert(User), [_USER_ROW])
        session.execute(
            insert(SessionRow),
            [{"token_digest": "t1", "user_id": "u1", "scope": "portal", "created_at": 1, "expires_at": 2}],
        )
    load = PreparedLoad(
        select(SessionRow, User, Device)
        .join(User, User.id == SessionRow.user_id)
        .outerjoin(Device, Device.id == SessionRow.device_id)
        .where(SessionRow.token_digest == bindparam("digest"))
    )
    row = load.one_or_none(db, {"digest": "t1"})
    assert row is not None
    grant, owner, device = row
    assert device is None  # the outer join found no device
    with db.read() as session:
        expected = [session.get(SessionRow, "t1"), session.get(User, "u1")]
    for loaded, wanted in zip((grant, owner), expected, strict=True):
        assert type(loaded) is type(wanted)
        state = inspect(loaded)
        assert state.detached
        assert state.identity == inspect(wanted).identity
        for attribute in state.mapper.column_attrs:
            got, want = getattr(loaded, attribute.key), getattr(wanted, attribute.key)
            assert (got, type(got)) == (want, type(want)), attribute.key
    assert (owner.primary_user, owner.equity, owner.bank_instructions) == (
        True,
        Decimal("1234.50"),
        b"\x00\xff",
    )
    assert load.one_or_none(db, {"digest": "nobody"}) is None

    # A driver error comes out as SQLAlchemy's: here the schema was never created.
    empty = Database(f"sqlite:///{tmp_path}/empty.sqlite3")
    try:
        with pytest.raises(DatabaseError):
            PreparedLoad(select(User).where(User.id == bindparam("id"))).one_or_none(empty, {"id": "u1"})
    finally:
        empty.dispose()
