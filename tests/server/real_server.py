"""A real ``tokensim serve`` process on a loopback port, for the tests that drive the server over sockets.

``start_server`` runs the command as a user would (``python -m tokensim.server.cli serve``) with a
cheap argon2 cost, and waits for ``/v1/health``; ``stop_server`` sends SIGTERM. The ``server`` and
``remote`` fixtures in conftest.py give a test module one such server and a client of it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tokensim.server.config import MASTER_KEY_ENV, SUPPORT_TOKEN_ENV

FAST_CONFIG = "[argon2]\ntime_cost = 1\nmemory_kib = 8\nparallelism = 1\n"


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """A running ``tokensim serve`` process."""

    url: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    data_dir: Path

    def token(self) -> str:
        return (self.data_dir / "support.token").read_text().strip()

    def logs(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")


def start_server(
    folder: Path, *extra: str, env: dict[str, str] | None = None, name: str = "server"
) -> Server:
    """Start ``tokensim serve`` on a free port with its data in ``folder``; wait until it answers."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "tokensim.toml"
    config.write_text(FAST_CONFIG)
    port = free_port()
    stdout, stderr = folder / f"{name}.out", folder / f"{name}.err"
    environment = {k: v for k, v in os.environ.items() if k not in (MASTER_KEY_ENV, SUPPORT_TOKEN_ENV)}
    environment.update(env or {})
    command = [sys.executable, "-m", "tokensim.server.cli", "serve", "--port", str(port)]
    command += ["--data-dir", str(folder / "data"), "--config", str(config), *extra]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=environment, cwd=folder)
    server = Server(f"http://127.0.0.1:{port}", process, stdout, stderr, folder / "data")
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail(f"tokensim serve exited with {process.returncode}:\n{server.logs()}")
        try:
            if httpx.get(f"{server.url}/v1/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_server(server)
            pytest.fail(f"tokensim serve did not answer within 60 s:\n{server.logs()}")
        time.sleep(0.1)


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def race(requests: list[tuple[str, str, dict[str, object]]]) -> list[int]:
    """POST every ``(base url, path, body)`` at once, each from a connection of its own; the statuses."""
    barrier = threading.Barrier(len(requests))
    statuses: list[int] = []
    lock = threading.Lock()

    def send(base: str, path: str, body: dict[str, object]) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            http.get("/v1/health")  # connect first, so the posts leave together
            barrier.wait()
            status = http.post(path, json=body).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=send, args=request) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses
