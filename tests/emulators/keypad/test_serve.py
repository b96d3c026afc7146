"""``tokensim keypad --serve`` as a subprocess, driven over textual-serve's websocket as a browser would.

Each test starts the real command on a free port and opens sessions with aiohttp's websocket client
(the same ``/ws?width=&height=`` endpoint and JSON envelopes the page's script uses). Processes are
found by walking ``/proc``: the app processes are the server's descendants while they run, and a
process that outlives its server is reparented, so those are followed by their pid.

Waits poll for a state with a generous deadline (the machine may be loaded); nothing is timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find processes"),
]

#: How long any one wait may take on a loaded machine before the test gives up.
DEADLINE = 90.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def descendants(pid: int) -> list[int]:
    """Every living process below ``pid``, from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (parent := _parent(int(entry))) is not None:
            children.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if _alive(child):
                found.append(child)
            todo.append(child)
    return found


async def _until(condition: object, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting: {what}")
        await asyncio.sleep(0.1)


class Served:
    """A running ``tokensim keypad --serve`` and its address."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.base = f"http://127.0.0.1:{port}"

    def apps(self) -> list[int]:
        return descendants(self.process.pid)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    port = _free_port()
    command = [sys.executable, "-m", "tokensim.server.cli", "keypad", "--serve", "--port", str(port)]
    command += ["--state", str(tmp_path / "keypad.json"), "--server", "http://127.0.0.1:9"]
    command += ["--support-token-file", str(tmp_path / "no.token")]
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield Served(process, port)
    finally:
        left = descendants(process.pid)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pid in left:  # whatever a failed test left behind: never outlive the test run
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log.close()


async def _page(http: aiohttp.ClientSession, served: Served) -> str:
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            async with http.get(served.base + "/") as response:
                assert response.status == 200
                return await response.text()
        except aiohttp.ClientConnectionError:
            assert served.process.poll() is None, "the server exited"
            if time.monotonic() > deadline:
                pytest.fail("the server never answered")
            await asyncio.sleep(0.2)


async def _open_session(
    http: aiohttp.ClientSession, served: Served
) -> tuple[aiohttp.ClientWebSocketResponse, int]:
    """Connect as the page does and wait until the app has drawn; return the socket and the app's pid."""
    before = set(served.apps())
    ws = await http.ws_connect(served.base + "/ws?width=100&height=30")
    await ws.send_json(["resize", {"width": 100, "height": 30}])
    received = b""
    deadline = time.monotonic() + DEADLINE
    while b"tokensim keypad" not in received:  # the header's title: the app is up and drawing
        message = await ws.receive(timeout=DEADLINE)
        assert message.type == aiohttp.WSMsgType.BINARY, f"session ended early: {message.type}"
        received += message.data
        assert time.monotonic() < deadline, "the app never drew its screen"
    started = [pid for pid in served.apps() if pid not in before]
    assert len(started) == 1, f"one app process per session, found {started}"
    return ws, started[0]


async def test_a_closed_browser_session_leaves_no_process_and_sigint_stops_the_rest(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        await _page(http, served)
        ws, first = await _open_session(http, served)
        await ws.close()
        await _until(lambda: not _alive(first) and served.apps() == [], "the closed session's app to end")

        _, second = await _open_session(http, served)
        other, third = await _open_session(http, served)
        assert sorted(served.apps()) == sorted([second, third])
        served.process.send_signal(signal.SIGINT)  # Ctrl+C, with two browsers still connected
        await _until(lambda: served.process.poll() is not None, "the server to exit on SIGINT")
        assert served.process.returncode == 0
        await _until(lambda: not _alive(second) and not _alive(third), "every app to end with the server")
        await other.close()


async def test_an_app_whose_server_was_killed_exits_by_itself(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        await _page(http, served)
        _, app = await _open_session(http, served)
        os.kill(served.process.pid, signal.SIGKILL)  # no chance to stop anything: the pipes just close
        served.process.wait()
        await _until(lambda: not _alive(app), "the orphaned app to notice and exit")


async def test_the_page_loads_nothing_from_the_internet(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        html = await _page(http, served)
        urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)""", html)
        referenced = [a or b for a, b in urls]
        assert any(u.endswith(".ttf") for u in referenced), "the page names its fonts"
        for url in referenced:
            assert url.startswith(served.base + "/"), f"{url} is not on the keypad's own server"
            async with http.get(url) as response:
                assert response.status == 200, url
        assert "googleapis" not in html
