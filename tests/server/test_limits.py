"""What one client may hold of a real ``tokensim serve``: head size, head and body time, connections.

Raw sockets on loopback against server processes started as a user would start them, with short
time limits in their configuration. Every loop is bounded; what is checked is whether and how the
server answered (a status, a closed connection, a count), never how long it took.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .real_server import FAST_CONFIG, Server, start_server, stop_server

#: Short limits, so the tests see them act; the defaults are in ServerConfig.
LIMITS = "max_header_bytes = 8192\nheader_timeout = 1.0\nbody_timeout = 1.0\nmax_connections = 400\n"
#: Slow clients may wait here: the cap on connections is what is tried.
CAPPED = "max_connections = 20\nheader_timeout = 120.0\n"
#: The longest any loop below waits for the server (far beyond the 1 s limits).
BOUND = 30.0


def _server(folder: Path, settings: str) -> Server:
    folder.mkdir(parents=True)
    config = folder / "limits.toml"
    config.write_text(FAST_CONFIG.replace("[argon2]", settings + "[argon2]"))
    return start_server(folder, "--config", str(config))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = _server(tmp_path_factory.mktemp("limits") / "s", LIMITS)
    try:
        yield started
    finally:
        stop_server(started)


def _address(server: Server) -> tuple[str, int]:
    return "127.0.0.1", int(server.url.rsplit(":", 1)[1])


def _read_until_closed(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (bounded by BOUND)."""
    sock.settimeout(BOUND)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def _healthy(server: Server) -> bool:
    return httpx.get(f"{server.url}/v1/health", timeout=BOUND).status_code == 200


def test_a_64_mb_header_is_refused_after_a_few_kilobytes_not_buffered(server: Server) -> None:
    sock = socket.create_connection(_address(server), timeout=BOUND)
    sent = 0
    with sock:
        sock.sendall(b"GET /v1/noop HTTP/1.1\r\nHost: tokensim\r\nX-Big: ")
        chunk = b"a" * 65536
        try:
            while sent < 64 * 2**20:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _read_until_closed(sock)
    # The kernel's socket buffers take a few MB before the refusal arrives; the server read 8 KiB.
    assert sent < 16 * 2**20, f"the server kept reading: {sent} bytes of header taken"
    # 431, unless the refusal was lost to the reset of a connection closed with data unread.
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert _healthy(server)


def test_a_head_under_the_limit_is_served_and_one_over_it_gets_431(server: Server) -> None:
    for size, status in ((6000, b"200"), (9000, b"431")):
        with socket.create_connection(_address(server), timeout=BOUND) as sock:
            head = b"GET /v1/noop HTTP/1.1\r\nHost: tokensim\r\nX-Fill: " + b"f" * size + b"\r\n"
            sock.sendall(head + b"Connection: close\r\n\r\n")
            answer = _read_until_closed(sock)
        assert answer.split(b" ", 2)[1] == status, (size, answer[:100])


def test_200_slow_header_connections_are_all_closed_by_the_server(server: Server) -> None:
    selector = selectors.DefaultSelector()
    sockets = []
    for _ in range(200):
        sock = socket.create_connection(_address(server), timeout=BOUND)
        sock.sendall(b"GET /v1/noop HTTP/1.1\r\n")
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        sockets.append(sock)
    answers: dict[socket.socket, bytes] = {}
    deadline = time.monotonic() + BOUND
    try:
        # A header line from each every 0.2 s, as a slow client trickles its head, until the server
        # has answered and closed every connection (or the bound runs out).
        while len(answers) < len(sockets) and time.monotonic() < deadline:
            for key, _events in selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(4096)
                except ConnectionResetError:
                    data = b""
                answers[sock] = answers.get(sock, b"") + data
                if not data:
                    selector.unregister(sock)
                    answers.setdefault(sock, b"")
            for sock in sockets:
                if sock not in answers:
                    try:
                        sock.send(b"X-Slow: 1\r\n")
                    except OSError:
                        answers[sock] = b""
        still_open = len(sockets) - len(answers)
        timed_out = sum(1 for a in answers.values() if a.startswith(b"HTTP/1.1 408 "))
    finally:
        selector.close()
        for sock in sockets:
            sock.close()
    assert still_open == 0, f"{still_open} of 200 slow connections still open after {BOUND} s"
    assert timed_out == 200, f"{timed_out} of 200 got 408"
    assert _healthy(server)


def test_an_idle_connection_and_a_slow_body_get_408(server: Server) -> None:
    with socket.create_connection(_address(server), timeout=BOUND) as idle:
        assert _read_until_closed(idle).startswith(b"HTTP/1.1 408 ")
    with socket.create_connection(_address(server), timeout=BOUND) as slow:
        slow.sendall(
            b"POST /v1/login HTTP/1.1\r\nHost: tokensim\r\ncontent-type: application/json\r\n"
            b"content-length: 100\r\n\r\n" + b'{"username": '
        )
        assert _read_until_closed(slow).startswith(b"HTTP/1.1 408 ")


def test_a_kept_alive_connection_serves_requests_and_then_times_its_next_head(server: Server) -> None:
    with socket.create_connection(_address(server), timeout=BOUND) as sock:
        for _ in range(3):
            sock.sendall(b"GET /v1/noop HTTP/1.1\r\nHost: tokensim\r\n\r\n")
            answer = b""
            while not answer.endswith(b"\r\n\r\n{}"):  # the no-op's whole answer
                chunk = sock.recv(65536)
                assert chunk, answer
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:100]
        sock.sendall(b"GET /v1/noop HTTP/1.1\r\n")  # the next head begins, and never ends
        assert _read_until_closed(sock).startswith(b"HTTP/1.1 408 ")


def test_pipelined_requests_are_all_answered(server: Server) -> None:
    get = b"GET /v1/noop HTTP/1.1\r\nHost: tokensim\r\n\r\n"
    last = b"GET /v1/noop HTTP/1.1\r\nHost: tokensim\r\nConnection: close\r\n\r\n"
    with socket.create_connection(_address(server), timeout=BOUND) as sock:
        sock.sendall(get * 4 + last)  # in one write: the heads arrive while answers are under way
        answers = _read_until_closed(sock)
    assert answers.count(b"HTTP/1.1 200 ") == 5, answers


def test_answers_are_not_to_be_stored_or_sniffed(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=BOUND) as http:
        answers = [
            http.get("/v1/health"),
            http.get("/v1/noop"),
            http.get("/v1/no-such-endpoint"),
            http.post("/v1/login", json={"username": "nobody", "password": "wrong password"}),
            http.post("/v1/login", content=b"{" * 70_000, headers={"content-type": "application/json"}),
        ]
    assert [a.status_code for a in answers][:3] == [200, 200, 404]
    assert answers[4].status_code == 413
    for answer in answers:
        assert answer.headers["cache-control"] == "no-store", answer.request.url
        assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url


def test_connections_beyond_the_cap_get_503_until_others_close(tmp_path: Path) -> None:
    server = _server(tmp_path / "capped", CAPPED)
    held: list[socket.socket] = []
    try:
        for _ in range(25):
            held.append(socket.create_connection(_address(server), timeout=BOUND))
        with socket.create_connection(_address(server), timeout=BOUND) as extra:
            extra.sendall(b"GET /v1/noop HTTP/1.1\r\nHost: tokensim\r\nConnection: close\r\n\r\n")
            assert _read_until_closed(extra).startswith(b"HTTP/1.1 503 ")
        for sock in held:
            sock.close()
        held.clear()
        statuses = []
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline:  # the server sees the closes as its loop gets to them
            statuses.append(httpx.get(f"{server.url}/v1/noop", timeout=BOUND).status_code)
            if statuses[-1] == 200:
                break
            time.sleep(0.1)
        assert statuses[-1] == 200, statuses
    finally:
        for sock in held:
            sock.close()
        stop_server(server)


def test_the_limits_hold_in_every_worker_process(tmp_path: Path) -> None:
    server = _server(tmp_path / "workers", LIMITS)
    stop_server(server)
    server = start_server(
        tmp_path / "workers", "--config", str(tmp_path / "workers" / "limits.toml"), "--workers", "2"
    )
    try:
        # SO_REUSEPORT spreads new connections over both workers' sockets by their addresses.
        idle = [socket.create_connection(_address(server), timeout=BOUND) for _ in range(16)]
        answers = [_read_until_closed(sock) for sock in idle]
        for sock in idle:
            sock.close()
        assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), answers
        with socket.create_connection(_address(server), timeout=BOUND) as sock:
            sock.sendall(b"GET /v1/noop HTTP/1.1\r\nHost: tokensim\r\nX-Fill: " + b"f" * 9000 + b"\r\n\r\n")
            assert _read_until_closed(sock).startswith(b"HTTP/1.1 431 ")
    finally:
        stop_server(server)
