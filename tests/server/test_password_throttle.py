"""Password throttling an outsider cannot turn into a lockout, that answers unknown usernames like
known ones, audits usernames that name nobody as a keyed digest, and fails closed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from tokensim.protocol.clock import FixedClock
from tokensim.server.audit import MASKED_PREFIX
from tokensim.server.client import InProcessTransport, TokensimClient
from tokensim.server.config import ServerConfig
from tokensim.server.errors import AccountLocked, InvalidCredentials, StorageUnavailable, TooManyAttempts
from tokensim.server.hashing import SecretHasher
from tokensim.server.http.app import create_app
from tokensim.server.service import Service
from tokensim.server.testing.harness import Harness

from .conftest import NO_ENV, PASSWORD
from .sls_helpers import problem


class CountingHasher:
    """A hasher that counts the password checks it runs (a check is an argon2 verification)."""

    def __init__(self, inner: SecretHasher) -> None:
        self.inner = inner
        self.checks = 0
        self.unknown = 0

    def verify(self, encoded: str | None, secret: str) -> bool:
        self.checks += 1
        self.unknown += encoded is None
        return self.inner.verify(encoded, secret)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _counting(service: Service) -> CountingHasher:
    counting = CountingHasher(service.core.hasher)
    service.core.hasher = counting  # type: ignore[assignment]
    return counting


def _attempt(service: Service, username: str, password: str, origin: str) -> str:
    """One login attempt; what came of it, as an error name (or ``ok``)."""
    try:
        service.logins.start(username, password, origin=origin)
    except (InvalidCredentials, TooManyAttempts, AccountLocked) as e:
        return type(e).__name__
    return "ok"


def test_wrong_passwords_pause_only_that_username_from_that_address(
    service: Service, clock: FixedClock
) -> None:
    service.users.create_user("alice", PASSWORD)
    hasher = _counting(service)
    outcomes = [_attempt(service, "alice", "guess", "203.0.113.9") for _ in range(50)]
    assert outcomes == ["InvalidCredentials"] * 5 + ["TooManyAttempts"] * 45
    assert hasher.checks == 5  # refused attempts are not checked at all
    # The right password from the attacker's address is paused too; from the user's own, it works.
    with pytest.raises(TooManyAttempts) as paused:
        service.logins.start("alice", PASSWORD, origin="203.0.113.9")
    assert paused.value.retry_after == 30.0
    assert service.logins.start("alice", PASSWORD, origin="198.51.100.7").username == "alice"
    clock.advance(30)
    assert _attempt(service, "alice", "guess", "203.0.113.9") == "InvalidCredentials"


def test_an_outsider_with_many_addresses_reaches_only_the_nist_cap(service: Service) -> None:
    service.users.create_user("alice", PASSWORD)
    # 99 consecutive failures from 99 addresses, then a success: the username's counter resets.
    for n in range(99):
        assert _attempt(service, "alice", "guess", f"10.0.{n // 200}.{n % 200}") == "InvalidCredentials"
    assert _attempt(service, "alice", PASSWORD, "198.51.100.7") == "ok"
    for n in range(100):
        assert _attempt(service, "alice", "guess", f"10.1.{n // 200}.{n % 200}") == "InvalidCredentials"
    # The 100th consecutive failure stops the username's checks everywhere, until support unlocks.
    with pytest.raises(AccountLocked):
        service.logins.start("alice", PASSWORD, origin="198.51.100.7")
    service.users.unlock_account("alice")
    assert service.logins.start("alice", PASSWORD, origin="198.51.100.7").username == "alice"


def test_spraying_passwords_over_many_users_from_one_address_is_stopped(
    service: Service, clock: FixedClock
) -> None:
    users = [f"user{n}" for n in range(8)]
    for user in users:
        service.users.create_user(user, PASSWORD)
    hasher = _counting(service)
    outcomes = [
        _attempt(service, user, f"guess {round_}", "203.0.113.9") for round_ in range(4) for user in users
    ]
    assert outcomes == ["InvalidCredentials"] * 20 + ["TooManyAttempts"] * 12
    assert hasher.checks == 20
    with pytest.raises(TooManyAttempts) as refused:
        service.logins.start("user0", PASSWORD, origin="203.0.113.9")
    assert refused.value.retry_after == 900.0
    # Other addresses are untouched; the budget returns with the next window.
    assert service.logins.start("user0", PASSWORD, origin="198.51.100.7").username == "user0"
    clock.advance(900)
    assert _attempt(service, "user1", "guess", "203.0.113.9") == "InvalidCredentials"


def test_a_right_password_gives_the_address_its_check_back(service: Service) -> None:
    service.users.create_user("alice", PASSWORD)
    service.users.create_user("bob", PASSWORD)
    # A shared office address: 19 typos, then people who know their password keep logging in.
    for n in range(19):
        assert _attempt(service, f"nobody{n}", "guess", "192.0.2.1") == "InvalidCredentials"
    for _ in range(10):
        assert _attempt(service, "alice", PASSWORD, "192.0.2.1") == "ok"
        assert _attempt(service, "bob", PASSWORD, "192.0.2.1") == "ok"
    assert _attempt(service, "nobody", "guess", "192.0.2.1") == "InvalidCredentials"  # the 20th
    assert _attempt(service, "alice", PASSWORD, "192.0.2.1") == "TooManyAttempts"


@pytest.fixture
def app(config: ServerConfig, clock: FixedClock) -> Iterator[Any]:
    made = create_app(config, clock=clock, environ=NO_ENV)
    try:
        yield made
    finally:
        made.state.service.close()


def _from(app: Any, address: str) -> httpx.Client:
    """A plain HTTP client the app sees as coming from ``address``."""
    return httpx.Client(
        base_url="http://tokensim.local", transport=InProcessTransport(app, client=(address, 40000))
    )


def _answers(http: httpx.Client, username: str, password: str) -> tuple[int, dict[str, Any], str | None]:
    response = http.post("/v1/login", json={"username": username, "password": password})
    body = response.json()
    body.pop("instance", None)
    return response.status_code, body, response.headers.get("retry-after")


def test_unknown_and_known_usernames_get_the_same_answers(
    app: Any, clock: FixedClock, config: ServerConfig
) -> None:
    service: Service = app.state.service
    service.users.create_user("alice", PASSWORD)
    hasher = _counting(service)
    with _from(app, "203.0.113.1") as known, _from(app, "203.0.113.2") as unknown:
        for _ in range(3):
            seen = [_answers(known, "alice", "guess") for _ in range(7)]
            assert [_answers(unknown, "alicf", "guess") for _ in range(7)] == seen
            clock.advance(seen[-1][1]["retry_after"])
    statuses = [status for status, _body, _retry in seen]
    assert statuses == [401] * 5 + [429] * 2
    assert seen[-1][2] == "120"  # the third pause of the pair: 30, 60, 120 s
    # Each checked attempt ran argon2 once, an unknown username against the dummy hash.
    assert (hasher.checks, hasher.unknown) == (30, 15)


def test_the_username_cap_answers_unknown_usernames_alike(service: Service) -> None:
    service.users.create_user("alice", PASSWORD)
    for name in ("alice", "alicf"):
        for n in range(100):
            assert _attempt(service, name, "guess", f"10.2.{n // 200}.{n % 200}") == "InvalidCredentials"
        assert _attempt(service, name, "guess", "198.51.100.7") == "AccountLocked"


def test_the_audit_log_keeps_unknown_usernames_as_a_keyed_digest(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    typed = "correct horse battery staple"  # a password typed into the username box
    assert problem(lambda: client.login(typed, "x")).code == "invalid-credentials"
    assert problem(lambda: client.login(alice, "wrong password")).code == "invalid-credentials"
    rows = client.audit(event="login.password")
    assert typed not in repr([(r.username, r.detail) for r in rows])
    stored = rows[0].username
    assert stored is not None
    assert stored.startswith(MASKED_PREFIX)
    assert len(stored) == len(MASKED_PREFIX) + 32
    assert (rows[0].outcome, rows[1].username) == ("failed", alice)
    # Support still finds the attempts made with that name, and only those.
    assert [r.username for r in client.audit(username=typed)] == [stored]


def test_throttled_attempts_are_audited(service: Service) -> None:
    for _ in range(6):
        _attempt(service, "nobody", "guess", "203.0.113.9")
    rows = service.users.audit(event="login.password")
    assert [r.outcome for r in rows] == ["failed"] * 5 + ["throttled"]
    assert rows[-1].detail["reason"] == "too-many-attempts"
    assert rows[-1].detail["retry_after"] == 30.0
    assert all(r.username and r.username.startswith(MASKED_PREFIX) for r in rows)


def _read_only(service: Service) -> None:
    """Make every database connection of the service refuse writes, as a full or read-only disk does."""
    engine = service.core.db.engine
    event.listen(engine, "connect", lambda connection, _record: connection.execute("PRAGMA query_only = ON"))
    engine.dispose()


def test_a_failure_that_cannot_be_recorded_is_refused_unchecked(app: Any) -> None:
    service: Service = app.state.service
    service.users.create_user("alice", PASSWORD)
    hasher = _counting(service)
    _read_only(service)
    with _from(app, "203.0.113.1") as http:
        for username, password in (("alice", "guess"), ("alice", PASSWORD), ("nobody", "guess")):
            response = http.post("/v1/login", json={"username": username, "password": password})
            assert response.status_code == 503
            assert response.json()["code"] == "storage-unavailable"
    assert hasher.checks == 0  # never checked for free
    with pytest.raises(StorageUnavailable):
        service.logins.start("alice", "guess", origin="203.0.113.1")


def test_an_answer_that_cannot_be_recorded_is_refused_right_or_wrong(
    client: TokensimClient, harness: Harness, alice: str, config: ServerConfig, clock: FixedClock
) -> None:
    card = harness.enroll(alice, "scc")
    started = client.login(alice, PASSWORD)
    challenge = client.challenge(started.login_id, card.device_id)
    right = harness.answer(card, challenge)
    service = Service.open(
        config, clock=clock, environ=NO_ENV
    )  # a second process on the same database, read-only
    try:
        _read_only(service)
        with pytest.raises(StorageUnavailable):
            service.logins.answer(started.login_id, challenge.id, "AAAAAA")
        with pytest.raises(StorageUnavailable):
            service.logins.answer(started.login_id, challenge.id, right)
    finally:
        service.close()
    # Nothing was counted or used: the right answer still works through the writable server.
    assert client.answer(started.login_id, challenge.id, right).token


def test_the_config_keeps_the_username_cap_within_nist() -> None:
    with pytest.raises(Exception, match="password_account_max_failures"):
        ServerConfig(password_account_max_failures=101)
    with pytest.raises(Exception, match="password_address_max_failures"):
        ServerConfig(password_address_max_failures=0)


def test_problem_bodies_of_the_throttle_carry_retry_after(app: Any) -> None:
    with _from(app, "203.0.113.1") as http:
        for _ in range(5):
            http.post("/v1/login", json={"username": "nobody", "password": "guess"})
        response = http.post("/v1/login", json={"username": "nobody", "password": "guess"})
    assert (response.status_code, response.headers["retry-after"]) == (429, "30")
    assert response.json()["retry_after"] == 30.0
