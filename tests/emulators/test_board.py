"""The virtual board's logic, in process: frames in, frames out."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tokensim.emulators.board import VirtualBoard, serve_tcp
from tokensim.emulators.bridge import connect
from tokensim.emulators.devices.dsc_plus import DscPlus
from tokensim.protocol import wire
from tokensim.protocol.clock import FixedClock
from tokensim.protocol.framing import Frame, FrameDecoder, FrameType, encode_frame
from tokensim.protocol.ocra import ocra
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind, Provisioning

DSC_PLUS = DEFAULT_SUITES[DeviceKind.DSC_PLUS]
SECRET = bytes(range(20))


def _card(secret: bytes = SECRET) -> DscPlus:
    provisioning = Provisioning(kind=DeviceKind.DSC_PLUS, serial="P-7", secret=secret, suite=DSC_PLUS)
    return DscPlus.from_provisioning(provisioning, clock=FixedClock(0))


def _ask(board: VirtualBoard, message: wire.Request | Frame, seq: int = 1) -> wire.Reply:
    frame = message if isinstance(message, Frame) else wire.encode_message(message, seq)
    (reply,) = FrameDecoder().feed(board.feed(encode_frame(frame)))
    assert reply.seq == frame.seq
    return wire.decode_reply(reply)


def test_boot_sends_ready_with_the_mode() -> None:
    (ready,) = FrameDecoder().feed(VirtualBoard(_card()).boot())
    assert ready.seq == wire.UNSOLICITED_SEQ
    assert wire.decode_reply(ready) == wire.Ready(1, 0, wire.Mode.OPERATIONAL)
    (ready,) = FrameDecoder().feed(VirtualBoard(None).boot())
    assert wire.decode_reply(ready) == wire.Ready(1, 0, wire.Mode.PROVISIONING)


def test_hello_answers_info_about_the_card() -> None:
    info = _ask(VirtualBoard(_card()), wire.Hello())
    assert isinstance(info, wire.Info)
    assert info.board_id == "P-7"
    assert info.provisioned
    assert info.suite == wire.SuiteCode.from_suite(DSC_PLUS)
    assert info.mode is wire.Mode.OPERATIONAL


def test_respond_is_the_cards_response() -> None:
    reply = _ask(VirtualBoard(_card()), wire.Respond("123456", "1234"))
    assert reply == wire.Result(FrameType.RESPOND, _card().respond("123456", "1234"))


def test_provision_needs_provisioning_mode() -> None:
    code = wire.SuiteCode.from_suite(DSC_PLUS)
    reply = _ask(VirtualBoard(_card()), wire.Provision(code, bytes(20)))
    assert isinstance(reply, wire.ErrorReply)
    assert reply.code is wire.ErrorCode.WRONG_MODE
    # Even a malformed PROVISION is refused for the mode first, as the firmware does.
    reply = _ask(VirtualBoard(_card()), Frame(2, FrameType.PROVISION, b"\x01"))
    assert isinstance(reply, wire.ErrorReply)
    assert reply.code is wire.ErrorCode.WRONG_MODE


def test_provisioning_makes_a_card_and_saves_it() -> None:
    saved: list[object] = []
    board = VirtualBoard(None, on_change=saved.append, board_id="bench-1")
    before = _ask(board, wire.Respond("123456", "1234"))
    assert isinstance(before, wire.ErrorReply)
    assert before.code is wire.ErrorCode.NOT_PROVISIONED
    code = wire.SuiteCode.from_suite(DSC_PLUS)
    assert _ask(board, wire.Provision(code, SECRET), seq=2) == wire.Result(FrameType.PROVISION)
    assert len(saved) == 1
    reply = _ask(board, wire.Respond("123456", "1234"), seq=3)
    assert reply == wire.Result(FrameType.RESPOND, _card().respond("123456", "1234"))


def test_a_counter_suite_starts_where_provisioning_says_and_a_retry_is_cached() -> None:
    suite = "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1"
    key = bytes(range(32))
    board = VirtualBoard(None, kind=DeviceKind.GOLD)
    _ask(board, wire.Provision(wire.SuiteCode.from_suite(suite), key, counter=5))
    request = wire.encode_message(wire.Respond("12345678", "1234"), 9)
    first = _ask(board, request)
    assert _ask(board, request) == first  # same seq and bytes: from the cache
    assert first == wire.Result(FrameType.RESPOND, ocra(suite, key, "12345678", counter=5, pin="1234"))
    fresh = _ask(board, wire.Respond("12345678", "1234"), seq=10)
    assert fresh == wire.Result(FrameType.RESPOND, ocra(suite, key, "12345678", counter=6, pin="1234"))


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (Frame(1, 0x42), wire.ErrorCode.UNKNOWN_COMMAND),
        (Frame(1, FrameType.READY, b"\x01\x00\x01"), wire.ErrorCode.UNKNOWN_COMMAND),
        (Frame(1, FrameType.RESPOND, b"\x04"), wire.ErrorCode.BAD_PAYLOAD),
        (Frame(1, FrameType.HELLO, b"\x02\x00"), wire.ErrorCode.VERSION_MISMATCH),
        (wire.encode_message(wire.Respond("12345", "1234"), 1), wire.ErrorCode.BAD_PAYLOAD),
        (wire.encode_message(wire.Respond("123456", "12"), 1), wire.ErrorCode.BAD_PAYLOAD),
    ],
)
def test_bad_requests_get_coded_errors(frame: Frame, code: wire.ErrorCode) -> None:
    reply = _ask(VirtualBoard(_card()), frame)
    assert isinstance(reply, wire.ErrorReply)
    assert reply.code is code


def test_noise_and_broken_frames_are_dropped_and_counted() -> None:
    board = VirtualBoard(_card())
    good = encode_frame(wire.encode_message(wire.InfoRequest(), 4))
    assert board.feed(b"\x13\x37" * 40 + b"\x00") == b""  # oversized noise
    assert board.feed(good[:-3] + b"\x01\x01\x00") == b""  # bad CRC
    assert board.dropped == 2
    assert FrameDecoder().feed(board.feed(good))[0].type == FrameType.INFO


def test_boot_forgets_the_reply_cache() -> None:
    board = VirtualBoard(_card())
    request = wire.encode_message(wire.InfoRequest(), 3)
    first = board.feed(encode_frame(request))
    board.boot()
    assert board.feed(encode_frame(request)) == first  # recomputed, same answer


@pytest.fixture
def tcp_board() -> Iterator[str]:
    stop = threading.Event()
    urls: list[str] = []
    listening = threading.Event()

    def on_listen(url: str) -> None:
        urls.append(url)
        listening.set()

    thread = threading.Thread(
        target=serve_tcp,
        args=(VirtualBoard(_card()),),
        kwargs={"port": 0, "on_listen": on_listen, "stop": stop},
        daemon=True,
    )
    thread.start()
    assert listening.wait(10), "the TCP board did not start"
    yield urls[0]
    stop.set()
    thread.join(10)
    assert not thread.is_alive()


def test_the_bridge_uses_a_board_over_tcp(tcp_board: str) -> None:
    assert tcp_board.startswith("socket://127.0.0.1:")
    for _ in range(2):  # each connection is a fresh boot with its READY
        with connect(tcp_board, ready_timeout=5.0) as bridge:
            assert bridge.ready is not None
            assert bridge.serial == "P-7"
            assert bridge.respond("222222", "1111") == _card().respond("222222", "1111")
