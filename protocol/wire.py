"""The board protocol: the commands a host and a DSC+ board exchange inside frames.

:mod:`tokensim.protocol.framing` moves frames; this module says what their payloads mean. Every
payload layout is a table of explicit byte offsets (:data:`LAYOUTS`); the encoders and decoders here
use the same offset constants as those tables, ``firmware-notes/wire-protocol.md`` is generated from
them by :func:`describe_markdown`, and a test keeps the C header of the reference firmware in step.

A conversation::

    board                                   host
      READY (seq 0, unsolicited at boot) ->
                                        <- HELLO (protocol major, minor)
      INFO (board, firmware, mode, ...)  ->
                                        <- RESPOND (PIN, challenge)
      RESULT (8-digit response)          ->

A reply carries the sequence number of its request. The host numbers requests 1 to 255 and wraps to
1; sequence 0 is for frames the board sends unasked (READY, LOG). A request repeated with the same
sequence number and bytes is answered from the board's reply cache, never computed twice.

A receiver ignores payload bytes past the fields it knows (a later minor version may append fields)
and answers a payload too short for its fields with ``ERROR BAD_PAYLOAD``; a type it does not know,
with ``ERROR UNKNOWN_COMMAND``.

Example:
    >>> frame = encode_message(Respond(challenge="123456", pin="1234"), seq=7)
    >>> frame.payload
    b'\\x04\\x061234123456'
    >>> decode_request(frame) == Respond(challenge="123456", pin="1234")
    True
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from tokensim.protocol.errors import DeviceError, FramingError, InvalidParameter
from tokensim.protocol.framing import MAX_FRAME, MAX_PAYLOAD, Frame, FrameType
from tokensim.protocol.ocra import OcraSuite, QuestionFormat
from tokensim.protocol.otp import MAX_COUNTER, MIN_KEY_BYTES, HashAlgorithm

__all__ = [
    "BAUD_RATE",
    "FIRST_SEQ",
    "LAYOUTS",
    "MAX_BOARD_ID",
    "MAX_CHALLENGE",
    "MAX_PIN",
    "MAX_SECRET",
    "MIN_SECRET",
    "PROTOCOL_MAJOR",
    "PROTOCOL_MINOR",
    "READY_TIMEOUT",
    "REPLY_TIMEOUT",
    "RETRIES",
    "SUITE_CODE_SIZE",
    "UNSOLICITED_SEQ",
    "BoardRefused",
    "Capability",
    "ChangePin",
    "ErrorCode",
    "ErrorReply",
    "Field",
    "Hello",
    "Info",
    "InfoRequest",
    "Layout",
    "LogLevel",
    "LogLine",
    "MalformedMessage",
    "Message",
    "Mode",
    "Provision",
    "Ready",
    "Reply",
    "Request",
    "Respond",
    "Result",
    "SuiteCode",
    "decode_reply",
    "decode_request",
    "describe_markdown",
    "encode_message",
    "next_seq",
]

#: The protocol version this side speaks. A different major version is refused; a different minor
#: version is accepted (it only appends payload fields or adds commands).
PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 0

#: Sequence number of frames the board sends unasked (READY, LOG).
UNSOLICITED_SEQ = 0
#: The first sequence number a host uses; it counts to 255 and wraps back here.
FIRST_SEQ = 1

#: Seconds the host waits for READY after opening the port; an Uno's bootloader takes about 1.6 s.
READY_TIMEOUT = 3.0
#: Seconds the host waits for one reply before sending the same frame again.
REPLY_TIMEOUT = 0.5
#: How many times the host resends one request (same sequence number) before giving up.
RETRIES = 3
#: The line speed of boards with a USB-serial chip; native-USB boards ignore it.
BAUD_RATE = 115200

#: Bytes of a suite code (see :class:`SuiteCode`).
SUITE_CODE_SIZE = 6
#: Secret lengths a board accepts: RFC 4226 §4 asks for 128 bits at least; the frame size caps it.
MIN_SECRET = MIN_KEY_BYTES
MAX_SECRET = 40
#: Longest PIN and challenge in one RESPOND or CHANGE_PIN: 2 + 16 + 38 = MAX_PAYLOAD.
MAX_PIN = 16
MAX_CHALLENGE = 38
#: Longest board id.
MAX_BOARD_ID = 16


class Mode(enum.IntEnum):
    """What a board allows. Wire values."""

    #: Entered at boot with the provisioning jumper or button held, or when no secret is stored;
    #: lasts until the next reset. PROVISION is allowed, and so is RESPOND once a secret is set.
    PROVISIONING = 0
    #: The normal mode: RESPOND and CHANGE_PIN; PROVISION is refused with WRONG_MODE.
    OPERATIONAL = 1


class Capability(enum.IntFlag):
    """What a board can do, a 16-bit field in INFO. Wire values."""

    HMAC_SHA1 = 0x0001
    HMAC_SHA256 = 0x0002
    HMAC_SHA512 = 0x0004
    COUNTER = 0x0008
    PIN_SHA1 = 0x0010
    PIN_SHA256 = 0x0020
    PIN_SHA512 = 0x0040
    QUESTION_NUMERIC = 0x0080
    QUESTION_ALPHANUMERIC = 0x0100
    QUESTION_HEX = 0x0200
    KEYPAD = 0x0400
    DISPLAY = 0x0800
    PERSISTENT = 0x1000
    LOG = 0x2000

    def supports(self, suite: SuiteCode) -> bool:
        """Whether a board with these capabilities can compute ``suite``."""
        needed = _HASH_CAPABILITY[suite.algorithm] | _QUESTION_CAPABILITY[suite.question_format]
        if suite.pin_algorithm is not None:
            needed |= _PIN_CAPABILITY[suite.pin_algorithm]
        if suite.counter:
            needed |= Capability.COUNTER
        return needed & self == needed


class ErrorCode(enum.IntEnum):
    """Why a board refused a request: the first byte of an ERROR payload. Wire values.

    :meth:`parse` maps a code this side does not know to :attr:`UNKNOWN` rather than failing, so an
    older host still reports a newer board's refusal.
    """

    UNKNOWN_COMMAND = 0x01
    BAD_PAYLOAD = 0x02
    NOT_PROVISIONED = 0x03
    WRONG_MODE = 0x04
    LOCKED = 0x05
    BUSY = 0x06
    VERSION_MISMATCH = 0x07
    UNSUPPORTED_SUITE = 0x08
    STORAGE = 0x09
    INTERNAL = 0x0A
    #: Never sent: what a host reads for a code it does not know.
    UNKNOWN = 0xFF

    @classmethod
    def parse(cls, value: int) -> ErrorCode:
        """The code for ``value``, or :attr:`UNKNOWN`."""
        if value in cls._value2member_map_ and value != cls.UNKNOWN:
            return cls(value)
        return cls.UNKNOWN


_ERROR_MEANINGS: Mapping[ErrorCode, str] = {
    ErrorCode.UNKNOWN_COMMAND: "the frame type is not a request this board knows",
    ErrorCode.BAD_PAYLOAD: "the payload is too short, a length is out of range or a character is not allowed",
    ErrorCode.NOT_PROVISIONED: "no secret is stored yet",
    ErrorCode.WRONG_MODE: "the command is not allowed in the current mode (PROVISION outside provisioning)",
    ErrorCode.LOCKED: "the board is locked",
    ErrorCode.BUSY: "the board is busy (its own keypad is in use)",
    ErrorCode.VERSION_MISMATCH: "the host's protocol major version differs from the board's",
    ErrorCode.UNSUPPORTED_SUITE: "the board cannot compute this OCRA suite",
    ErrorCode.STORAGE: "writing the secret to EEPROM or flash failed",
    ErrorCode.INTERNAL: "a bug in the firmware",
    ErrorCode.UNKNOWN: "(host side only) a code this host does not know",
}


class LogLevel(enum.IntEnum):
    """Severity of a LOG frame. Wire values."""

    DEBUG = 0
    INFO = 1
    WARNING = 2
    ERROR = 3


class MalformedMessage(FramingError):
    """A frame's payload does not follow its layout, or its type is not expected here.

    Attributes:
        code: the error code a board answers with.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class BoardRefused(DeviceError):
    """A board answered a request with ERROR.

    Attributes:
        code: why, as an :class:`ErrorCode` (``UNKNOWN`` for a code this side does not know).
        raw_code: the byte on the wire.
        request: the frame type the board refused.
    """

    def __init__(self, reply: ErrorReply) -> None:
        detail = f": {reply.message}" if reply.message else ""
        super().__init__(f"board refused {_type_name(reply.request)} with {reply.code.name}{detail}")
        self.code = reply.code
        self.raw_code = reply.raw_code
        self.request = reply.request


def _type_name(value: int) -> str:
    return FrameType(value).name if value in FrameType._value2member_map_ else f"type 0x{value:02x}"


# --- suite codes -------------------------------------------------------------------------------

_HASH_IDS: Mapping[HashAlgorithm, int] = {
    HashAlgorithm.SHA1: 1,
    HashAlgorithm.SHA256: 2,
    HashAlgorithm.SHA512: 3,
}
_HASH_BY_ID = {value: key for key, value in _HASH_IDS.items()}
_HASH_CAPABILITY = {
    HashAlgorithm.SHA1: Capability.HMAC_SHA1,
    HashAlgorithm.SHA256: Capability.HMAC_SHA256,
    HashAlgorithm.SHA512: Capability.HMAC_SHA512,
}
_PIN_CAPABILITY = {
    HashAlgorithm.SHA1: Capability.PIN_SHA1,
    HashAlgorithm.SHA256: Capability.PIN_SHA256,
    HashAlgorithm.SHA512: Capability.PIN_SHA512,
}
_QUESTION_CAPABILITY = {
    QuestionFormat.NUMERIC: Capability.QUESTION_NUMERIC,
    QuestionFormat.ALPHANUMERIC: Capability.QUESTION_ALPHANUMERIC,
    QuestionFormat.HEX: Capability.QUESTION_HEX,
}
_SUITE_FLAG_COUNTER = 0x01

_SUITE_HASH = 0
_SUITE_DIGITS = 1
_SUITE_QUESTION_FORMAT = 2
_SUITE_QUESTION_LENGTH = 3
_SUITE_PIN_HASH = 4
_SUITE_FLAGS = 5


@dataclass(frozen=True, slots=True)
class SuiteCode:
    """An OCRA suite in 6 bytes, because its text does not fit in a frame beside a secret.

    Only suites of the form ``OCRA-1:HOTP-H-d:[C-]QFxx[-PH]`` have a code (no session, no time): a
    board has no clock. :meth:`text` writes the suite back in its one canonical spelling, which is
    the text both sides put first in the OCRA message.

    Attributes:
        algorithm: the HMAC hash.
        digits: response digits, 4 to 10.
        question_format: numeric, alphanumeric or hex challenges.
        question_length: the longest challenge, 4 to 64.
        pin_algorithm: the PIN hash, or ``None`` when the suite takes no PIN.
        counter: whether a counter ``C`` is an input.
    """

    algorithm: HashAlgorithm
    digits: int
    question_format: QuestionFormat
    question_length: int
    pin_algorithm: HashAlgorithm | None
    counter: bool

    def __post_init__(self) -> None:
        if not 4 <= self.digits <= 10:
            raise InvalidParameter(f"suite code: digits must be 4 to 10, got {self.digits}")
        if not 4 <= self.question_length <= 64:
            raise InvalidParameter(f"suite code: question length must be 4 to 64, got {self.question_length}")

    @classmethod
    def from_suite(cls, suite: OcraSuite | str) -> SuiteCode:
        """The code of an OCRA suite.

        Raises:
            InvalidSuite: the text is not a suite.
            InvalidParameter: the suite has a session or time input, or no truncation.
        """
        parsed = suite if isinstance(suite, OcraSuite) else OcraSuite.parse(suite)
        if parsed.session_length is not None or parsed.time_step is not None:
            raise InvalidParameter(f"{parsed.text}: a board suite has no session or time input")
        if parsed.digits == 0:
            raise InvalidParameter(f"{parsed.text}: a board suite truncates to 4-10 digits")
        return cls(
            algorithm=parsed.algorithm,
            digits=parsed.digits,
            question_format=parsed.question_format,
            question_length=parsed.question_length,
            pin_algorithm=parsed.pin_algorithm,
            counter=parsed.counter,
        )

    def text(self) -> str:
        """The canonical suite text, e.g. ``OCRA-1:HOTP-SHA1-8:QN06-PSHA1``."""
        parts = ["C"] if self.counter else []
        parts.append(f"Q{self.question_format.value}{self.question_length:02d}")
        if self.pin_algorithm is not None:
            parts.append(f"P{self.pin_algorithm.value}")
        return f"OCRA-1:HOTP-{self.algorithm.value}-{self.digits}:{'-'.join(parts)}"

    def to_bytes(self) -> bytes:
        """The 6 wire bytes."""
        raw = bytearray(SUITE_CODE_SIZE)
        raw[_SUITE_HASH] = _HASH_IDS[self.algorithm]
        raw[_SUITE_DIGITS] = self.digits
        raw[_SUITE_QUESTION_FORMAT] = ord(self.question_format.value)
        raw[_SUITE_QUESTION_LENGTH] = self.question_length
        raw[_SUITE_PIN_HASH] = 0 if self.pin_algorithm is None else _HASH_IDS[self.pin_algorithm]
        raw[_SUITE_FLAGS] = _SUITE_FLAG_COUNTER if self.counter else 0
        return bytes(raw)

    @classmethod
    def from_bytes(cls, raw: bytes) -> SuiteCode:
        """Read the 6 wire bytes.

        Raises:
            MalformedMessage: (BAD_PAYLOAD) a byte is out of range; (UNSUPPORTED_SUITE) an unknown hash.
        """
        if len(raw) != SUITE_CODE_SIZE:
            raise MalformedMessage(ErrorCode.BAD_PAYLOAD, f"suite code must be {SUITE_CODE_SIZE} bytes")
        algorithm = _HASH_BY_ID.get(raw[_SUITE_HASH])
        pin_id = raw[_SUITE_PIN_HASH]
        pin_algorithm = _HASH_BY_ID.get(pin_id)
        if algorithm is None or (pin_id != 0 and pin_algorithm is None):
            raise MalformedMessage(ErrorCode.UNSUPPORTED_SUITE, "suite code names an unknown hash")
        try:
            question_format = QuestionFormat(chr(raw[_SUITE_QUESTION_FORMAT]))
        except ValueError:
            raise MalformedMessage(
                ErrorCode.UNSUPPORTED_SUITE, "suite code names an unknown question format"
            ) from None
        if raw[_SUITE_FLAGS] & ~_SUITE_FLAG_COUNTER:
            raise MalformedMessage(ErrorCode.UNSUPPORTED_SUITE, "suite code has unknown flags")
        try:
            return cls(
                algorithm=algorithm,
                digits=raw[_SUITE_DIGITS],
                question_format=question_format,
                question_length=raw[_SUITE_QUESTION_LENGTH],
                pin_algorithm=pin_algorithm,
                counter=bool(raw[_SUITE_FLAGS] & _SUITE_FLAG_COUNTER),
            )
        except InvalidParameter as e:
            raise MalformedMessage(ErrorCode.BAD_PAYLOAD, str(e)) from e


# --- layouts -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a payload layout.

    Attributes:
        name: the field's name.
        offset: where it starts, as written in the documentation (``"2+p"`` after a field of ``p`` bytes).
        size: its size, a number of bytes or the name of the length field before it.
        description: what it holds.
    """

    name: str
    offset: str
    size: str
    description: str


@dataclass(frozen=True, slots=True)
class Layout:
    """The payload of one frame type in one direction.

    Attributes:
        frame_type: the frame type.
        direction: ``"host -> board"`` or ``"board -> host"``.
        summary: what the frame does.
        fields: the payload fields by offset; empty for an empty payload.
    """

    frame_type: FrameType
    direction: str
    summary: str
    fields: tuple[Field, ...]


_HELLO_MAJOR = 0
_HELLO_MINOR = 1
_HELLO_SIZE = 2

_READY_MAJOR = 0
_READY_MINOR = 1
_READY_MODE = 2
_READY_SIZE = 3

_INFO_PROTOCOL_MAJOR = 0
_INFO_PROTOCOL_MINOR = 1
_INFO_FIRMWARE = 2  # three bytes: major, minor, patch
_INFO_MODE = 5
_INFO_FLAGS = 6
_INFO_CAPABILITIES = 7  # two bytes, big-endian
_INFO_MAX_FRAME = 9
_INFO_SUITE = 10  # SUITE_CODE_SIZE bytes, zero when not provisioned
_INFO_BOARD_ID_LENGTH = 16
_INFO_BOARD_ID = 17
_INFO_FLAG_PROVISIONED = 0x01
_INFO_FLAG_LOCKED = 0x02

_PROVISION_SUITE = 0  # SUITE_CODE_SIZE bytes
_PROVISION_COUNTER = 6  # eight bytes, big-endian
_PROVISION_SECRET_LENGTH = 14
_PROVISION_SECRET = 15

_RESPOND_PIN_LENGTH = 0
_RESPOND_CHALLENGE_LENGTH = 1
_RESPOND_PIN = 2  # then the challenge at 2 + pin length

_RESULT_REQUEST = 0
_RESULT_LENGTH = 1
_RESULT_RESPONSE = 2

_ERROR_CODE = 0
_ERROR_REQUEST = 1
_ERROR_MESSAGE = 2

_LOG_LEVEL = 0
_LOG_TEXT = 1

_PIN_FIELDS = (
    Field(
        "pin_length", str(_RESPOND_PIN_LENGTH), "1", "p, bytes of PIN, 0 to 16; 0 when the suite takes no PIN"
    ),
    Field("challenge_length", str(_RESPOND_CHALLENGE_LENGTH), "1", "q, bytes of challenge, 4 to 38"),
    Field("pin", str(_RESPOND_PIN), "p", "the PIN, ASCII (printable, no space); used once, never stored"),
    Field("challenge", f"{_RESPOND_PIN}+p", "q", "the challenge, ASCII digits for a numeric (QN) suite"),
)

#: Every payload layout, in frame-type order.
LAYOUTS: tuple[Layout, ...] = (
    Layout(
        FrameType.HELLO,
        "host -> board",
        "Open a session; the board answers INFO, or ERROR VERSION_MISMATCH if the major versions differ.",
        (
            Field("protocol_major", str(_HELLO_MAJOR), "1", "the host's protocol major version"),
            Field("protocol_minor", str(_HELLO_MINOR), "1", "the host's protocol minor version"),
        ),
    ),
    Layout(
        FrameType.READY,
        "board -> host",
        "Sent unasked with sequence 0 once the board has booted (after the auto-reset on open).",
        (
            Field("protocol_major", str(_READY_MAJOR), "1", "the board's protocol major version"),
            Field("protocol_minor", str(_READY_MINOR), "1", "the board's protocol minor version"),
            Field("mode", str(_READY_MODE), "1", "0 provisioning, 1 operational"),
        ),
    ),
    Layout(FrameType.INFO, "host -> board", "Ask for the board's INFO.", ()),
    Layout(
        FrameType.INFO,
        "board -> host",
        "The answer to HELLO and INFO.",
        (
            Field("protocol_major", str(_INFO_PROTOCOL_MAJOR), "1", "the board's protocol major version"),
            Field("protocol_minor", str(_INFO_PROTOCOL_MINOR), "1", "the board's protocol minor version"),
            Field("firmware", str(_INFO_FIRMWARE), "3", "firmware version: major, minor, patch"),
            Field("mode", str(_INFO_MODE), "1", "0 provisioning, 1 operational"),
            Field("flags", str(_INFO_FLAGS), "1", "bit 0: a secret is stored; bit 1: locked"),
            Field("capabilities", str(_INFO_CAPABILITIES), "2", "Capability bits, big-endian"),
            Field("max_frame", str(_INFO_MAX_FRAME), "1", "the longest encoded frame the board accepts"),
            Field("suite", str(_INFO_SUITE), str(SUITE_CODE_SIZE), "the stored suite code; zeros if none"),
            Field("board_id_length", str(_INFO_BOARD_ID_LENGTH), "1", "n, 0 to 16"),
            Field("board_id", str(_INFO_BOARD_ID), "n", "the board's id (serial number), ASCII"),
        ),
    ),
    Layout(
        FrameType.PROVISION,
        "host -> board",
        "Store a secret and suite; only in provisioning mode (else ERROR WRONG_MODE). Answered by RESULT.",
        (
            Field("suite", str(_PROVISION_SUITE), str(SUITE_CODE_SIZE), "the suite code"),
            Field("counter", str(_PROVISION_COUNTER), "8", "the first counter value, big-endian (0 if no C)"),
            Field("secret_length", str(_PROVISION_SECRET_LENGTH), "1", "s, 16 to 40"),
            Field("secret", str(_PROVISION_SECRET), "s", "the shared secret; no command ever reads it back"),
        ),
    ),
    Layout(
        FrameType.RESPOND,
        "host -> board",
        "Compute the OCRA response to a challenge with the PIN folded in. Answered by RESULT.",
        _PIN_FIELDS,
    ),
    Layout(
        FrameType.CHANGE_PIN,
        "host -> board",
        "The same computation with the new PIN, for the server's PIN-change challenge. Answered by RESULT.",
        _PIN_FIELDS,
    ),
    Layout(
        FrameType.RESULT,
        "board -> host",
        "The answer to PROVISION, RESPOND and CHANGE_PIN.",
        (
            Field("request", str(_RESULT_REQUEST), "1", "the frame type answered"),
            Field("response_length", str(_RESULT_LENGTH), "1", "r, 0 for PROVISION, else the suite's digits"),
            Field("response", str(_RESULT_RESPONSE), "r", "the response, ASCII digits"),
        ),
    ),
    Layout(
        FrameType.ERROR,
        "board -> host",
        "A refused request.",
        (
            Field("code", str(_ERROR_CODE), "1", "an ErrorCode"),
            Field("request", str(_ERROR_REQUEST), "1", "the frame type refused"),
            Field("message", str(_ERROR_MESSAGE), "rest", "a short ASCII explanation, maybe empty"),
        ),
    ),
    Layout(
        FrameType.LOG,
        "board -> host",
        "Debug text, sent unasked with sequence 0 (raw prints would break the framing).",
        (
            Field("level", str(_LOG_LEVEL), "1", "0 debug, 1 info, 2 warning, 3 error"),
            Field("text", str(_LOG_TEXT), "rest", "ASCII; never a secret, PIN or response"),
        ),
    ),
)


# --- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """HELLO: the host's protocol version."""

    major: int = PROTOCOL_MAJOR
    minor: int = PROTOCOL_MINOR


@dataclass(frozen=True, slots=True)
class Ready:
    """READY: the board has booted."""

    major: int
    minor: int
    mode: Mode


@dataclass(frozen=True, slots=True)
class InfoRequest:
    """INFO from the host: a request for :class:`Info`."""


@dataclass(frozen=True, slots=True)
class Info:
    """INFO from the board.

    Attributes:
        protocol_major: the board's protocol major version.
        protocol_minor: the board's protocol minor version.
        firmware: firmware version (major, minor, patch).
        mode: provisioning or operational.
        provisioned: whether a secret is stored.
        locked: whether the board refuses to respond.
        capabilities: what it can compute and has.
        max_frame: the longest encoded frame it accepts.
        suite: the stored suite, or ``None``.
        board_id: its id, ASCII.
    """

    protocol_major: int
    protocol_minor: int
    firmware: tuple[int, int, int]
    mode: Mode
    provisioned: bool
    locked: bool
    capabilities: Capability
    max_frame: int
    suite: SuiteCode | None
    board_id: str


@dataclass(frozen=True, slots=True)
class Provision:
    """PROVISION: a secret, its suite and the first counter value."""

    suite: SuiteCode
    secret: bytes = field(repr=False)
    counter: int = 0


@dataclass(frozen=True, slots=True)
class Respond:
    """RESPOND: a challenge and the PIN to fold into the response."""

    challenge: str
    pin: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class ChangePin:
    """CHANGE_PIN: the server's PIN-change challenge and the new PIN.

    The board computes exactly what RESPOND computes, with the new PIN: the server issued this
    challenge for a PIN change, checks the response against the new PIN's hash and stores that hash.
    The board stores nothing; a board with a display shows the new-PIN prompt instead.
    """

    challenge: str
    new_pin: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Result:
    """RESULT: the answer to PROVISION (empty response), RESPOND or CHANGE_PIN."""

    request: int
    response: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """ERROR: a refused request.

    Attributes:
        code: the reason, :attr:`ErrorCode.UNKNOWN` for a code this side does not know.
        request: the refused frame type.
        message: a short ASCII explanation.
        raw_code: the code byte as sent.
    """

    code: ErrorCode
    request: int
    message: str = ""
    raw_code: int = -1

    def __post_init__(self) -> None:
        if self.raw_code == -1:
            object.__setattr__(self, "raw_code", int(self.code))


@dataclass(frozen=True, slots=True)
class LogLine:
    """LOG: a line of debug text from the board."""

    level: LogLevel
    text: str


Request = Hello | InfoRequest | Provision | Respond | ChangePin
Reply = Ready | Info | Result | ErrorReply | LogLine
Message = Request | Reply


def next_seq(seq: int) -> int:
    """The sequence number after ``seq``: 1 to 255, wrapping to 1 (0 is for unsolicited frames)."""
    return FIRST_SEQ if seq >= 255 else seq + 1


def _ascii(text: str, name: str, limit: int, *, printable: bool = True) -> bytes:
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidParameter(f"{name} must be ASCII") from None
    if len(raw) > limit:
        raise InvalidParameter(f"{name} is {len(raw)} bytes; at most {limit}")
    if printable and any(not 0x21 <= b <= 0x7E for b in raw):
        raise InvalidParameter(f"{name} must be printable ASCII without spaces")
    return raw


def _pin_payload(challenge: str, pin: str) -> bytes:
    pin_raw = _ascii(pin, "PIN", MAX_PIN)
    challenge_raw = _ascii(challenge, "challenge", MAX_CHALLENGE)
    if len(challenge_raw) < 4:
        raise InvalidParameter("challenge must be at least 4 characters")
    head = bytearray(_RESPOND_PIN)
    head[_RESPOND_PIN_LENGTH] = len(pin_raw)
    head[_RESPOND_CHALLENGE_LENGTH] = len(challenge_raw)
    return bytes(head) + pin_raw + challenge_raw


def _encode_payload(message: Message) -> tuple[FrameType, bytes]:
    match message:
        case Hello(major, minor):
            raw = bytearray(_HELLO_SIZE)
            raw[_HELLO_MAJOR], raw[_HELLO_MINOR] = major, minor
            return FrameType.HELLO, bytes(raw)
        case Ready(major, minor, mode):
            raw = bytearray(_READY_SIZE)
            raw[_READY_MAJOR], raw[_READY_MINOR], raw[_READY_MODE] = major, minor, mode
            return FrameType.READY, bytes(raw)
        case InfoRequest():
            return FrameType.INFO, b""
        case Info():
            board_id = _ascii(message.board_id, "board id", MAX_BOARD_ID)
            raw = bytearray(_INFO_BOARD_ID)
            raw[_INFO_PROTOCOL_MAJOR] = message.protocol_major
            raw[_INFO_PROTOCOL_MINOR] = message.protocol_minor
            raw[_INFO_FIRMWARE : _INFO_FIRMWARE + 3] = bytes(message.firmware)
            raw[_INFO_MODE] = message.mode
            raw[_INFO_FLAGS] = (_INFO_FLAG_PROVISIONED if message.provisioned else 0) | (
                _INFO_FLAG_LOCKED if message.locked else 0
            )
            raw[_INFO_CAPABILITIES : _INFO_CAPABILITIES + 2] = int(message.capabilities).to_bytes(2, "big")
            raw[_INFO_MAX_FRAME] = message.max_frame
            if message.suite is not None:
                raw[_INFO_SUITE : _INFO_SUITE + SUITE_CODE_SIZE] = message.suite.to_bytes()
            raw[_INFO_BOARD_ID_LENGTH] = len(board_id)
            return FrameType.INFO, bytes(raw) + board_id
        case Provision(suite, secret, counter):
            if not MIN_SECRET <= len(secret) <= MAX_SECRET:
                raise InvalidParameter(
                    f"secret must be {MIN_SECRET} to {MAX_SECRET} bytes, got {len(secret)}"
                )
            if not 0 <= counter <= MAX_COUNTER:
                raise InvalidParameter("counter must be from 0 to 2**64-1")
            raw = bytearray(_PROVISION_SECRET)
            raw[_PROVISION_SUITE : _PROVISION_SUITE + SUITE_CODE_SIZE] = suite.to_bytes()
            raw[_PROVISION_COUNTER : _PROVISION_COUNTER + 8] = counter.to_bytes(8, "big")
            raw[_PROVISION_SECRET_LENGTH] = len(secret)
            return FrameType.PROVISION, bytes(raw) + secret
        case Respond(challenge, pin):
            return FrameType.RESPOND, _pin_payload(challenge, pin)
        case ChangePin(challenge, new_pin):
            if not new_pin:
                raise InvalidParameter("the new PIN must not be empty")
            return FrameType.CHANGE_PIN, _pin_payload(challenge, new_pin)
        case Result(request, response):
            digits = _ascii(response, "response", MAX_PAYLOAD - _RESULT_RESPONSE)
            raw = bytearray(_RESULT_RESPONSE)
            raw[_RESULT_REQUEST], raw[_RESULT_LENGTH] = request, len(digits)
            return FrameType.RESULT, bytes(raw) + digits
        case ErrorReply():
            text = _ascii(message.message, "error message", MAX_PAYLOAD - _ERROR_MESSAGE, printable=False)
            raw = bytearray(_ERROR_MESSAGE)
            raw[_ERROR_CODE], raw[_ERROR_REQUEST] = message.raw_code, message.request
            return FrameType.ERROR, bytes(raw) + text
        case LogLine(level, text):
            body = _ascii(text, "log text", MAX_PAYLOAD - _LOG_TEXT, printable=False)
            return FrameType.LOG, bytes((level,)) + body
    raise InvalidParameter(f"not a wire message: {type(message).__name__}")


def encode_message(message: Message, seq: int) -> Frame:
    """The frame carrying ``message`` with sequence number ``seq``.

    Raises:
        InvalidParameter: a field is out of range (a secret too long, a PIN with a space, ...).
    """
    frame_type, payload = _encode_payload(message)
    return Frame(seq=seq, type=frame_type, payload=payload)


def _need(payload: bytes, size: int, what: str) -> None:
    if len(payload) < size:
        raise MalformedMessage(ErrorCode.BAD_PAYLOAD, f"{what} payload is {len(payload)} bytes; needs {size}")


def _text(raw: bytes, what: str, *, printable: bool = True) -> str:
    if any(not (0x21 if printable else 0x20) <= b <= 0x7E for b in raw):
        raise MalformedMessage(ErrorCode.BAD_PAYLOAD, f"{what} must be printable ASCII")
    return raw.decode("ascii")


def _decode_pin_payload(payload: bytes, what: str) -> tuple[str, str]:
    _need(payload, _RESPOND_PIN, what)
    pin_length = payload[_RESPOND_PIN_LENGTH]
    challenge_length = payload[_RESPOND_CHALLENGE_LENGTH]
    if pin_length > MAX_PIN or not 4 <= challenge_length <= MAX_CHALLENGE:
        raise MalformedMessage(ErrorCode.BAD_PAYLOAD, f"{what}: PIN or challenge length out of range")
    challenge_at = _RESPOND_PIN + pin_length
    _need(payload, challenge_at + challenge_length, what)
    pin = _text(payload[_RESPOND_PIN:challenge_at], "PIN")
    challenge = _text(payload[challenge_at : challenge_at + challenge_length], "challenge")
    return challenge, pin


def decode_request(frame: Frame) -> Request:
    """What a board reads: the request in ``frame``.

    Raises:
        MalformedMessage: ``code`` is UNKNOWN_COMMAND for a type that is not a request, BAD_PAYLOAD
            or UNSUPPORTED_SUITE for a payload that breaks its layout.
    """
    payload = frame.payload
    if frame.type == FrameType.HELLO:
        _need(payload, _HELLO_SIZE, "HELLO")
        return Hello(payload[_HELLO_MAJOR], payload[_HELLO_MINOR])
    if frame.type == FrameType.INFO:
        return InfoRequest()
    if frame.type == FrameType.PROVISION:
        _need(payload, _PROVISION_SECRET, "PROVISION")
        suite = SuiteCode.from_bytes(payload[_PROVISION_SUITE : _PROVISION_SUITE + SUITE_CODE_SIZE])
        counter = int.from_bytes(payload[_PROVISION_COUNTER : _PROVISION_COUNTER + 8], "big")
        length = payload[_PROVISION_SECRET_LENGTH]
        if not MIN_SECRET <= length <= MAX_SECRET:
            raise MalformedMessage(
                ErrorCode.BAD_PAYLOAD, f"secret must be {MIN_SECRET} to {MAX_SECRET} bytes"
            )
        _need(payload, _PROVISION_SECRET + length, "PROVISION")
        return Provision(suite, payload[_PROVISION_SECRET : _PROVISION_SECRET + length], counter)
    if frame.type == FrameType.RESPOND:
        challenge, pin = _decode_pin_payload(payload, "RESPOND")
        return Respond(challenge, pin)
    if frame.type == FrameType.CHANGE_PIN:
        challenge, pin = _decode_pin_payload(payload, "CHANGE_PIN")
        if not pin:
            raise MalformedMessage(ErrorCode.BAD_PAYLOAD, "CHANGE_PIN needs a new PIN")
        return ChangePin(challenge, pin)
    raise MalformedMessage(ErrorCode.UNKNOWN_COMMAND, f"{_type_name(frame.type)} is not a request")


def decode_reply(frame: Frame) -> Reply:
    """What a host reads: the reply in ``frame``.

    Raises:
        MalformedMessage: the type is not a reply, or the payload breaks its layout.
    """
    payload = frame.payload
    if frame.type == FrameType.READY:
        _need(payload, _READY_SIZE, "READY")
        return Ready(payload[_READY_MAJOR], payload[_READY_MINOR], _mode(payload[_READY_MODE]))
    if frame.type == FrameType.INFO:
        _need(payload, _INFO_BOARD_ID, "INFO")
        length = payload[_INFO_BOARD_ID_LENGTH]
        if length > MAX_BOARD_ID:
            raise MalformedMessage(ErrorCode.BAD_PAYLOAD, "INFO board id is too long")
        _need(payload, _INFO_BOARD_ID + length, "INFO")
        suite_raw = payload[_INFO_SUITE : _INFO_SUITE + SUITE_CODE_SIZE]
        flags = payload[_INFO_FLAGS]
        return Info(
            protocol_major=payload[_INFO_PROTOCOL_MAJOR],
            protocol_minor=payload[_INFO_PROTOCOL_MINOR],
            firmware=(payload[_INFO_FIRMWARE], payload[_INFO_FIRMWARE + 1], payload[_INFO_FIRMWARE + 2]),
            mode=_mode(payload[_INFO_MODE]),
            provisioned=bool(flags & _INFO_FLAG_PROVISIONED),
            locked=bool(flags & _INFO_FLAG_LOCKED),
            capabilities=Capability(
                int.from_bytes(payload[_INFO_CAPABILITIES : _INFO_CAPABILITIES + 2], "big")
            ),
            max_frame=payload[_INFO_MAX_FRAME],
            suite=None if not any(suite_raw) else SuiteCode.from_bytes(suite_raw),
            board_id=_text(payload[_INFO_BOARD_ID : _INFO_BOARD_ID + length], "board id"),
        )
    if frame.type == FrameType.RESULT:
        _need(payload, _RESULT_RESPONSE, "RESULT")
        length = payload[_RESULT_LENGTH]
        _need(payload, _RESULT_RESPONSE + length, "RESULT")
        response = _text(payload[_RESULT_RESPONSE : _RESULT_RESPONSE + length], "response")
        return Result(payload[_RESULT_REQUEST], response)
    if frame.type == FrameType.ERROR:
        _need(payload, _ERROR_MESSAGE, "ERROR")
        raw_code = payload[_ERROR_CODE]
        message = payload[_ERROR_MESSAGE:].decode("ascii", errors="replace")
        return ErrorReply(ErrorCode.parse(raw_code), payload[_ERROR_REQUEST], message, raw_code)
    if frame.type == FrameType.LOG:
        _need(payload, _LOG_TEXT, "LOG")
        level = payload[_LOG_LEVEL]
        known = LogLevel(level) if level in LogLevel._value2member_map_ else LogLevel.INFO
        return LogLine(known, payload[_LOG_TEXT:].decode("ascii", errors="replace"))
    raise MalformedMessage(ErrorCode.UNKNOWN_COMMAND, f"{_type_name(frame.type)} is not a reply")


def _mode(value: int) -> Mode:
    if value not in Mode._value2member_map_:
        raise MalformedMessage(ErrorCode.BAD_PAYLOAD, f"unknown mode {value}")
    return Mode(value)


# --- documentation -----------------------------------------------------------------------------


def describe_markdown() -> str:
    """The reference part of ``firmware-notes/wire-protocol.md``, generated from this module.

    A test compares the file with this text, so the document and the code never drift apart.
    """
    lines = [
        "### Constants",
        "",
        "| name | value | meaning |",
        "|---|---|---|",
        f"| protocol version | {PROTOCOL_MAJOR}.{PROTOCOL_MINOR} | a different major is refused |",
        f"| MAX_FRAME | {MAX_FRAME} | longest encoded frame, delimiter included |",
        f"| MAX_PAYLOAD | {MAX_PAYLOAD} | longest payload |",
        f"| UNSOLICITED_SEQ | {UNSOLICITED_SEQ} | sequence number of READY and LOG |",
        f"| FIRST_SEQ | {FIRST_SEQ} | host sequence numbers run {FIRST_SEQ} to 255, then wrap |",
        f"| READY_TIMEOUT | {READY_TIMEOUT} s | host wait for READY after opening the port |",
        f"| REPLY_TIMEOUT | {REPLY_TIMEOUT} s | host wait for one reply |",
        f"| RETRIES | {RETRIES} | resends of one request, same sequence number |",
        f"| BAUD_RATE | {BAUD_RATE} | 8 data bits, no parity, 1 stop bit |",
        f"| secret | {MIN_SECRET} to {MAX_SECRET} bytes | |",
        f"| PIN | 0 to {MAX_PIN} bytes | |",
        f"| challenge | 4 to {MAX_CHALLENGE} bytes | |",
        "",
        "### Frame types",
        "",
        "| type | name |",
        "|---|---|",
    ]
    lines += [f"| 0x{member.value:02x} | {member.name} |" for member in FrameType]
    for layout in LAYOUTS:
        lines += ["", f"### {layout.frame_type.name} ({layout.direction})", "", layout.summary, ""]
        if not layout.fields:
            lines.append("Empty payload.")
            continue
        lines += ["| offset | size | field | meaning |", "|---|---|---|---|"]
        lines += [f"| {f.offset} | {f.size} | {f.name} | {f.description} |" for f in layout.fields]
    lines += [
        "",
        "### Suite code",
        "",
        "| offset | size | field | meaning |",
        "|---|---|---|---|",
        f"| {_SUITE_HASH} | 1 | hash | HMAC hash: 1 SHA1, 2 SHA256, 3 SHA512 |",
        f"| {_SUITE_DIGITS} | 1 | digits | response digits, 4 to 10 |",
        f"| {_SUITE_QUESTION_FORMAT} | 1 | question_format | ASCII 'N', 'A' or 'H' |",
        f"| {_SUITE_QUESTION_LENGTH} | 1 | question_length | longest challenge, 4 to 64 |",
        f"| {_SUITE_PIN_HASH} | 1 | pin_hash | 0 no PIN, 1 PSHA1, 2 PSHA256, 3 PSHA512 |",
        f"| {_SUITE_FLAGS} | 1 | flags | bit 0: counter C |",
        "",
        "### Modes",
        "",
        "| value | mode |",
        "|---|---|",
    ]
    lines += [f"| {member.value} | {member.name} |" for member in Mode]
    lines += ["", "### Capabilities", "", "| bit | capability |", "|---|---|"]
    lines += [f"| 0x{member.value:04x} | {member.name} |" for member in Capability]
    lines += ["", "### Error codes", "", "| code | name | meaning |", "|---|---|---|"]
    lines += [f"| 0x{member.value:02x} | {member.name} | {_ERROR_MEANINGS[member]} |" for member in ErrorCode]
    lines += ["", "### Log levels", "", "| value | level |", "|---|---|"]
    lines += [f"| {member.value} | {member.name} |" for member in LogLevel]
    return "\n".join(lines) + "\n"
