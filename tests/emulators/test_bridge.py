"""The serial bridge: against `tokensim board emulate --pty` in another process over a real
pseudo-terminal, and against in-process ports that lose replies or never answer."""

from __future__ import annotations

import gc
import json
import os
import select
import subprocess
import sys
import tty
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tokensim.emulators.board import VirtualBoard
from tokensim.emulators.bridge import BoardBridge, IncompatibleBoard, Responder, connect
from tokensim.emulators.devices.dsc_plus import DscPlus
from tokensim.protocol import wire
from tokensim.protocol.clock import FixedClock
from tokensim.protocol.errors import TransportError, TransportTimeout
from tokensim.protocol.framing import FrameDecoder, FrameType, encode_frame
from tokensim.protocol.ocra import ocra
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind, Provisioning

DSC_PLUS = DEFAULT_SUITES[DeviceKind.DSC_PLUS]
SECRET = bytes(range(100, 120))
FAST = {"ready_timeout": 5.0, "reply_timeout": 1.0}


def _card(secret: bytes = SECRET) -> DscPlus:
    provisioning = Provisioning(kind=DeviceKind.DSC_PLUS, serial="P-9", secret=secret, suite=DSC_PLUS)
    return DscPlus.from_provisioning(provisioning, clock=FixedClock(0))


Emulate = Callable[..., str]


@pytest.fixture
def emulate() -> Iterator[Emulate]:
    """Start ``tokensim board emulate`` with extra arguments; returns the URL it prints. Stopped after."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        process = subprocess.Popen(
            [sys.executable, "-m", "tokensim.server.cli", "board", "emulate", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline().strip() if ready else ""
        if not line:
            process.kill()
            pytest.fail(f"tokensim board emulate printed no URL: {process.communicate(timeout=5)[1]}")
        return line

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            stream.close()


def test_a_virtual_board_over_a_pty_answers_like_the_emulator(emulate: Emulate, tmp_path: Path) -> None:
    state = tmp_path / "board.json"
    url = emulate("--pty", "--provisioning", "--state", str(state), "--board-id", "bench-2")
    assert url.startswith("/dev/")
    with connect(url, **FAST) as bridge:
        assert bridge.ready is not None
        assert bridge.info().mode is wire.Mode.PROVISIONING
        bridge.provision(SECRET)
        assert bridge.suite is not None
        assert bridge.suite.text == DSC_PLUS
        assert bridge.respond("314159", "2718") == _card().respond("314159", "2718")
        assert bridge.change_pin("271828", "1111") == _card().respond("271828", "1111")
    # The state file is the board's EEPROM: owner-only.
    assert state.stat().st_mode & 0o077 == 0
    assert json.loads(state.read_text())["device"]["kind"] == "dsc-plus"


def test_the_state_survives_and_provisioning_is_then_refused(emulate: Emulate, tmp_path: Path) -> None:
    state = tmp_path / "board.json"
    with connect(emulate("--provisioning", "--state", str(state)), **FAST) as bridge:
        bridge.provision(SECRET)
    with connect(emulate("--state", str(state)), **FAST) as bridge:
        assert bridge.info().mode is wire.Mode.OPERATIONAL
        assert bridge.respond("000001", "0000") == _card().respond("000001", "0000")
        with pytest.raises(wire.BoardRefused) as refused:
            bridge.provision(bytes(20))
        assert refused.value.code is wire.ErrorCode.WRONG_MODE


def test_the_bridge_and_the_emulator_share_an_interface(emulate: Emulate) -> None:
    with connect(emulate("--provisioning"), **FAST) as bridge:
        bridge.provision(SECRET)
        devices: list[Responder] = [bridge, _card()]
        answers = {device.respond("777777", "4321") for device in devices}
        assert len(answers) == 1


# pyserial's spy:// never closes its trace file; collect it here, where that warning is expected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_spy_shows_the_traffic(emulate: Emulate, tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    url = emulate("--provisioning")
    with connect(f"spy://{url}?file={trace}", **FAST) as bridge:
        bridge.info(refresh=True)
    gc.collect()
    text = trace.read_text()
    assert "TX" in text
    assert "RX" in text


def test_a_missing_port_is_a_clear_transport_error(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="no such port"):
        connect(str(tmp_path / "ttyACM9"))


def test_a_busy_port_is_a_clear_transport_error(emulate: Emulate) -> None:
    url = emulate("--provisioning")
    with connect(url, **FAST), pytest.raises(TransportError, match="busy"):
        connect(url, **FAST)


@pytest.fixture
def silent_pty() -> Iterator[str]:
    """A pseudo-terminal with nothing behind it: a dead board."""
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    yield path
    os.close(slave)
    os.close(master)


def test_a_dead_board_times_out_after_the_retries(silent_pty: str) -> None:
    with pytest.raises(TransportTimeout, match="after 3 tries"):
        connect(silent_pty, ready_timeout=0.1, reply_timeout=0.1, retries=2)


class LossyPort:
    """A port in front of a virtual board that loses the first ``lose`` replies, as noise would."""

    def __init__(self, board: VirtualBoard, lose: int = 0) -> None:
        self.timeout: float | None = 0.01
        self._board = board
        self._pending = bytearray(board.boot())
        self.lose = lose
        self.written = bytearray()

    def write(self, data: bytes) -> int:
        self.written += data
        reply = self._board.feed(data)
        if reply and self.lose:
            self.lose -= 1
            return len(data)
        self._pending += reply
        return len(data)

    def read(self, size: int = 1) -> bytes:
        chunk = bytes(self._pending[:size])
        del self._pending[:size]
        return chunk

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    @property
    def in_waiting(self) -> int:
        return len(self._pending)


def test_a_lost_reply_is_retried_with_the_same_seq_and_answered_from_the_cache() -> None:
    suite = "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1"
    board = VirtualBoard(None, kind=DeviceKind.GOLD)
    port = LossyPort(board)
    bridge = BoardBridge(port, ready_timeout=1.0, reply_timeout=0.2)
    bridge.provision(bytes(range(32)), suite)
    port.lose = 1
    first = bridge.respond("12345678", "1234")
    assert bridge.resends == 1
    # The board computed once, so its counter moved by one: the next response uses C = 1.
    second = bridge.respond("12345678", "1234")
    assert first == ocra(suite, bytes(range(32)), "12345678", counter=0, pin="1234")
    assert second == ocra(suite, bytes(range(32)), "12345678", counter=1, pin="1234")
    # The retry repeated the frame, same seq, after a 0x00 that ends any half frame on the line.
    written = bytes(port.written)
    sent = [f for f in FrameDecoder().feed(written) if f.type == FrameType.RESPOND]
    assert len(sent) == 3
    assert sent[0] == sent[1]
    assert sent[2].seq != sent[0].seq
    assert b"\x00\x00" + encode_frame(sent[0]) in written


def test_a_board_of_another_major_version_is_refused() -> None:
    class FutureBoard(VirtualBoard):
        def info(self) -> wire.Info:
            info = super().info()
            return wire.Info(
                protocol_major=2,
                protocol_minor=0,
                firmware=info.firmware,
                mode=info.mode,
                provisioned=info.provisioned,
                locked=info.locked,
                capabilities=info.capabilities,
                max_frame=info.max_frame,
                suite=info.suite,
                board_id=info.board_id,
            )

    with pytest.raises(IncompatibleBoard, match=r"protocol 2\.0"):
        BoardBridge(LossyPort(FutureBoard(_card())), ready_timeout=1.0, reply_timeout=0.2)


def test_an_error_reply_raises_board_refused_with_its_code() -> None:
    bridge = BoardBridge(LossyPort(VirtualBoard(None)), ready_timeout=1.0, reply_timeout=0.2)
    with pytest.raises(wire.BoardRefused) as refused:
        bridge.respond("123456", "1234")
    assert refused.value.code is wire.ErrorCode.NOT_PROVISIONED
    assert "NOT_PROVISIONED" in str(refused.value)
