"""Attacks from a client that is not ours: plain httpx against a real ``tokensim serve`` on a socket.

Each burst is sent by threads that connect first and post together, from loopback addresses of their
own (``127.0.0.N``: every such address reaches the server on 127.0.0.1), so the server sees an
attacker's address apart from the user's. What was really checked is read back from the audit log
(``failed`` rows are guesses counted and answered; ``throttled`` and ``refused`` rows were refused
without telling right from wrong),
and printed (``pytest -s``) as "checked X of N".
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tokensim.server.client import TokensimClient
from tokensim.server.testing.harness import Harness

from .conftest import PASSWORD
from .real_server import Server, start_server, stop_server

PASSWORD_BURST = 40
USERS = 8
GUESS_BURST = 31


def _burst(url: str, source: str, requests: list[tuple[str, dict[str, Any]]]) -> list[tuple[int, str]]:
    """POST every request at once, each on its own connection from ``source``; (status, code) of each."""
    barrier = threading.Barrier(len(requests))
    results: list[tuple[int, str]] = [(0, "")] * len(requests)

    def send(n: int, path: str, body: dict[str, Any]) -> None:
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(base_url=url, timeout=60, transport=transport) as http:
            http.get("/v1/health")  # connect first, so the posts leave together
            barrier.wait()
            response = http.post(path, json=body)
        code = "" if response.status_code < 400 else str(response.json().get("code"))
        results[n] = (response.status_code, code)

    threads = [threading.Thread(target=send, args=(n, *request)) for n, request in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _outcomes(support: TokensimClient, event: str, after: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in support.audit(event=event, after=after, limit=1000):
        counts[row.outcome] = counts.get(row.outcome, 0) + 1
    return counts


def _last_seq(support: TokensimClient) -> int:
    rows = support.audit(after=0, limit=1000)
    while len(rows) == 1000:
        rows = support.audit(after=rows[-1].seq, limit=1000)
    return rows[-1].seq if rows else 0


def _attack(server: Server, support_token: str, label: str) -> None:
    url = server.url
    with TokensimClient(url, support_token=support_token) as support:
        support.create_user("victim", PASSWORD, start_with_sms=False)
        for n in range(USERS):
            support.create_user(f"sprayed{n}", PASSWORD, start_with_sms=False)
        harness = Harness(support)
        card = harness.enroll("victim", "dsc-plus")

        # 1. Parallel wrong passwords for one username from one address: 5 checked.
        mark = _last_seq(support)
        results = _burst(
            url, "127.0.0.2", [("/v1/login", {"username": "victim", "password": "guess"})] * PASSWORD_BURST
        )
        checked = _outcomes(support, "login.password", mark)
        print(f"\n[{label}] wrong passwords: checked {checked.get('failed', 0)} of {PASSWORD_BURST}")
        assert checked == {"failed": 5, "throttled": PASSWORD_BURST - 5}
        assert sorted(status for status, _ in results) == [401] * 5 + [429] * (PASSWORD_BURST - 5)

        # The user, from their own address, is not locked out.
        started = httpx.post(f"{url}/v1/login", json={"username": "victim", "password": PASSWORD})
        assert started.status_code == 201

        # 2. Spraying 4 passwords over 8 users from one address: the address's 20 are checked.
        mark = _last_seq(support)
        spray = [
            ("/v1/login", {"username": f"sprayed{n}", "password": f"Winter202{round_}!"})
            for round_ in range(4)
            for n in range(USERS)
        ]
        results = _burst(url, "127.0.0.4", spray)
        checked = _outcomes(support, "login.password", mark)
        print(f"[{label}] spray: checked {checked.get('failed', 0)} of {len(spray)}")
        assert checked == {"failed": 20, "throttled": len(spray) - 20}
        assert sorted(status for status, _ in results) == [401] * 20 + [429] * (len(spray) - 20)

        # 3. Second-factor guesses over 11 challenges of one device (3 each would be 33): 5 checked.
        login_id = started.json()["login_id"]
        challenges = [support.challenge(login_id, card.device_id).id for _ in range(11)]
        mark = _last_seq(support)
        guesses = [
            (f"/v1/login/{login_id}/answer", {"challenge_id": challenges[n % 11], "answer": f"{n:08d}"})
            for n in range(GUESS_BURST)
        ]
        results = _burst(url, "127.0.0.5", guesses)
        checked = _outcomes(support, "challenge.answer", mark)
        print(f"[{label}] second-factor guesses: checked {checked.get('failed', 0)} of {GUESS_BURST}")
        assert checked == {"failed": 5, "refused": GUESS_BURST - 5}
        assert {code for _, code in results} <= {"wrong-answer", "device-locked", "challenge-closed"}

        # 4. The right answer inside a burst of wrong ones: accepted or refused unchecked, never a signal.
        for _round in range(3):
            support.unlock_device(card.device_id)
            login = support.login("victim", PASSWORD)
            view = support.challenge(login.login_id, card.device_id)
            right = harness.answer(card, view)
            bodies = [{"challenge_id": view.id, "answer": "00000000"} for _ in range(11)]
            bodies.insert(5, {"challenge_id": view.id, "answer": right})
            results = _burst(url, "127.0.0.6", [(f"/v1/login/{login.login_id}/answer", b) for b in bodies])
            print(f"[{label}] right answer in a burst of 12: {results[5]}; others {sorted(set(results))}")
            assert results[5] in ((201, ""), (409, "challenge-closed"), (423, "device-locked"))
            # Guesses arriving after the accepted answer are told it was answered; before it, never.
            if "replayed-answer" in {code for _, code in results}:
                assert results[5] == (201, "")


def test_bursts_against_a_sqlite_server(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        _attack(server, server.token(), "sqlite, 1 process")
    finally:
        stop_server(server)


@pytest.fixture
def postgres_server(tmp_path: Path, postgres_schema_url: str) -> Iterator[Server]:
    server = start_server(tmp_path, "--db", postgres_schema_url, "--workers", "2")
    try:
        yield server
    finally:
        stop_server(server)


def test_bursts_against_two_workers_on_postgresql(postgres_server: Server) -> None:
    _attack(postgres_server, postgres_server.token(), "postgresql, 2 workers")


def test_a_forged_forwarded_for_header_does_not_change_the_throttled_address(tmp_path: Path) -> None:
    # Sent from 127.0.0.1, which uvicorn trusts for X-Forwarded-For unless told not to: the server is
    # reached directly, so an attacker who rotates the header is still one address to the throttle.
    server = start_server(tmp_path)
    try:
        with TokensimClient(server.url, support_token=server.token()) as support:
            support.create_user("victim", PASSWORD, start_with_sms=False)
        statuses = []
        transport = httpx.HTTPTransport(local_address="127.0.0.1")
        with httpx.Client(base_url=server.url, timeout=60, transport=transport) as http:
            for n in range(8):
                response = http.post(
                    "/v1/login",
                    json={"username": "victim", "password": "guess"},
                    headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
                )
                statuses.append(response.status_code)
        assert statuses == [401] * 5 + [429] * 3
    finally:
        stop_server(server)
