from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokensim.protocol import wire
from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.framing import MAX_FRAME, MAX_PAYLOAD, Frame, FrameDecoder, FrameType, encode_frame
from tokensim.protocol.ocra import OcraSuite, QuestionFormat
from tokensim.protocol.otp import HashAlgorithm
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind

printable = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E))
suite_codes = st.builds(
    wire.SuiteCode,
    algorithm=st.sampled_from(list(HashAlgorithm)),
    digits=st.integers(4, 10),
    question_format=st.sampled_from(list(QuestionFormat)),
    question_length=st.integers(4, 64),
    pin_algorithm=st.none() | st.sampled_from(list(HashAlgorithm)),
    counter=st.booleans(),
)
requests = st.one_of(
    st.builds(wire.Hello, st.integers(0, 255), st.integers(0, 255)),
    st.just(wire.InfoRequest()),
    st.builds(
        wire.Provision,
        suite_codes,
        st.binary(min_size=wire.MIN_SECRET, max_size=wire.MAX_SECRET),
        st.integers(0, 2**64 - 1),
    ),
    st.builds(
        wire.Respond,
        printable.filter(lambda s: 4 <= len(s) <= wire.MAX_CHALLENGE),
        printable.filter(lambda s: len(s) <= wire.MAX_PIN),
    ),
    st.builds(
        wire.ChangePin,
        st.from_regex(r"[0-9]{4,38}", fullmatch=True),
        st.from_regex(r"[0-9]{1,16}", fullmatch=True),
    ),
)
replies = st.one_of(
    st.builds(wire.Ready, st.integers(0, 255), st.integers(0, 255), st.sampled_from(list(wire.Mode))),
    st.builds(
        wire.Info,
        protocol_major=st.integers(0, 255),
        protocol_minor=st.integers(0, 255),
        firmware=st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
        mode=st.sampled_from(list(wire.Mode)),
        provisioned=st.booleans(),
        locked=st.booleans(),
        capabilities=st.integers(0, 0x3FFF).map(wire.Capability),
        max_frame=st.integers(0, 255),
        suite=st.none() | suite_codes,
        board_id=printable.filter(lambda s: len(s) <= wire.MAX_BOARD_ID),
    ),
    st.builds(wire.Result, st.sampled_from(list(FrameType)), st.from_regex(r"[0-9]{0,10}", fullmatch=True)),
    st.builds(
        wire.ErrorReply,
        st.sampled_from([c for c in wire.ErrorCode if c is not wire.ErrorCode.UNKNOWN]),
        st.integers(0, 255),
        st.from_regex(r"[ -~]{0,40}", fullmatch=True),
    ),
    st.builds(
        wire.LogLine, st.sampled_from(list(wire.LogLevel)), st.from_regex(r"[ -~]{0,50}", fullmatch=True)
    ),
)


@given(requests, st.integers(1, 255))
def test_every_request_round_trips_through_the_wire(request: wire.Request, seq: int) -> None:
    frame = wire.encode_message(request, seq)
    encoded = encode_frame(frame)
    assert len(encoded) <= MAX_FRAME
    (received,) = FrameDecoder().feed(encoded)
    assert received.seq == seq
    assert wire.decode_request(received) == request


@given(replies, st.integers(0, 255))
def test_every_reply_round_trips_through_the_wire(reply: wire.Reply, seq: int) -> None:
    (received,) = FrameDecoder().feed(encode_frame(wire.encode_message(reply, seq)))
    assert wire.decode_reply(received) == reply


@given(st.integers(0, 255), st.binary(max_size=MAX_PAYLOAD))
def test_any_payload_decodes_or_raises_a_coded_error(kind: int, payload: bytes) -> None:
    # A board must answer garbage with ERROR, never crash: decoding raises only MalformedMessage.
    frame = Frame(seq=1, type=kind, payload=payload)
    codes = []
    for decode in (wire.decode_request, wire.decode_reply):
        try:
            decode(frame)
        except wire.MalformedMessage as e:
            codes.append(e.code)
    assert all(isinstance(code, wire.ErrorCode) for code in codes)


def test_unknown_type_is_an_unknown_command() -> None:
    with pytest.raises(wire.MalformedMessage) as caught:
        wire.decode_request(Frame(seq=3, type=0x42))
    assert caught.value.code is wire.ErrorCode.UNKNOWN_COMMAND
    # A reply type sent to a board is not a command either.
    with pytest.raises(wire.MalformedMessage) as caught:
        wire.decode_request(Frame(seq=3, type=FrameType.RESULT, payload=b"\x05\x00"))
    assert caught.value.code is wire.ErrorCode.UNKNOWN_COMMAND


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (FrameType.HELLO, b"\x01"),
        (FrameType.RESPOND, b"\x04"),
        (FrameType.RESPOND, b"\x04\x06123412345"),  # one challenge byte missing
        (FrameType.RESPOND, b"\x00\x03123"),  # challenge shorter than 4
        (FrameType.RESPOND, b"\x00\x06 23456"),  # a space is not printable here
        (FrameType.CHANGE_PIN, b"\x00\x06123456"),  # a PIN change needs a PIN
        (FrameType.PROVISION, bytes(14)),
        (FrameType.PROVISION, bytes((1, 8, ord("N"), 6, 0, 0)) + bytes(8) + b"\x0f" + bytes(15)),
    ],
)
def test_short_or_bad_payloads_are_bad_payload(kind: FrameType, payload: bytes) -> None:
    with pytest.raises(wire.MalformedMessage) as caught:
        wire.decode_request(Frame(seq=1, type=kind, payload=payload))
    assert caught.value.code is wire.ErrorCode.BAD_PAYLOAD


def test_a_suite_with_an_unknown_hash_is_unsupported() -> None:
    payload = bytes((9, 8, ord("N"), 6, 1, 0)) + bytes(8) + b"\x10" + bytes(16)
    with pytest.raises(wire.MalformedMessage) as caught:
        wire.decode_request(Frame(seq=1, type=FrameType.PROVISION, payload=payload))
    assert caught.value.code is wire.ErrorCode.UNSUPPORTED_SUITE


def test_trailing_bytes_from_a_newer_minor_version_are_ignored() -> None:
    frame = wire.encode_message(wire.Respond("123456", "1234"), 1)
    longer = Frame(seq=1, type=frame.type, payload=frame.payload + b"\x01\x02")
    assert wire.decode_request(longer) == wire.Respond("123456", "1234")


def test_unknown_error_codes_fall_back_but_keep_the_byte() -> None:
    reply = wire.decode_reply(Frame(seq=2, type=FrameType.ERROR, payload=b"\x77\x05later"))
    assert isinstance(reply, wire.ErrorReply)
    assert reply.code is wire.ErrorCode.UNKNOWN
    assert reply.raw_code == 0x77
    refused = wire.BoardRefused(reply)
    assert "RESPOND" in str(refused)
    assert refused.raw_code == 0x77
    assert wire.ErrorCode.parse(0xFF) is wire.ErrorCode.UNKNOWN
    assert wire.ErrorCode.parse(4) is wire.ErrorCode.WRONG_MODE


def test_the_respond_layout_has_the_documented_offsets() -> None:
    payload = wire.encode_message(wire.Respond("654321", "98"), 9).payload
    assert payload == b"\x02\x06" + b"98" + b"654321"


def test_the_provision_layout_has_the_documented_offsets() -> None:
    suite = wire.SuiteCode.from_suite("OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1")
    payload = wire.encode_message(wire.Provision(suite, bytes(range(20)), 0x0102), 1).payload
    assert payload[0:6] == bytes((2, 8, ord("N"), 8, 1, 1))
    assert payload[6:14] == bytes(6) + b"\x01\x02"
    assert payload[14] == 20
    assert payload[15:] == bytes(range(20))


@pytest.mark.parametrize(
    "text",
    [
        DEFAULT_SUITES[DeviceKind.DSC_PLUS],
        "OCRA-1:HOTP-SHA1-6:QN08",
        "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1",
        "OCRA-1:HOTP-SHA512-8:QA08-PSHA1",
        "OCRA-1:HOTP-SHA256-8:QH40-PSHA256",
    ],
)
def test_suite_codes_write_the_suite_back_in_its_canonical_spelling(text: str) -> None:
    code = wire.SuiteCode.from_suite(text)
    assert code.text() == text
    assert OcraSuite.parse(code.text()).text == text
    assert wire.SuiteCode.from_bytes(code.to_bytes()) == code


@pytest.mark.parametrize("text", ["OCRA-1:HOTP-SHA512-8:QA10-T1M", "OCRA-1:HOTP-SHA1-0:QN08"])
def test_suites_a_board_cannot_hold_have_no_code(text: str) -> None:
    with pytest.raises(InvalidParameter):
        wire.SuiteCode.from_suite(text)


def test_capabilities_say_which_suites_a_board_supports() -> None:
    core = (
        wire.Capability.HMAC_SHA1
        | wire.Capability.HMAC_SHA256
        | wire.Capability.QUESTION_NUMERIC
        | wire.Capability.PIN_SHA1
        | wire.Capability.COUNTER
    )
    assert core.supports(wire.SuiteCode.from_suite("OCRA-1:HOTP-SHA1-8:QN06-PSHA1"))
    assert not core.supports(wire.SuiteCode.from_suite("OCRA-1:HOTP-SHA512-8:QN08"))
    assert not core.supports(wire.SuiteCode.from_suite("OCRA-1:HOTP-SHA1-8:QA08"))


def test_reprs_never_show_secrets_pins_or_responses() -> None:
    suite = wire.SuiteCode.from_suite("OCRA-1:HOTP-SHA1-8:QN06-PSHA1")
    shown = repr(
        [
            wire.Provision(suite, b"S" * 20),
            wire.Respond("123456", "9876"),
            wire.ChangePin("123456", "5432"),
            wire.Result(FrameType.RESPOND, "13572468"),
        ]
    )
    assert "SSSS" not in shown
    assert "9876" not in shown
    assert "5432" not in shown
    assert "13572468" not in shown


def test_encoding_refuses_values_that_do_not_fit() -> None:
    suite = wire.SuiteCode.from_suite("OCRA-1:HOTP-SHA1-8:QN06-PSHA1")
    with pytest.raises(InvalidParameter, match="secret"):
        wire.encode_message(wire.Provision(suite, bytes(wire.MAX_SECRET + 1)), 1)
    with pytest.raises(InvalidParameter, match="secret"):
        wire.encode_message(wire.Provision(suite, bytes(8)), 1)
    with pytest.raises(InvalidParameter, match="PIN"):
        wire.encode_message(wire.Respond("123456", "12 4"), 1)
    with pytest.raises(InvalidParameter, match="challenge"):
        wire.encode_message(wire.Respond("1" * (wire.MAX_CHALLENGE + 1), "1234"), 1)


def test_the_largest_requests_fit_a_frame() -> None:
    suite = wire.SuiteCode.from_suite("OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1")
    largest = [
        wire.Provision(suite, bytes(wire.MAX_SECRET), 2**64 - 1),
        wire.Respond("9" * wire.MAX_CHALLENGE, "~" * wire.MAX_PIN),
    ]
    for message in largest:
        assert len(encode_frame(wire.encode_message(message, 255))) <= MAX_FRAME


def test_sequence_numbers_skip_the_unsolicited_zero() -> None:
    assert wire.next_seq(1) == 2
    assert wire.next_seq(255) == wire.FIRST_SEQ
    assert wire.FIRST_SEQ != wire.UNSOLICITED_SEQ


def test_every_frame_type_has_a_documented_layout() -> None:
    documented = {layout.frame_type for layout in wire.LAYOUTS}
    assert documented == set(FrameType)
    text = wire.describe_markdown()
    for code in wire.ErrorCode:
        assert code.name in text
