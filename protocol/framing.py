"""Frames for byte streams: serial lines, pseudo-terminals, TCP.

A frame before encoding is::

    offset  size  field
    0       1     version      (FRAME_VERSION)
    1       1     sequence     (0-255, wraps; a retry repeats it)
    2       1     type         (FrameType)
    3       1     length       (bytes of payload, at most MAX_PAYLOAD)
    4       len   payload
    4+len   2     CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over bytes 0..3+len, big-endian

It is then COBS-encoded (no zero byte remains) and ends with one 0x00 delimiter. The whole encoded
frame, delimiter included, is at most MAX_FRAME = 64 bytes, the receive buffer of the smallest board
we support, so a slow board never overflows mid-frame.

Reading is forgiving and exact: :class:`FrameDecoder` takes bytes as they come, returns whole valid
frames, and drops (and counts) anything oversized, corrupt or of another version. After garbage it
resynchronises at the next 0x00. A frame with a bad CRC is never delivered.

Example:
    >>> wire = encode_frame(Frame(seq=1, type=FrameType.HELLO, payload=b"\\x01\\x00"))
    >>> FrameDecoder().feed(b"noise\\x00" + wire)
    [Frame(seq=1, type=<FrameType.HELLO: 1>, payload=b'\\x01\\x00', version=1)]
"""

from __future__ import annotations

import binascii
import enum
from dataclasses import dataclass

from cobs import cobs

from tokensim.protocol.errors import CorruptFrame, FrameTooLarge, InvalidParameter, UnsupportedVersion

__all__ = [
    "FRAME_VERSION",
    "HEADER_SIZE",
    "MAX_FRAME",
    "MAX_PAYLOAD",
    "Frame",
    "FrameDecoder",
    "FrameType",
    "ReplyCache",
    "crc16",
    "decode_frame",
    "encode_frame",
]

FRAME_VERSION = 1
HEADER_SIZE = 4
_CRC_SIZE = 2
#: Longest encoded frame, delimiter included.
MAX_FRAME = 64
#: Longest payload: MAX_FRAME minus the delimiter, one COBS overhead byte, the header and the CRC.
MAX_PAYLOAD = MAX_FRAME - 1 - 1 - HEADER_SIZE - _CRC_SIZE


class FrameType(enum.IntEnum):
    """What a frame carries. The values are wire values: never renumber one."""

    HELLO = 0x01
    READY = 0x02
    INFO = 0x03
    PROVISION = 0x04
    RESPOND = 0x05
    CHANGE_PIN = 0x06
    RESULT = 0x07
    ERROR = 0x08
    LOG = 0x09


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: ``crc16(b"123456789") == 0x29B1``."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame.

    Attributes:
        seq: sequence number, 0 to 255.
        type: a :class:`FrameType`, or any byte for types this side does not know.
        payload: at most :data:`MAX_PAYLOAD` bytes.
        version: the frame format version.
    """

    seq: int
    type: int
    payload: bytes = b""
    version: int = FRAME_VERSION

    def __post_init__(self) -> None:
        for name, value in (("seq", self.seq), ("type", self.type), ("version", self.version)):
            if not 0 <= value <= 255:
                raise InvalidParameter(f"frame {name} must be a byte, got {value}")
        if len(self.payload) > MAX_PAYLOAD:
            raise InvalidParameter(f"frame payload is {len(self.payload)} bytes; at most {MAX_PAYLOAD}")


def encode_frame(frame: Frame) -> bytes:
    """Return the frame as it goes on the wire: COBS-encoded, ending in 0x00."""
    body = bytes((frame.version, frame.seq, frame.type, len(frame.payload))) + frame.payload
    raw = body + crc16(body).to_bytes(2, "big")
    return bytes(cobs.encode(raw)) + b"\x00"


def decode_frame(encoded: bytes, *, version: int = FRAME_VERSION) -> Frame:
    """Decode one frame's bytes, without the 0x00 delimiter.

    Raises:
        FrameTooLarge: more than MAX_FRAME - 1 bytes.
        CorruptFrame: COBS, length or CRC check failed.
        UnsupportedVersion: the version byte is not ``version``.
    """
    if len(encoded) > MAX_FRAME - 1:
        raise FrameTooLarge(f"frame of {len(encoded)} bytes; at most {MAX_FRAME - 1} before the delimiter")
    try:
        raw = bytes(cobs.decode(encoded))
    except cobs.DecodeError as e:
        raise CorruptFrame(f"COBS decoding failed: {e}") from e
    if len(raw) < HEADER_SIZE + _CRC_SIZE:
        raise CorruptFrame(f"frame of {len(raw)} bytes is shorter than a header and a CRC")
    body, received = raw[:-_CRC_SIZE], int.from_bytes(raw[-_CRC_SIZE:], "big")
    if crc16(body) != received:
        raise CorruptFrame("CRC-16 mismatch")
    if body[3] != len(body) - HEADER_SIZE:
        raise CorruptFrame(f"length field says {body[3]} bytes, frame holds {len(body) - HEADER_SIZE}")
    if body[0] != version:
        raise UnsupportedVersion(body[0])
    kind = body[2]
    known = FrameType(kind) if kind in FrameType._value2member_map_ else kind
    return Frame(seq=body[1], type=known, payload=body[HEADER_SIZE:], version=body[0])


class FrameDecoder:
    """Turns a byte stream into frames, dropping and counting whatever is not a valid frame.

    ``feed`` never raises for bad input: a stream from a noisy line is normal, not exceptional.
    The counters and ``last_error`` say what was dropped and why.

    Attributes:
        frames: frames delivered.
        dropped_oversize: frames dropped for growing past MAX_FRAME.
        dropped_corrupt: frames dropped for COBS, length or CRC failure.
        dropped_version: frames dropped for carrying another version.
        last_error: the last error that caused a drop, or ``None``.
    """

    def __init__(self, *, version: int = FRAME_VERSION) -> None:
        self._version = version
        self._buffer = bytearray()
        self._skipping = False
        self.frames = 0
        self.dropped_oversize = 0
        self.dropped_corrupt = 0
        self.dropped_version = 0
        self.last_error: Exception | None = None

    @property
    def dropped(self) -> int:
        """Frames dropped for any reason."""
        return self.dropped_oversize + self.dropped_corrupt + self.dropped_version

    def reset(self) -> None:
        """Forget any partial frame (the counters stay)."""
        self._buffer.clear()
        self._skipping = False

    def feed(self, data: bytes) -> list[Frame]:
        """Take the next bytes of the stream; return the whole valid frames they complete."""
        out: list[Frame] = []
        for byte in data:
            if byte != 0:
                if self._skipping:
                    continue
                self._buffer.append(byte)
                if len(self._buffer) > MAX_FRAME - 1:
                    self.dropped_oversize += 1
                    self.last_error = FrameTooLarge("frame grew past the maximum before its delimiter")
                    self._buffer.clear()
                    self._skipping = True
                continue
            # A delimiter: end of a frame, of an oversized run, or an empty gap (used to resync).
            if self._skipping:
                self._skipping = False
                continue
            if not self._buffer:
                continue
            chunk = bytes(self._buffer)
            self._buffer.clear()
            try:
                out.append(decode_frame(chunk, version=self._version))
                self.frames += 1
            except UnsupportedVersion as e:
                self.dropped_version += 1
                self.last_error = e
            except CorruptFrame as e:
                self.dropped_corrupt += 1
                self.last_error = e
        return out


class ReplyCache:
    """Remembers the last reply so a retried request gets it again instead of a second computation.

    A host that times out resends the same frame with the same sequence number. Answering that
    from the cache means a retry never advances a counter or a wrong-PIN count twice.
    """

    def __init__(self) -> None:
        self._request: Frame | None = None
        self._reply: Frame | None = None

    def lookup(self, request: Frame) -> Frame | None:
        """The cached reply if ``request`` repeats the last request exactly, else ``None``."""
        if self._request is not None and self._request == request:
            return self._reply
        return None

    def store(self, request: Frame, reply: Frame) -> None:
        """Remember ``reply`` as the answer to ``request``."""
        self._request = request
        self._reply = reply

    def clear(self) -> None:
        """Forget the cached exchange (after a reset or a new session)."""
        self._request = None
        self._reply = None
