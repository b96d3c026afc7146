"""Faults and abuse against real server processes: replay storms, withdrawal races, kill -9, brute force.

``test_concurrency.py`` races a dozen threads in-process and ``test_e2e.py`` a dozen requests over
sockets; here 50 parallel submissions of one answer go to two server processes (uvicorn workers on
SQLite, two ``tokensim serve`` on PostgreSQL). Nothing here asserts a time: every wait is bounded
and only counts and states are checked.
"""

from __future__ import annotations

import math
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tokensim.protocol.cards import CardKind
from tokensim.protocol.clock import FixedClock
from tokensim.protocol.errors import DeviceLocked
from tokensim.server.client import TokensimClient
from tokensim.server.config import MASTER_KEY_ENV, SUPPORT_TOKEN_ENV, ServerConfig
from tokensim.server.errors import AccountLocked, WrongAnswer
from tokensim.server.service import Service
from tokensim.server.testing.harness import Enrolled, Harness
from tokensim.server.throttle import lockout_seconds
from tokensim.server.views import ChallengeView

from .conftest import PASSWORD
from .real_server import race, start_server, stop_server

STORM = 50
DAY = 86400.0


def _storm(client: TokensimClient, urls: list[str], username: str) -> list[int]:
    """50 parallel submissions of one right answer, spread over ``urls``; returns the statuses."""
    client.create_user(username, PASSWORD)
    harness = Harness(client)
    card = harness.enroll(username, "dsc-plus")
    started = client.login(username, PASSWORD)
    challenge = client.challenge(started.login_id, card.device_id)
    body = {"challenge_id": challenge.id, "answer": harness.answer(card, challenge)}
    path = f"/v1/login/{started.login_id}/answer"
    return race([(urls[i % len(urls)], path, body) for i in range(STORM)])


def _sessions_of(client: TokensimClient, username: str) -> int:
    return len(client.audit(username=username, event="session.created", limit=1000))


def test_a_replay_storm_on_two_sqlite_workers_is_accepted_once(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--workers", "2")
    try:
        with TokensimClient(server.url, support_token=server.token()) as client:
            statuses = _storm(client, [server.url], "storm")
            assert sorted(statuses) == [201] + [409] * (STORM - 1)
            assert _sessions_of(client, "storm") == 1
    finally:
        stop_server(server)


def test_a_replay_storm_across_two_postgresql_servers_is_accepted_once(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    shared = {MASTER_KEY_ENV: os.urandom(32).hex(), SUPPORT_TOKEN_ENV: "storm-" + os.urandom(8).hex()}
    first = start_server(tmp_path / "a", "--db", postgres_schema_url, env=shared, name="a")
    try:
        second = start_server(tmp_path / "b", "--db", postgres_schema_url, env=shared, name="b")
        try:
            with TokensimClient(first.url, support_token=shared[SUPPORT_TOKEN_ENV]) as client:
                statuses = _storm(client, [first.url, second.url], "storm")
                assert sorted(statuses) == [201] + [409] * (STORM - 1)
                assert _sessions_of(client, "storm") == 1
        finally:
            stop_server(second)
    finally:
        stop_server(first)


# -- withdrawal races ----------------------------------------------------------------------------

CARD_DAY_LIMIT = 200_000  # a Security Code Card's withdrawals a day (USD)
WITHDRAWAL = 10_000


def _withdrawal_storm(client: TokensimClient, urls: list[str], username: str) -> list[int]:
    """50 parallel withdrawals of 10K, each with its own right answer, against a card's 200K a day."""
    client.create_user(username, PASSWORD)
    harness = Harness(client)
    card = harness.enroll(username, "scc")
    token = harness.login(username, PASSWORD, card).grant.token
    bodies = []
    for _ in range(STORM):
        challenge = client.step_up(token, card.device_id, "withdrawal")
        answer = harness.answer(card, challenge)
        bodies.append({"amount_usd": f"{WITHDRAWAL}.00", "challenge_id": challenge.id, "answer": answer})
    barrier = threading.Barrier(STORM)
    statuses: list[int] = []
    lock = threading.Lock()

    def send(base: str, body: dict[str, str]) -> None:
        with httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
            http.get("/v1/health")  # connect first, so the posts leave together
            barrier.wait()
            status = http.post("/v1/withdrawals", json=body).status_code
        with lock:
            statuses.append(status)

    threads = [
        threading.Thread(target=send, args=(urls[i % len(urls)], body)) for i, body in enumerate(bodies)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    remaining = client.withdrawal_limits(token)
    assert [r.remaining_day_usd for r in remaining if r.device_kind == "scc"] == ["0.00"]
    return statuses


def test_50_parallel_withdrawals_on_two_sqlite_workers_never_pass_the_limit(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--workers", "2")
    try:
        with TokensimClient(server.url, support_token=server.token()) as client:
            statuses = _withdrawal_storm(client, [server.url], "spender")
    finally:
        stop_server(server)
    fits = CARD_DAY_LIMIT // WITHDRAWAL
    assert sorted(statuses) == [201] * fits + [403] * (STORM - fits)


def test_50_parallel_withdrawals_across_two_postgresql_servers_never_pass_the_limit(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    shared = {MASTER_KEY_ENV: os.urandom(32).hex(), SUPPORT_TOKEN_ENV: "spend-" + os.urandom(8).hex()}
    first = start_server(tmp_path / "a", "--db", postgres_schema_url, env=shared, name="a")
    try:
        second = start_server(tmp_path / "b", "--db", postgres_schema_url, env=shared, name="b")
        try:
            with TokensimClient(first.url, support_token=shared[SUPPORT_TOKEN_ENV]) as client:
                statuses = _withdrawal_storm(client, [first.url, second.url], "spender")
        finally:
            stop_server(second)
    finally:
        stop_server(first)
    fits = CARD_DAY_LIMIT // WITHDRAWAL
    assert sorted(statuses) == [201] * fits + [403] * (STORM - fits)


# -- kill -9 mid-load -----------------------------------------------------------------------------


@dataclass
class _Load:
    """What the clients saw: answers accepted, answers whose reply never came, anything else."""

    accepted: list[tuple[str, dict[str, str], str]] = field(default_factory=list)
    unknown: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    logins: int = 0
    unexpected: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    enough: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)


def _log_in_repeatedly(url: str, harness: Harness, card: Enrolled, load: _Load, want: int) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        while not load.stop.is_set():
            try:
                started = http.post("/v1/login", json={"username": card.username, "password": PASSWORD})
                if started.status_code != 201:
                    load.unexpected.append(started.status_code)
                    return
                with load.lock:
                    load.logins += 1
                login_id = started.json()["login_id"]
                view = http.post(f"/v1/login/{login_id}/challenge", json={"device_id": card.device_id})
                if view.status_code != 201:
                    load.unexpected.append(view.status_code)
                    return
            except httpx.TransportError:
                return  # the server died between two steps: nothing was answered
            challenge = ChallengeView.from_json(view.json())
            path = f"/v1/login/{login_id}/answer"
            body = {"challenge_id": challenge.id, "answer": harness.answer(card, challenge)}
            try:
                reply = http.post(path, json=body)
            except httpx.TransportError:
                with load.lock:
                    load.unknown.append((path, body))
                return
            with load.lock:
                if reply.status_code == 201:
                    load.accepted.append((path, body, reply.json()["token"]))
                    if len(load.accepted) >= want:
                        load.enough.set()
                else:
                    load.unexpected.append(reply.status_code)
                    return


def test_kill_9_mid_load_loses_nothing_committed_and_accepts_no_answer_twice(tmp_path: Path) -> None:
    clients, want = 6, 30
    server = start_server(tmp_path, name="before")
    token = server.token()
    with TokensimClient(server.url, support_token=token) as client:
        harness = Harness(client)
        cards = []
        for i in range(clients):
            client.create_user(f"load{i}", PASSWORD)
            cards.append(harness.enroll(f"load{i}", "dsc-plus"))
    load = _Load()
    threads = [
        threading.Thread(target=_log_in_repeatedly, args=(server.url, harness, card, load, want))
        for card in cards
    ]
    for thread in threads:
        thread.start()
    try:
        reached = load.enough.wait(timeout=120)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=30)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        stop_server(server)
    assert reached, f"only {len(load.accepted)} logins finished before the limit"
    assert server.process.returncode == -signal.SIGKILL
    assert load.unexpected == []
    print(f"kill -9 after {len(load.accepted)} accepted answers, {len(load.unknown)} in flight")

    after = start_server(tmp_path, name="after")
    try:
        with TokensimClient(after.url, support_token=token) as client:
            for _path, _body, session_token in load.accepted:
                assert client.session(session_token).username.startswith("load")  # nothing committed lost
            with httpx.Client(base_url=after.url, timeout=10) as http:
                again = [http.post(path, json=body).status_code for path, body, _ in load.accepted]
                assert again == [409] * len(load.accepted)  # none accepted twice
                late = [http.post(path, json=body).status_code for path, body in load.unknown]
            # An answer in flight at the kill was committed (now a replay) or rolled back (accepted now).
            assert set(late) <= {201, 409}
            sessions = client.audit(event="session.created", limit=1000)
            assert len(sessions) == len(load.accepted) + len(load.unknown)
            answers = client.audit(event="challenge.answer", limit=1000)
            ok = [a for a in answers if a.outcome == "ok" and a.detail.get("purpose") == "login"]
            assert len(ok) == len(sessions)  # the audit log holds every accepted answer
            passwords = [a for a in client.audit(event="login.password", limit=1000) if a.outcome == "ok"]
            assert load.logins <= len(passwords) <= load.logins + clients
    finally:
        stop_server(after)


# -- brute force ----------------------------------------------------------------------------------


def guesses_before_support(config: ServerConfig, horizon: float) -> int:
    """Wrong answers one account can have checked within ``horizon`` seconds, whatever the attacker does.

    Each device locks after ``device_max_failures`` in a row, for a time that doubles; the account
    locks for good (until support unlocks it) after ``account_max_failures`` in a row over all devices.
    """
    guesses, elapsed, lockouts = 0, 0.0, 0
    while guesses < config.account_max_failures:
        guesses += min(config.device_max_failures, config.account_max_failures - guesses)
        if guesses >= config.account_max_failures:
            break
        elapsed += lockout_seconds(lockouts, config.device_lockout, config.device_lockout_max)
        lockouts += 1
        if elapsed >= horizon:
            break
    return guesses


def _guess_until_stopped(
    service: Service, clock: FixedClock, username: str, device_id: str, guess: str
) -> int:
    checked = 0
    start = clock.now()
    while clock.now() - start < DAY:
        login = service.logins.start(username, PASSWORD)
        challenge = service.logins.challenge(login.login_id, device_id)
        try:
            service.logins.answer(login.login_id, challenge.id, guess)
        except WrongAnswer:
            checked += 1
        except DeviceLocked as e:
            checked += 1  # the guess that locked it was checked too
            clock.advance(e.retry_after or 0.0)
        except AccountLocked:
            checked += 1
            return checked
    return checked


@pytest.mark.parametrize(
    ("kind", "guess", "space"),
    [
        ("dsc-plus", "12345678", 10**8),  # an 8-digit OCRA response
        ("scc", "AAAAAA", len(CardKind.SECURITY_CODE_CARD.alphabet) ** 6),  # two 3-character cells
        ("online-scc", "000000", 10**6),  # two 3-digit cells
    ],
)
def test_guessing_hits_the_throttle_long_before_a_guess_is_likely_to_land(
    service: Service, clock: FixedClock, kind: str, guess: str, space: int
) -> None:
    config = service.core.config
    allowed = guesses_before_support(config, DAY)
    service.users.create_user("victim", PASSWORD)
    enrollment = service.enrollment.enroll("victim", kind, pin="1234" if kind == "dsc-plus" else None)
    service.enrollment.activate_without_proof(enrollment.device.id)
    checked = _guess_until_stopped(service, clock, "victim", enrollment.device.id, guess)
    assert checked == allowed == config.account_max_failures == 100
    chance = 1 - (1 - 1 / space) ** allowed
    print(f"{kind}: {allowed} guesses a day at most, then support must unlock; P(success) = {chance:.2e}")
    assert chance < 1e-3
    assert math.isclose(chance, allowed / space, rel_tol=1e-3)
    with pytest.raises(AccountLocked):
        service.logins.start("victim", PASSWORD)


def test_without_the_account_limit_the_device_lockouts_alone_allow_few_guesses_a_day() -> None:
    # If support unlocked the account every time, the doubling device lockout (capped at an hour)
    # would still allow only about 5 guesses an hour.
    config = ServerConfig()
    per_day = 0
    elapsed, lockouts = 0.0, 0
    while elapsed < DAY:
        per_day += config.device_max_failures
        elapsed += lockout_seconds(lockouts, config.device_lockout, config.device_lockout_max)
        lockouts += 1
    assert per_day == 5 * lockouts
    assert per_day <= 150
    print(f"device lockouts alone: {per_day} guesses a day; DSC+ P(success) = {per_day / 10**8:.1e} a day")
