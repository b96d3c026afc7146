"""The reference firmware behind a real port, driven through the bridge: the same conformance for
each kind of board (``board_kind``): the host build on a pseudo-terminal; the Uno sketch built with
avr-gcc on a simulated ATmega328P (simavr), on a pseudo-terminal; and the bare-metal RP2040 build on
rp2040js, its UART0 on TCP. A kind whose tools are missing is skipped with the reason."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokensim.emulators.bridge import BoardBridge, connect
from tokensim.emulators.devices.dsc_plus import DscPlus
from tokensim.protocol import wire
from tokensim.protocol.clock import FixedClock
from tokensim.protocol.framing import Frame, FrameType
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind, Provisioning
from tokensim.server import cli

DSC_PLUS = DEFAULT_SUITES[DeviceKind.DSC_PLUS]
# Short timeouts keep a failing test quick; the slowest board (the Uno, SHA-256) answers in ~0.1 s.
FAST = {"ready_timeout": 5.0, "reply_timeout": 1.0}


@pytest.fixture(scope="module")
def board_url(board_kind: Any, module_spawn: Any) -> str:
    """One board in provisioning mode for the module, per kind; stopped afterwards."""
    return str(module_spawn(*board_kind.argv(None, True)))


@pytest.fixture(scope="module")
def bridge(board_url: str) -> Iterator[BoardBridge]:
    with connect(board_url, **FAST) as opened:
        yield opened


def test_the_board_says_ready_then_hello_gives_its_info(bridge: BoardBridge, board_kind: Any) -> None:
    assert bridge.ready == wire.Ready(wire.PROTOCOL_MAJOR, wire.PROTOCOL_MINOR, wire.Mode.PROVISIONING)
    info = bridge.info()
    assert info.board_id == board_kind.board_id
    assert info.max_frame == 64
    assert wire.Capability.HMAC_SHA1 in info.capabilities
    assert wire.Capability.HMAC_SHA512 not in info.capabilities


def _run_vector(bridge: BoardBridge, vector: dict[str, str]) -> None:
    counter = int(vector.get("Counter", "0"))
    bridge.provision(bytes.fromhex(vector["Key"]), vector["Suite"], counter=counter)
    assert bridge.respond(vector["Question"], vector.get("PIN", "")) == vector["OCRA"]


# The suites the core supports (SHA-1/SHA-256, numeric challenges, optional C and PSHA1); the
# others need SHA-512, alphanumeric challenges or a clock.
@pytest.mark.vectors("rfc6287_ocra.txt", Mode="one-way", Suite="OCRA-1:HOTP-SHA1-6:QN08")
def test_rfc6287_sha1(bridge: BoardBridge, vector: dict[str, str]) -> None:
    _run_vector(bridge, vector)


@pytest.mark.vectors("rfc6287_ocra.txt", Mode="one-way", Suite="OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1")
def test_rfc6287_sha256_counter_pin(bridge: BoardBridge, vector: dict[str, str]) -> None:
    _run_vector(bridge, vector)


@pytest.mark.vectors("rfc6287_ocra.txt", Mode="one-way", Suite="OCRA-1:HOTP-SHA256-8:QN08-PSHA1")
def test_rfc6287_sha256_pin(bridge: BoardBridge, vector: dict[str, str]) -> None:
    _run_vector(bridge, vector)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    secret=st.binary(min_size=wire.MIN_SECRET, max_size=wire.MAX_SECRET),
    challenges=st.lists(st.from_regex(r"[0-9]{6}", fullmatch=True), min_size=1, max_size=3),
    pin=st.from_regex(r"[0-9]{4}", fullmatch=True),
)
def test_same_answers_as_the_python_dsc_plus(
    bridge: BoardBridge, secret: bytes, challenges: list[str], pin: str
) -> None:
    card = DscPlus.from_provisioning(
        Provisioning(kind=DeviceKind.DSC_PLUS, serial="P-1", secret=secret, suite=DSC_PLUS),
        clock=FixedClock(0),
    )
    bridge.provision(secret, DSC_PLUS)
    for challenge in challenges:
        assert bridge.respond(challenge, pin) == card.respond(challenge, pin)


def test_a_pin_change_is_a_response_with_the_new_pin(bridge: BoardBridge) -> None:
    secret = bytes(range(20))
    bridge.provision(secret, DSC_PLUS)
    card = DscPlus.from_provisioning(
        Provisioning(kind=DeviceKind.DSC_PLUS, serial="P-1", secret=secret), clock=FixedClock(0)
    )
    assert bridge.change_pin("654321", "9876") == card.respond("654321", "9876")


def _error(reply: wire.Reply) -> wire.ErrorCode:
    assert isinstance(reply, wire.ErrorReply), reply
    return reply.code


def test_malformed_frames_get_coded_errors(bridge: BoardBridge) -> None:
    assert _error(bridge.send_frame(Frame(bridge.new_seq(), 0x42))) is wire.ErrorCode.UNKNOWN_COMMAND
    assert _error(bridge.send_frame(Frame(bridge.new_seq(), FrameType.LOG, b"\x01hi"))) is (
        wire.ErrorCode.UNKNOWN_COMMAND
    )
    assert _error(bridge.send_frame(Frame(bridge.new_seq(), FrameType.RESPOND, b"\x04"))) is (
        wire.ErrorCode.BAD_PAYLOAD
    )
    hello = wire.encode_message(wire.Hello(wire.PROTOCOL_MAJOR + 1, 0), bridge.new_seq())
    assert _error(bridge.send_frame(hello)) is wire.ErrorCode.VERSION_MISMATCH
    bridge.provision(bytes(20), DSC_PLUS)
    short = wire.encode_message(wire.Respond("12345", "1234"), bridge.new_seq())
    assert _error(bridge.send_frame(short)) is wire.ErrorCode.BAD_PAYLOAD
    sha512 = wire.SuiteCode.from_suite("OCRA-1:HOTP-SHA512-8:QN06-PSHA1")
    unsupported = wire.encode_message(wire.Provision(sha512, bytes(20)), bridge.new_seq())
    assert _error(bridge.send_frame(unsupported)) is wire.ErrorCode.UNSUPPORTED_SUITE


def test_a_corrupt_frame_is_dropped_and_noise_is_survived(bridge: BoardBridge, board_kind: Any) -> None:
    frame = wire.encode_message(wire.InfoRequest(), bridge.new_seq())
    from tokensim.protocol.framing import encode_frame

    wire_bytes = bytearray(encode_frame(frame))
    wire_bytes[-2] ^= 0x01  # the CRC's last byte (stays non-zero: it was COBS-encoded)
    if wire_bytes[-2] == 0:
        wire_bytes[-2] = 0x7F
    bridge.send_raw(bytes(wire_bytes))
    assert [f for f in bridge.listen(0.3) if f.seq == frame.seq] == []
    # Noise with no delimiter glues onto the next request; the bridge's retry resynchronises.
    bridge.send_raw(b"\x13\x37" * 30)
    before = bridge.resends
    assert bridge.info(refresh=True).board_id == board_kind.board_id
    assert bridge.resends == before + 1
    bridge.send_raw(b"\x55" * 120 + b"\x00")  # oversized
    assert bridge.info(refresh=True).board_id == board_kind.board_id


def test_a_retry_is_answered_from_the_cache(bridge: BoardBridge) -> None:
    suite = "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1"
    key = bytes(range(32))
    bridge.provision(key, suite, counter=7)
    frame = wire.encode_message(wire.Respond("12345678", "1234"), bridge.new_seq())
    first = bridge.send_frame(frame)
    assert bridge.send_frame(frame) == first
    from tokensim.protocol.ocra import ocra

    assert isinstance(first, wire.Result)
    assert first.response == ocra(suite, key, "12345678", counter=7, pin="1234")
    assert bridge.respond("12345678", "1234") == ocra(suite, key, "12345678", counter=8, pin="1234")


def test_the_secret_survives_a_restart_and_provisioning_is_then_refused(
    board_kind: Any, spawn: Any, tmp_path: Path
) -> None:
    state = tmp_path / "eeprom.bin"
    secret = bytes(range(1, 21))
    url = spawn(*board_kind.argv(state, True))
    with connect(url, **FAST) as board:
        board.provision(secret, DSC_PLUS)
    # The host build writes its image at once; the simulated Uno at the latest when it stops.
    url = spawn(*board_kind.argv(state, False))
    assert state.stat().st_size == board_kind.image_size
    # Rebooted without the jumper: operational, same secret, and no second PROVISION.
    with connect(url, **FAST) as board:
        assert board.info().mode is wire.Mode.OPERATIONAL
        assert board.info().provisioned
        card = DscPlus.from_provisioning(
            Provisioning(kind=DeviceKind.DSC_PLUS, serial="P", secret=secret), clock=FixedClock(0)
        )
        assert board.respond("000042", "2468") == card.respond("000042", "2468")
        with pytest.raises(wire.BoardRefused) as refused:
            board.provision(bytes(20), DSC_PLUS)
        assert refused.value.code is wire.ErrorCode.WRONG_MODE
    assert secret not in state.read_bytes()[:9]  # the header holds no secret bytes


def test_opening_boots_the_board_and_a_reopen_still_shakes_hands(board_kind: Any, spawn: Any) -> None:
    url = spawn(*board_kind.argv(None, False))
    with connect(url, **FAST) as board:
        # The first open is the Uno's auto-reset: READY, then HELLO.
        assert board.ready == wire.Ready(wire.PROTOCOL_MAJOR, wire.PROTOCOL_MINOR, wire.Mode.PROVISIONING)
    # A reopen faster than the board notices the close looks like a native-USB board, which never
    # resets: READY may not come, and the bridge says HELLO anyway.
    with connect(url, ready_timeout=0.2, reply_timeout=1.0) as board:
        with pytest.raises(wire.BoardRefused) as refused:
            board.respond("123456", "1234")
        assert refused.value.code is wire.ErrorCode.NOT_PROVISIONED


def test_board_check_passes(board_kind: Any, spawn: Any, capsys: pytest.CaptureFixture[str]) -> None:
    url = spawn(*board_kind.argv(None, True))
    status = cli.main(["board", "check", url])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "FAIL" not in out
    assert re.search(r"RFC 6287 OCRA-1:HOTP-SHA1-6:QN08 +pass +10 vectors", out)
    assert "retry never advances the counter" in out


def test_board_check_in_operational_mode_checks_the_refusal(
    board_kind: Any, spawn: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "eeprom.bin"
    url = spawn(*board_kind.argv(state, True))
    with connect(url, **FAST) as board:
        board.provision(bytes(range(20)), DSC_PLUS)
    url = spawn(*board_kind.argv(state, False))
    status = cli.main(["board", "check", url])
    out = capsys.readouterr().out
    assert status == 0, out
    assert re.search(r"PROVISION refused outside provisioning mode +pass", out)
    assert re.search(r"RFC 6287 vectors +skip", out)
