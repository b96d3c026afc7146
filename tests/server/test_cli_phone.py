"""``tokensim phone`` and ``tokensim login --mode qr``, each in its own process, against ``serve --demo``.

The login waits in one process; the phone, over the app file the demo saved, approves, denies or
scans in another; the login ends as the user would see it.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import segno

from tokensim.server.cli.demo_accounts import DEMO_PASSWORD

from .real_server import Server, start_server, stop_server

USER = "demo-ib-key"
PIN = "1234"  # the demo's published PIN
_ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = start_server(tmp_path_factory.mktemp("phone"), "--demo")
    try:
        yield started
    finally:
        stop_server(started)


def _app(server: Server) -> Path:
    return server.data_dir / "demo" / "ib-key-app.json"


class _Process:
    """A ``tokensim`` command running in the background, its output collected as it comes."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tokensim.server.cli", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            env=_ENV,
            cwd=cwd,
        )
        self.output = ""
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for chunk in iter(lambda: self.process.stdout.read(1), ""):  # type: ignore[union-attr]
            with self._lock:
                self.output += chunk

    def wait_for(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + _TIMEOUT
        while time.monotonic() < deadline:
            with self._lock:
                found = re.search(pattern, self.output)
            if found is not None:
                return found
            if self.process.poll() is not None:
                self._reader.join(5)
                found = re.search(pattern, self.output)
                if found is not None:
                    return found
                self.close()
                pytest.fail(f"exited {self.process.returncode} before {pattern!r}:\n{self.output}")
            time.sleep(0.05)
        self.close()
        pytest.fail(f"no {pattern!r} within {_TIMEOUT} s:\n{self.output}")

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def finish(self) -> tuple[int, str]:
        try:
            code = self.process.wait(timeout=_TIMEOUT)
        finally:
            self.close()
        return code, self.output

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._reader.join(5)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


def _phone(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tokensim.server.cli", "phone", *args]
    command += ["--app", str(_app(server)), "--server", server.url]
    return subprocess.run(command, capture_output=True, text=True, env=_ENV, timeout=_TIMEOUT, check=False)


def _login(server: Server, mode: str, tmp_path: Path) -> _Process:
    return _Process(
        "login", USER, "--server", server.url, "--password", DEMO_PASSWORD, "--mode", mode, cwd=tmp_path
    )


def _matrix(block: str) -> list[list[bool]]:
    """The dark modules of a QR code drawn as segno's compact terminal output (two rows per line)."""
    light = {"█": (True, True), "▀": (True, False), "▄": (False, True), " ": (False, False)}
    rows: list[list[bool]] = []
    for line in block.splitlines():
        pairs = [light[c] for c in line]
        rows.append([not top for top, _ in pairs])
        rows.append([not bottom for _, bottom in pairs])
    return rows


def test_a_push_login_approved_and_one_denied_from_another_process(demo: Server, tmp_path: Path) -> None:
    login = _login(demo, "push", tmp_path)
    login.wait_for("Approve the notification")
    listed = _phone(demo, "list")
    assert listed.returncode == 0, listed.stderr
    assert re.search(rf"login for {USER} from 127\.0\.0\.1.*s left", listed.stdout), listed.stdout
    approved = _phone(demo, "approve", "--pin", PIN, "--wait", "10")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert approved.stdout.startswith(f"approved: login for {USER}")
    code, output = login.finish()
    assert code == 0, output
    assert f"Logged in as {USER} with ib-key; scope:" in output
    assert PIN not in approved.stdout + output
    assert stat.S_IMODE(_app(demo).stat().st_mode) == 0o600  # saved back owner-only

    login = _login(demo, "push", tmp_path)
    login.wait_for("Approve the notification")
    denied = _phone(demo, "deny", "--pin", PIN, "--wait", "10")
    assert denied.stdout.startswith(f"denied: login for {USER}"), denied.stdout + denied.stderr
    code, output = login.finish()
    assert code == 1
    assert "login refused: push-denied" in output
    assert _phone(demo, "list").stdout == "no pending request\n"
    nothing = _phone(demo, "approve", "--pin", PIN)
    assert (nothing.returncode, nothing.stdout) == (1, "tokensim: no pending request\n")


def test_a_qr_login_shows_the_code_and_the_phone_scans_its_text(demo: Server, tmp_path: Path) -> None:
    login = _login(demo, "qr", tmp_path)
    shown = login.wait_for(
        r"or give its text to 'tokensim phone scan'\):\n(?P<qr>(?:[█▀▄ ]+\n)+)(?P<text>tokensim-qr:\S+)\n"
    )
    payload = shown["text"]
    # The drawn code is the QR code of exactly the printed text.
    expected = [[bool(m) for m in row] for row in segno.make(payload, error="m").matrix_iter(border=4)]
    drawn = _matrix(shown["qr"].rstrip("\n"))
    assert drawn[: len(expected)] == expected
    scanned = _phone(demo, "scan", payload, "--pin", PIN)
    assert scanned.returncode == 0, scanned.stdout + scanned.stderr
    assert scanned.stdout.startswith(f"approved: login for {USER}")
    code, output = login.finish()
    assert code == 0, output
    assert f"Logged in as {USER} with ib-key" in output
    again = _phone(demo, "scan", payload, "--pin", PIN)
    assert (again.returncode, again.stdout.split(":")[:2]) == (1, ["tokensim", " refused"])
    assert "replayed-answer" in again.stdout


def test_the_phone_code_answers_a_numeric_and_a_time_code_login(demo: Server, tmp_path: Path) -> None:
    login = _login(demo, "numeric", tmp_path)
    question = login.wait_for(r"Challenge (\d{6}): type it")[1]
    shown = _phone(demo, "code", "--pin", PIN, "--challenge", question)
    assert shown.returncode == 0, shown.stderr
    response = re.search(rf"response to challenge {question}: (\d{{8}})", shown.stdout)
    assert response is not None, shown.stdout
    login.type(response[1])
    code, output = login.finish()
    assert code == 0, output
    assert f"Logged in as {USER} with ib-key" in output

    login = _login(demo, "code", tmp_path)
    login.wait_for("Type the code the device shows")
    time_code = re.search(r"time code for demo-ib-key: (\d{6,10})", _phone(demo, "code", "--pin", PIN).stdout)
    assert time_code is not None
    login.type(time_code[1])
    code, output = login.finish()
    assert code == 0, output

    wrong = _phone(demo, "code", "--pin", "9999")
    assert wrong.returncode == 2
    assert wrong.stderr == "tokensim: error: wrong PIN, 4 attempt(s) left before the device locks\n"
    assert "9999" not in wrong.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "tokensim.server.cli", "phone", "list", "--app", str(tmp_path / "none.json")],
        capture_output=True,
        text=True,
        env=_ENV,
        timeout=_TIMEOUT,
        check=False,
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith("tokensim: error: ")
    assert missing.stderr.count("\n") == 1
    assert "no saved IB Key app" in missing.stderr
