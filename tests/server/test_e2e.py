"""End to end over real sockets: `tokensim serve` as a subprocess, driven by the client and emulators.

Expiry needs time to pass, so it is tested in-process with an injected clock (``test_login.py``);
everything else here runs against the real server as a user would run it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tokensim.emulators import create, load
from tokensim.emulators.challenge_response import OcraKeypadDevice
from tokensim.protocol.provisioning import DeviceKind
from tokensim.server.cli.demo_accounts import DEMO_PASSWORD
from tokensim.server.client import ProblemError, TokensimClient
from tokensim.server.config import MASTER_KEY_ENV, SUPPORT_TOKEN_ENV
from tokensim.server.testing.harness import ALL_KINDS, Harness
from tokensim.server.verify import FULL_SCOPE

from .conftest import PASSWORD
from .real_server import Server, free_port, race, start_server, stop_server


class _AheadClock:
    """A device clock running one TOTP step ahead: inside the server's window, past the used step."""

    def now(self) -> float:
        return time.time() + 30


def _problem(action: object) -> ProblemError:
    assert callable(action)
    with pytest.raises(ProblemError) as caught:
        action()
    return caught.value


def test_every_device_kind_logs_in_over_the_network(server: Server, remote: TokensimClient) -> None:
    remote.create_user("erin", PASSWORD, phones=["+15552220001"], equity=1_500_000, start_with_sms=False)
    harness = Harness(remote)
    devices = harness.enroll_all("erin", ALL_KINDS, pin="4826")
    assert {d.status for d in remote.user("erin").devices} == {"active"}
    secrets = {PASSWORD}
    for enrolled in devices:
        if enrolled.kind == DeviceKind.DSC.value:
            # Activation used the current TOTP step; this card's clock is one step ahead.
            assert enrolled.provisioning is not None
            enrolled.device = create(enrolled.provisioning, clock=_AheadClock())
        modes: tuple[str | None, ...] = (None,)
        if enrolled.kind == "ib-key":
            modes = ("push", "qr", "numeric", "code")
        elif enrolled.kind == "phone":
            modes = ("sms", "voice")
        for mode in modes:
            result = harness.login("erin", PASSWORD, enrolled, mode=mode)
            assert result.grant.scope == FULL_SCOPE, (enrolled.kind, mode)
            assert remote.session(result.grant.token).device_kind == enrolled.kind
            secrets.add(result.grant.token)
            if not result.answer.startswith("signed"):
                secrets.add(result.answer)
    logs = server.logs()
    assert "POST /v1/login" in logs  # uvicorn's access log was captured
    leaked = [s[:4] for s in secrets if re.search(rf"(?<![0-9A-Za-z]){re.escape(s)}(?![0-9A-Za-z])", logs)]
    assert leaked == []


def test_wrong_answer_replay_and_lockout_over_the_network(remote: TokensimClient) -> None:
    remote.create_user("frank", PASSWORD)
    harness = Harness(remote)
    card, other = harness.enroll("frank", "dsc-plus"), harness.enroll("frank", "scc")
    started = remote.login("frank", PASSWORD)
    challenge = remote.challenge(started.login_id, card.device_id)
    wrong = _problem(lambda: remote.answer(started.login_id, challenge.id, "12345678"))
    assert (wrong.status, wrong.code, wrong.body["attempts_remaining"]) == (401, "wrong-answer", 4)
    answer = harness.answer(card, challenge)
    remote.answer(started.login_id, challenge.id, answer)
    replay = _problem(lambda: remote.answer(started.login_id, challenge.id, answer))
    assert (replay.status, replay.code) == (409, "replayed-answer")

    started = remote.login("frank", PASSWORD)
    for _ in range(4):
        view = remote.challenge(started.login_id, card.device_id)
        _problem(lambda view=view: remote.answer(started.login_id, view.id, "12345678"))  # type: ignore[misc]
    response = remote.request(
        "POST", f"/v1/login/{started.login_id}/challenge", json={"device_id": card.device_id}
    )
    assert response.status_code == 201
    last = remote.request(
        "POST",
        f"/v1/login/{started.login_id}/answer",
        json={"challenge_id": response.json()["id"], "answer": "1"},
    )
    assert last.status_code == 423
    assert last.json()["code"] == "device-locked"
    assert last.headers["retry-after"] == "60"
    assert harness.login("frank", PASSWORD, other).grant.scope == FULL_SCOPE


def test_malformed_and_oversized_bodies_over_the_network(server: Server) -> None:
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=server.url) as http:
        cases = [
            (http.post("/v1/login", content=b'{"username": ', headers=headers), 400, "malformed-json"),
            (
                http.post("/v1/login", json={"username": "x", "password": "y", "admin": True}),
                422,
                "invalid-request",
            ),
            (http.post("/v1/login", json={"username": 1, "password": "y"}), 422, "invalid-request"),
            (http.post("/v1/login", content=b"x" * 70_000, headers=headers), 413, "body-too-large"),
            (
                http.post("/v1/login", content=iter([b" " * 8192] * 10), headers=headers),
                413,
                "body-too-large",
            ),
            (http.post("/v1/login", content=b"\xff\xfe\x00", headers=headers), 400, "malformed-json"),
        ]
        for response, status, code in cases:
            assert (response.status_code, response.json()["code"]) == (status, code)
            assert response.headers["content-type"] == "application/problem+json"
        assert http.get("/v1/health").status_code == 200  # still serving


def test_concurrent_submissions_over_sockets_succeed_once(server: Server, remote: TokensimClient) -> None:
    remote.create_user("grace", PASSWORD)
    harness = Harness(remote)
    card = harness.enroll("grace", "dsc-plus")
    started = remote.login("grace", PASSWORD)
    challenge = remote.challenge(started.login_id, card.device_id)
    body = {"challenge_id": challenge.id, "answer": harness.answer(card, challenge)}
    statuses = race(
        [(server.url, f"/v1/login/{started.login_id}/answer", body)] * 10,
    )
    assert sorted(statuses) == [201] + [409] * 9


def test_two_server_processes_on_postgresql_accept_one_answer_once(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    shared = {
        MASTER_KEY_ENV: os.urandom(32).hex(),
        SUPPORT_TOKEN_ENV: "e2e-support-token-" + os.urandom(8).hex(),
    }
    first = start_server(tmp_path / "a", "--db", postgres_schema_url, env=shared, name="a")
    try:
        second = start_server(tmp_path / "b", "--db", postgres_schema_url, env=shared, name="b")
        try:
            with TokensimClient(first.url, support_token=shared[SUPPORT_TOKEN_ENV]) as client:
                client.create_user("heidi", PASSWORD)
                harness = Harness(client)
                card = harness.enroll("heidi", "dsc-plus")
                dsc = harness.enroll("heidi", "dsc")
                assert dsc.provisioning is not None
                dsc.device = create(dsc.provisioning, clock=_AheadClock())

                started = client.login("heidi", PASSWORD)
                challenge = client.challenge(started.login_id, card.device_id)
                body = {"challenge_id": challenge.id, "answer": harness.answer(card, challenge)}
                path = f"/v1/login/{started.login_id}/answer"
                statuses = race([(first.url, path, body), (second.url, path, body)] * 6)
                assert sorted(statuses) == [201] + [409] * 11

                # One TOTP code, sent to six logins on each process at once: accepted once.
                requests = []
                for url in [first.url, second.url] * 6:
                    login = client.login("heidi", PASSWORD)
                    view = client.challenge(login.login_id, dsc.device_id)
                    requests.append((url, f"/v1/login/{login.login_id}/answer", {"challenge_id": view.id}))
                code = harness.answer(dsc, view)
                statuses = race([(url, p, b | {"answer": code}) for url, p, b in requests])
                assert sorted(statuses) == [201] + [409] * 11
            with TokensimClient(second.url, support_token=shared[SUPPORT_TOKEN_ENV]) as other:
                assert len(other.audit(event="session.created")) == 2
        finally:
            stop_server(second)
    finally:
        stop_server(first)


def _banner(server: Server) -> str:
    # What serve prints before uvicorn starts (uvicorn's access log follows on the same stream).
    return server.stdout.read_text().split("INFO:", 1)[0]


def test_serve_demo_twice_reuses_the_accounts_and_its_instructions_work(tmp_path: Path) -> None:
    first = start_server(tmp_path, "--demo", name="first")
    stop_server(first)
    banner = _banner(first)
    assert f"password {DEMO_PASSWORD!r}" in banner
    for kind in ALL_KINDS:
        username = "demo-sms" if kind == "phone" else f"demo-{kind}"
        assert username in banner
    second = start_server(tmp_path, "--demo", name="second")
    try:
        assert _banner(second) == banner.replace(first.url, second.url)
        saved = json.loads((second.data_dir / "demo" / "demo-dsc-plus.device.json").read_text())
        card = load(saved)
        assert isinstance(card, OcraKeypadDevice)
        with TokensimClient(second.url) as client:
            started = client.login("demo-dsc-plus", DEMO_PASSWORD)
            challenge = client.challenge(started.login_id, started.device("dsc-plus").id)
            assert challenge.challenge.question is not None
            grant = client.answer(
                started.login_id, challenge.id, card.respond(challenge.challenge.question, "1234")
            )
            assert grant.scope == FULL_SCOPE
    finally:
        stop_server(second)


def test_serve_refuses_a_wrong_master_key_at_start(tmp_path: Path) -> None:
    stop_server(start_server(tmp_path))
    command = [sys.executable, "-m", "tokensim.server.cli", "serve", "--data-dir", str(tmp_path / "data")]
    command += ["--config", str(tmp_path / "tokensim.toml"), "--port", str(free_port())]
    env = os.environ | {MASTER_KEY_ENV: "22" * 32}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 2
    assert "not the key this database was created with" in result.stderr


def test_two_worker_processes_on_sqlite_accept_one_answer_once(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--workers", "2")
    try:
        with TokensimClient(server.url, support_token=server.token()) as client:
            client.create_user("ivan", PASSWORD)
            harness = Harness(client)
            card = harness.enroll("ivan", "dsc-plus")
            started = client.login("ivan", PASSWORD)
            challenge = client.challenge(started.login_id, card.device_id)
            body = {"challenge_id": challenge.id, "answer": harness.answer(card, challenge)}
            statuses = race([(server.url, f"/v1/login/{started.login_id}/answer", body)] * 12)
            assert sorted(statuses) == [201] + [409] * 11
    finally:
        stop_server(server)
