"""``tokensim serve --ephemeral`` and ``POST /v1/support/reset``: a test server for suites in any language.

The server runs as a subprocess on a real socket, driven over HTTP as a test suite in another language
would drive it; the reset itself is also checked in-process, where the database can be looked at.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from tokensim.server.client import ProblemError, TokensimClient
from tokensim.server.config import MASTER_KEY_ENV, SUPPORT_TOKEN_ENV, ServerConfig
from tokensim.server.core import load_support_token
from tokensim.server.http.app import create_app
from tokensim.server.storage.reset import reset_database
from tokensim.server.testing.harness import Harness

from .conftest import NO_ENV, PASSWORD, PHONE, fast_config

TOKEN = "ephemeral-test-token"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = _free_port()
    out = tmp_path / "serve.out"
    environment = {k: v for k, v in os.environ.items() if k != MASTER_KEY_ENV}
    environment[SUPPORT_TOKEN_ENV] = TOKEN
    command = [sys.executable, "-m", "tokensim.server.cli", "serve", "--ephemeral", "--port", str(port)]
    with out.open("wb") as stream:
        process = subprocess.Popen(
            [*command, *extra], stdout=stream, stderr=subprocess.STDOUT, env=environment, cwd=tmp_path
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail(f"serve --ephemeral exited with {process.returncode}:\n{out.read_text()}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return process, url, out
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"serve --ephemeral did not answer within 60 s:\n{out.read_text()}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def test_an_ephemeral_server_resets_over_http_and_leaves_nothing_behind(tmp_path: Path) -> None:
    process, url, out = _serve(tmp_path)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        body = {"username": "alice", "password": PASSWORD, "phones": [PHONE]}
        with httpx.Client(base_url=url, headers=headers) as http:
            assert http.post("/v1/support/users", json=body).status_code == 201
            assert http.post("/v1/support/users", json=body).json()["code"] == "already-exists"
            assert http.post("/v1/login", json={"username": "alice", "password": "wrong password"}).is_error

            reset = http.post("/v1/support/reset")
            assert (reset.status_code, reset.json()) == (200, {"status": "reset"})

            assert http.get("/v1/support/users/alice").json()["code"] == "not-found"
            assert http.get("/v1/support/audit").json() == {"events": []}
            assert http.post("/v1/support/users", json=body).status_code == 201  # the same name again
            # The reset needs the support token like every support endpoint.
            assert httpx.post(f"{url}/v1/support/reset").status_code == 401
    finally:
        status = _stop(process)
    banner = out.read_text()
    folder = Path(re.search(r"ephemeral:\s+(\S+) is deleted at exit", banner).group(1))  # type: ignore[union-attr]
    assert folder.name.startswith("tokensim-ephemeral-")
    assert status == 0
    assert not folder.exists()


def test_ephemeral_refuses_a_data_dir(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tokensim.server.cli", "serve", "--ephemeral", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--ephemeral keeps its state in a temporary folder: leave out --data-dir and --db" in result.stderr


def test_a_persistent_server_refuses_to_reset(client: TokensimClient, alice: str) -> None:
    with pytest.raises(ProblemError) as refused:
        client.reset()
    assert (refused.value.status, refused.value.code) == (404, "not-found")
    assert "tokensim serve --ephemeral" in refused.value.detail
    assert client.user(alice).username == alice


def test_reset_empties_every_table_but_keeps_the_key_and_the_append_only_log(tmp_path: Path) -> None:
    config: ServerConfig = fast_config(tmp_path / "data")
    app = create_app(config, environ=NO_ENV, ephemeral=True)
    token = load_support_token(config.token_path, environ=NO_ENV)
    db = app.state.service.core.db
    try:
        with TokensimClient.in_process(app, support_token=token) as client:
            client.create_user("alice", PASSWORD, phones=[PHONE], equity=2_000_000)
            harness = Harness(client)
            for kind in ("dsc-plus", "phone", "scc"):
                enrolled = harness.enroll("alice", kind)
                harness.login("alice", PASSWORD, enrolled, mode="sms" if kind == "phone" else None)

            client.reset()

            with db.engine.connect() as connection:
                tables = [
                    row[0]
                    for row in connection.execute(
                        text(
                            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                        )
                    )
                ]
                counts = {
                    t: connection.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar()  # noqa: S608
                    for t in tables
                }
            assert counts.pop("meta") == 1
            assert counts.pop("alembic_version") == 1
            assert set(counts.values()) == {0}, counts
            # The same master key and token go on working, sequence numbers start again...
            client.create_user("alice", PASSWORD, phones=[PHONE])
            assert client.audit()[0].seq == 1
            # ...and the audit log is append-only again.
            with pytest.raises(DatabaseError, match="append-only"), db.write() as session:
                session.execute(text("DELETE FROM audit_events"))
            reset_database(db)
            assert client.audit() == []
    finally:
        app.state.service.close()
