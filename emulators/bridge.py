"""The serial bridge: a board on a serial port, used as a DSC+ device object.

:func:`connect` opens any :func:`serial.serial_for_url` URL, a flashed board (``/dev/ttyACM0``,
``hwgrep://2341:``), the host build of the reference firmware or a virtual board behind a
pseudo-terminal, or a virtual board over TCP (``socket://localhost:7700``), and returns a
:class:`BoardBridge`, which answers :meth:`BoardBridge.respond` exactly as the emulated
:class:`~tokensim.emulators.devices.dsc_plus.DscPlus` does.

What opening does, in order (``firmware-notes/wire-protocol.md`` has the timings):

1. open the port; an Uno resets when the port opens (DTR), so wait up to ``ready_timeout`` for its
   READY frame. A native-USB board (RP2040) does not reset and its READY went out before anyone
   listened: after the wait, go on without it.
2. HELLO with our protocol version; refuse a board of another major version.

Every read has a timeout. A request that gets no reply within ``reply_timeout`` is sent again with
the same sequence number, after a 0x00 that ends any half frame the board is holding (line noise),
``retries`` times; the board answers a repeated request from its reply cache, so a retry never
computes twice. A port that is missing, busy or fails mid-way raises
:class:`~tokensim.protocol.errors.TransportError` with what to check.

To see the traffic, open the port through pyserial's ``spy://`` wrapper, which hexdumps every byte
both ways: ``connect("spy:///dev/ttyACM0?file=trace.txt")``.

Example:
    >>> bridge = connect("socket://localhost:7700")  # doctest: +SKIP
    >>> response = bridge.respond("123456", "1234")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from types import TracebackType
from typing import Any, Protocol, Self

import serial

from tokensim.protocol import wire
from tokensim.protocol.errors import DeviceLocked, TransportError, TransportTimeout
from tokensim.protocol.framing import Frame, FrameDecoder, FrameType, encode_frame
from tokensim.protocol.ocra import OcraSuite
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind

__all__ = ["BoardBridge", "IncompatibleBoard", "Responder", "SerialPort", "connect"]

logger = logging.getLogger(__name__)

# How long one read call may block; the deadlines above it are what a caller waits for.
_POLL_SECONDS = 0.02


class IncompatibleBoard(TransportError):
    """The board speaks another major version of the board protocol.

    Attributes:
        board_version: the board's (major, minor).
    """

    def __init__(self, board_version: tuple[int, int]) -> None:
        major, minor = board_version
        super().__init__(
            f"the board speaks protocol {major}.{minor}; this tokensim speaks "
            f"{wire.PROTOCOL_MAJOR}.{wire.PROTOCOL_MINOR}: update the firmware or tokensim"
        )
        self.board_version = board_version


class Responder(Protocol):
    """What the bridge and the emulated DSC+ have in common: a serial and a response."""

    @property
    def serial(self) -> str:
        """The device's serial number (a board's id)."""
        ...

    def respond(self, challenge: str, pin: str) -> str:
        """The response to ``challenge`` with ``pin`` folded in."""
        ...


class SerialPort(Protocol):
    """The part of :class:`serial.Serial` the bridge uses, so tests can hand it any port object."""

    timeout: float | None

    def read(self, size: int = 1) -> bytes:
        """Read up to ``size`` bytes, waiting at most ``timeout``."""
        ...

    def write(self, data: bytes) -> int | None:
        """Write bytes."""
        ...

    def flush(self) -> None:
        """Wait until written bytes have left."""
        ...

    def close(self) -> None:
        """Close the port."""
        ...

    @property
    def in_waiting(self) -> int:
        """Bytes ready to read."""
        ...


def _open_port(url: str, baudrate: int) -> SerialPort:
    try:
        port: SerialPort = serial.serial_for_url(
            url,
            baudrate=baudrate,
            timeout=_POLL_SECONDS,
            write_timeout=2.0,
            exclusive=True,
        )
    except serial.SerialException as e:
        text = str(e)
        if "lock" in text or "Resource temporarily unavailable" in text or "busy" in text.lower():
            hint = "the port is busy: close the Arduino serial monitor or any other program using it"
        elif "Permission denied" in text:
            hint = "permission denied: add yourself to the 'dialout' group (then log in again)"
        elif "No such file" in text or "could not open port" in text or "Connection refused" in text:
            hint = "no such port: is the board plugged in and the path right? (tokensim board list-ports)"
        else:
            hint = "could not open the port"
        raise TransportError(f"{url}: {hint} ({text})") from e
    except ValueError as e:
        raise TransportError(f"{url}: not a serial port URL ({e})") from e
    return port


class BoardBridge:
    """A board on a serial line, used like an emulated DSC+.

    Use :func:`connect` to open one; the constructor takes a port already open and runs the handshake.

    Args:
        port: an open port (anything like :class:`serial.Serial`).
        name: how messages name the port.
        ready_timeout: seconds to wait for READY before saying HELLO anyway.
        reply_timeout: seconds to wait for each reply.
        retries: resends of one request before giving up.

    Raises:
        TransportError: the port failed, or the board did not answer HELLO.
        IncompatibleBoard: the board speaks another major protocol version.
    """

    def __init__(
        self,
        port: SerialPort,
        *,
        name: str = "board",
        ready_timeout: float = wire.READY_TIMEOUT,
        reply_timeout: float = wire.REPLY_TIMEOUT,
        retries: int = wire.RETRIES,
    ) -> None:
        if reply_timeout <= 0 or ready_timeout < 0 or retries < 0:
            raise ValueError("timeouts must be positive and retries not negative")
        self._port = port
        self._name = name
        self._reply_timeout = reply_timeout
        self._retries = retries
        self._decoder = FrameDecoder()
        # A random first sequence number: a board that did not reset since the last session must
        # not take our first request for a retry of that session's last one.
        self._seq = secrets.randbelow(255) + wire.FIRST_SEQ
        self.resends = 0
        self.ready: wire.Ready | None = None
        self._info: wire.Info | None = None
        try:
            self.ready = self._wait_ready(ready_timeout)
            self._info = self._hello()
        except BaseException:
            self.close()
            raise

    # --- the device interface -----------------------------------------------------------------

    @property
    def serial(self) -> str:
        """The board's id, its serial number."""
        return self.info().board_id

    @property
    def suite(self) -> OcraSuite | None:
        """The OCRA suite the board holds, or ``None`` before it is provisioned."""
        code = self.info().suite
        return None if code is None else OcraSuite.parse(code.text())

    def info(self, *, refresh: bool = False) -> wire.Info:
        """The board's INFO: versions, mode, capabilities, suite, id.

        Args:
            refresh: ask the board again instead of using the answer to HELLO.
        """
        if refresh or self._info is None:
            reply = self.request(wire.InfoRequest())
            if not isinstance(reply, wire.Info):
                raise TransportError(f"{self._name}: INFO answered with {type(reply).__name__}")
            self._info = reply
        return self._info

    def respond(self, challenge: str, pin: str) -> str:
        """The response to ``challenge`` with ``pin`` folded in, computed by the board.

        Raises:
            BoardRefused: the board refused (not provisioned, bad challenge or PIN for its suite, ...).
            DeviceLocked: the board is locked.
            TransportError: the port failed or the board stopped answering.
        """
        return self._result(wire.Respond(challenge=challenge, pin=pin))

    def change_pin(self, challenge: str, new_pin: str) -> str:
        """The response to the server's PIN-change challenge, computed with the new PIN.

        The board stores nothing: the server checks this response against the new PIN and keeps it.

        Raises:
            BoardRefused: the board refused.
            TransportError: the port failed or the board stopped answering.
        """
        return self._result(wire.ChangePin(challenge=challenge, new_pin=new_pin))

    def provision(self, secret: bytes, suite: str | None = None, *, counter: int = 0) -> None:
        """Store a secret and suite in a board that is in provisioning mode.

        Args:
            secret: 16 to 40 bytes.
            suite: the OCRA suite; the DSC+ suite when ``None``.
            counter: the first counter value for a suite with ``C``.

        Raises:
            BoardRefused: the board is not in provisioning mode (WRONG_MODE), cannot compute the suite,
                or could not store it.
            InvalidParameter: the secret or suite does not fit the protocol.
        """
        text = DEFAULT_SUITES[DeviceKind.DSC_PLUS] if suite is None else suite
        self._result(wire.Provision(suite=wire.SuiteCode.from_suite(text), secret=secret, counter=counter))
        self._info = None

    # --- requests -----------------------------------------------------------------------------

    def new_seq(self) -> int:
        """Take the next sequence number, for a frame built by hand (a conformance check)."""
        self._seq = wire.next_seq(self._seq)
        return self._seq

    def send_frame(self, frame: Frame) -> wire.Reply:
        """Send a frame built by hand, with retries, and return its reply, ERROR included.

        Raises:
            TransportTimeout: no reply after every retry.
            TransportError: the port failed, or the reply is malformed.
        """
        return self._exchange(frame)

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are: noise, broken frames (a conformance check).

        Raises:
            TransportError: the port failed.
        """
        self._write(data)

    def listen(self, seconds: float) -> list[Frame]:
        """Every frame that arrives within ``seconds`` (to check that something got no answer)."""
        deadline = time.monotonic() + seconds
        frames: list[Frame] = []
        while time.monotonic() < deadline:
            frames += self._read_frames(deadline)
        return frames

    def _result(self, message: wire.Request) -> str:
        reply = self.request(message)
        if not isinstance(reply, wire.Result):
            raise TransportError(f"{self._name}: expected RESULT, got {type(reply).__name__}")
        return reply.response

    def request(self, message: wire.Request) -> wire.Reply:
        """Send one request and return its reply; ERROR is raised, never returned.

        Raises:
            BoardRefused: the board answered ERROR.
            DeviceLocked: the board answered ERROR LOCKED.
            TransportTimeout: no reply after every retry.
            TransportError: the port failed.
        """
        frame = wire.encode_message(message, self.new_seq())
        reply = self._exchange(frame)
        if isinstance(reply, wire.ErrorReply):
            if reply.code is wire.ErrorCode.LOCKED:
                raise DeviceLocked(f"{self._name}: the board is locked")
            raise wire.BoardRefused(reply)
        return reply

    def _exchange(self, frame: Frame) -> wire.Reply:
        encoded = encode_frame(frame)
        for attempt in range(self._retries + 1):
            if attempt:
                self.resends += 1
                logger.debug("%s: no reply to seq %d, resending (%d)", self._name, frame.seq, attempt)
                # A 0x00 first ends whatever half frame line noise left in the board's buffer.
                self._write(b"\x00")
            self._write(encoded)
            reply = self._read_reply(frame, time.monotonic() + self._reply_timeout)
            if reply is not None:
                return reply
        raise TransportTimeout(
            f"{self._name}: no reply to {FrameType(frame.type).name} after {self._retries + 1} tries "
            f"of {self._reply_timeout} s: is this a tokensim board, at {wire.BAUD_RATE} baud?"
        )

    def _read_reply(self, request: Frame, deadline: float) -> wire.Reply | None:
        while True:
            for frame in self._read_frames(deadline):
                if frame.type == FrameType.LOG:
                    self._log(frame)
                    continue
                if frame.type == FrameType.READY:
                    # The board reset under us (a brown-out, a reflash): it lost the request, so the
                    # retry resends it.
                    logger.warning("%s: the board restarted during a request", self._name)
                    continue
                if frame.seq != request.seq:
                    logger.debug("%s: dropping a late reply to seq %d", self._name, frame.seq)
                    continue
                try:
                    return wire.decode_reply(frame)
                except wire.MalformedMessage as e:
                    raise TransportError(f"{self._name}: the board sent a malformed reply: {e}") from e
            if time.monotonic() >= deadline:
                return None

    def _read_frames(self, deadline: float) -> list[Frame]:
        """Whatever whole frames arrive before ``deadline`` (maybe none); every read is bounded."""
        while True:
            try:
                waiting = self._port.in_waiting
                data = self._port.read(max(1, min(waiting, 256)))
            except (serial.SerialException, OSError) as e:
                raise TransportError(f"{self._name}: the port failed (unplugged?): {e}") from e
            frames = self._decoder.feed(data) if data else []
            if frames or time.monotonic() >= deadline:
                return frames

    def _write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as e:
            raise TransportError(f"{self._name}: writing to the port failed (unplugged?): {e}") from e

    def _log(self, frame: Frame) -> None:
        try:
            line = wire.decode_reply(frame)
        except wire.MalformedMessage:
            return
        if isinstance(line, wire.LogLine):
            logger.log(10 + 10 * int(line.level), "%s says: %s", self._name, line.text)

    # --- handshake ----------------------------------------------------------------------------

    def _wait_ready(self, timeout: float) -> wire.Ready | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for frame in self._read_frames(deadline):
                if frame.type == FrameType.READY:
                    reply = wire.decode_reply(frame)
                    assert isinstance(reply, wire.Ready)
                    return reply
                if frame.type == FrameType.LOG:
                    self._log(frame)
        logger.debug("%s: no READY within %s s; saying HELLO anyway", self._name, timeout)
        return None

    def _hello(self) -> wire.Info:
        try:
            reply = self.request(wire.Hello())
        except wire.BoardRefused as e:
            if e.code is wire.ErrorCode.VERSION_MISMATCH:
                raise IncompatibleBoard(
                    (self.ready.major, self.ready.minor) if self.ready else (-1, -1)
                ) from e
            raise
        if not isinstance(reply, wire.Info):
            raise TransportError(f"{self._name}: HELLO answered with {type(reply).__name__}")
        if reply.protocol_major != wire.PROTOCOL_MAJOR:
            raise IncompatibleBoard((reply.protocol_major, reply.protocol_minor))
        return reply

    # --- lifetime -----------------------------------------------------------------------------

    @property
    def dropped_frames(self) -> int:
        """Frames from the board dropped as corrupt, oversized or of another version."""
        return self._decoder.dropped

    def close(self) -> None:
        """Close the port."""
        # Closing a port that was unplugged fails; it is closed all the same.
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BoardBridge({self._name!r})"


def connect(
    url: str,
    *,
    baudrate: int = wire.BAUD_RATE,
    ready_timeout: float = wire.READY_TIMEOUT,
    reply_timeout: float = wire.REPLY_TIMEOUT,
    retries: int = wire.RETRIES,
    **kwargs: Any,
) -> BoardBridge:
    """Open a board at ``url`` (anything :func:`serial.serial_for_url` takes) and shake hands.

    Args:
        url: ``/dev/ttyACM0``, ``COM3``, ``socket://host:port``, ``spy:///dev/ttyACM0``, ...
        baudrate: the line speed; native-USB boards ignore it.
        ready_timeout: seconds to wait for READY after opening.
        reply_timeout: seconds to wait for each reply.
        retries: resends of a request before giving up.
        **kwargs: passed to :class:`BoardBridge`.

    Raises:
        TransportError: the port is missing, busy or not a board; the message says what to check.
        IncompatibleBoard: the board speaks another major protocol version.
    """
    port = _open_port(url, baudrate)
    return BoardBridge(
        port, name=url, ready_timeout=ready_timeout, reply_timeout=reply_timeout, retries=retries, **kwargs
    )
