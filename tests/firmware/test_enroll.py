"""`tokensim board enroll`: a host-firmware board enrolled on an in-process server, then a login."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tokensim.emulators.bridge import connect
from tokensim.protocol import wire
from tokensim.protocol.errors import TokensimError
from tokensim.server import cli
from tokensim.server.cli.board import _enroll_board
from tokensim.server.client import TokensimClient
from tokensim.server.config import ServerConfig
from tokensim.server.core import load_support_token
from tokensim.server.http.app import create_app

PASSWORD = "correct horse battery staple"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TokensimClient]:
    environ: dict[str, str] = {}
    config = ServerConfig(data_dir=tmp_path / "server")
    app = create_app(config, environ=environ)
    token = load_support_token(config.token_path, environ=environ)
    try:
        with TokensimClient.in_process(app, support_token=token) as opened:
            opened.create_user("alice", PASSWORD, phones=["+15551230001"])
            yield opened
    finally:
        app.state.service.close()


def test_an_enrolled_board_logs_the_user_in(
    firmware_build: Any,
    spawn: Any,
    tmp_path: Path,
    client: TokensimClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "eeprom.bin"
    with connect(spawn(firmware_build.host, "--provisioning", "--state", state), ready_timeout=5.0) as bridge:
        done = _enroll_board(client, bridge, "alice", "2468")
    assert done.status == "active"
    # The board reboots without the jumper and answers a real login challenge.
    with connect(spawn(firmware_build.host, "--state", state), ready_timeout=5.0) as bridge:
        assert bridge.info().mode is wire.Mode.OPERATIONAL
        login = client.login("alice", PASSWORD)
        device = next(d for d in login.devices if d.id == done.device_id)
        challenge = client.challenge(login.login_id, device.id)
        assert challenge.challenge.question is not None
        grant = client.answer(
            login.login_id, challenge.id, bridge.respond(challenge.challenge.question, "2468")
        )
    assert grant.token
    # Enrolling printed nothing: the secret went from the server's reply into the board only.
    assert capsys.readouterr().out == ""


def test_enroll_refuses_a_board_outside_provisioning_mode(
    firmware_build: Any, spawn: Any, tmp_path: Path, client: TokensimClient
) -> None:
    state = tmp_path / "eeprom.bin"
    with connect(spawn(firmware_build.host, "--provisioning", "--state", state), ready_timeout=5.0) as bridge:
        bridge.provision(bytes(20))
    with (
        connect(spawn(firmware_build.host, "--state", state), ready_timeout=5.0) as bridge,
        pytest.raises(TokensimError, match="provisioning mode"),
    ):
        _enroll_board(client, bridge, "alice", "2468")
    assert client.user("alice").devices == () or all(
        d.kind != "dsc-plus" for d in client.user("alice").devices
    )


def test_enroll_needs_the_support_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TOKENSIM_SUPPORT_TOKEN", raising=False)
    assert cli.main(["board", "enroll", "/dev/null", "--user", "alice"]) == 2
    assert "support token" in capsys.readouterr().err
