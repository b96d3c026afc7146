"""``tokensim serve --workers 2``: connections spread over the workers, a dead worker is replaced.

Real server processes on real sockets. Which process holds which connection is read from /proc
(Linux, where the workers listen with SO_REUSEPORT; elsewhere uvicorn's supervisor runs instead).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from .real_server import Server, start_server, stop_server

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="reads /proc, and SO_REUSEPORT spreads connections on Linux only",
)


def _workers(server: Server) -> list[int]:
    """The server's worker processes (children started by multiprocessing's spawn)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        if parent == server.process.pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return sorted(found)


def _established(port: int) -> dict[int, int]:
    """Socket inode -> local port, for the established TCP connections to ``port``."""
    inodes = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                inodes[int(fields[9])] = local_port
    return inodes


def _connections_per_worker(server: Server, workers: list[int]) -> Counter[int]:
    port = int(server.url.rsplit(":", 1)[1])
    inodes = _established(port)
    held: Counter[int] = Counter()
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                held[pid] += 1
    return held


def _wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("the server did not get there in time")
        time.sleep(0.1)


def test_a_burst_of_connections_spreads_over_both_workers(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--workers", "2")
    try:
        _wait_for(lambda: len(_workers(server)) == 2)
        workers = _workers(server)
        port = int(server.url.rsplit(":", 1)[1])
        # 32 keep-alive connections opened at once, as a client's connection pool does.
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        try:
            for client in clients:
                client.sendall(b"GET /v1/health HTTP/1.1\r\nHost: tokensim\r\n\r\n")
            for client in clients:
                assert client.recv(4096).startswith(b"HTTP/1.1 200")
            held = _connections_per_worker(server, workers)
        finally:
            for client in clients:
                client.close()
        assert sum(held.values()) == 32
        # By address hash: all 32 on one worker has a chance of 2 in 2**32.
        assert set(held) == set(workers), f"connections per worker: {dict(held)}"
    finally:
        stop_server(server)


def test_a_killed_worker_is_replaced_and_sigterm_stops_them_all(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--workers", "2")
    try:
        _wait_for(lambda: len(_workers(server)) == 2)
        first, second = _workers(server)
        os.kill(first, signal.SIGKILL)
        _wait_for(lambda: len(_workers(server)) == 2 and first not in _workers(server))
        assert second in _workers(server)
        for _ in range(20):  # every request answered, whichever worker it reaches
            assert httpx.get(f"{server.url}/v1/health", timeout=5).status_code == 200
        workers = _workers(server)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
        assert "ended (exit -9); starting another" in server.logs()
    finally:
        stop_server(server)


def test_a_second_server_on_a_taken_port_is_refused(tmp_path: Path) -> None:
    server = start_server(tmp_path / "first", "--workers", "2")
    try:
        port = server.url.rsplit(":", 1)[1]
        command = [sys.executable, "-m", "tokensim.server.cli", "serve", "--port", port, "--workers", "2"]
        second = subprocess.run(
            [*command, "--data-dir", str(tmp_path / "second")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode != 0
        assert f"127.0.0.1:{port} is in use" in second.stderr
    finally:
        stop_server(server)
