"""The virtual board: an emulated device behind the board protocol, on a pseudo-terminal or TCP.

:class:`VirtualBoard` is the board's logic, bytes in and bytes out, exactly as the reference firmware's
``tsim_device.c`` behaves: the same frames, READY at boot, the same answers and error codes in the
same order of checks, and a :class:`~tokensim.protocol.framing.ReplyCache` so a retried request is
never computed twice. :func:`serve_pty` and :func:`serve_tcp` put it on a port, so the serial bridge
cannot tell it from a flashed board:

* On a pseudo-terminal it behaves like an Uno: opening the port resets it (its decoder and reply
  cache are cleared, the stored state is reloaded), it "boots" for ``boot_delay`` seconds, losing what
  arrives meanwhile, and then sends READY.
* Over TCP every new connection is such a reset; one client at a time, as on a serial line.

The device is any emulator with ``respond(challenge, pin)`` (the DSC+, Gold, Platinum cards). A board
without a device, or one started with the provisioning jumper "held", is in provisioning mode and
accepts PROVISION, which makes a new device of the same kind (a DSC+ by default) from the secret.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
import tty
from collections.abc import Callable
from typing import Any, Protocol, assert_never

from tokensim.emulators.challenge_response import OcraKeypadDevice
from tokensim.emulators.registry import create, load
from tokensim.protocol import wire
from tokensim.protocol.errors import InvalidParameter, TokensimError
from tokensim.protocol.framing import MAX_FRAME, Frame, FrameDecoder, FrameType, ReplyCache, encode_frame
from tokensim.protocol.ocra import OcraSuite
from tokensim.protocol.provisioning import DeviceKind, Provisioning

__all__ = [
    "BOARD_CAPABILITIES",
    "FIRMWARE_VERSION",
    "BoardDevice",
    "VirtualBoard",
    "serve_pty",
    "serve_tcp",
]

logger = logging.getLogger(__name__)

#: The virtual board's firmware version in INFO.
FIRMWARE_VERSION = (1, 0, 0)

#: What an emulated card computes: every OCRA hash, a counter, numeric challenges.
BOARD_CAPABILITIES = (
    wire.Capability.HMAC_SHA1
    | wire.Capability.HMAC_SHA256
    | wire.Capability.HMAC_SHA512
    | wire.Capability.COUNTER
    | wire.Capability.PIN_SHA1
    | wire.Capability.PIN_SHA256
    | wire.Capability.PIN_SHA512
    | wire.Capability.QUESTION_NUMERIC
    | wire.Capability.LOG
)


class BoardDevice(Protocol):
    """What a virtual board needs of the emulator it serves."""

    @property
    def serial(self) -> str:
        """The device's serial number."""
        ...

    @property
    def suite(self) -> OcraSuite:
        """Its OCRA suite."""
        ...

    @property
    def provisioning(self) -> Provisioning:
        """What it was enrolled with."""
        ...

    def respond(self, challenge: str, pin: str) -> str:
        """The response to ``challenge`` with ``pin`` folded in."""
        ...

    def save(self) -> dict[str, Any]:
        """Its whole state as JSON."""
        ...


class VirtualBoard:
    """The logic of a board serving an emulated device; no I/O.

    Args:
        device: the emulator, or ``None`` for a board with nothing stored yet.
        provisioning_held: the provisioning jumper is held at boot (PROVISION allowed).
        board_id: the id in INFO; the device's serial when ``None``.
        kind: the kind of device PROVISION makes when there is no device yet.
        persistent: whether the state survives a restart (the PERSISTENT capability).
        on_change: called with the device whenever its stored state changed (provisioned, counter
            moved), to save it.
    """

    def __init__(
        self,
        device: BoardDevice | None = None,
        *,
        provisioning_held: bool = False,
        board_id: str | None = None,
        kind: DeviceKind = DeviceKind.DSC_PLUS,
        persistent: bool = False,
        on_change: Callable[[BoardDevice], None] | None = None,
    ) -> None:
        self._device = device
        self._held = provisioning_held
        self._board_id = board_id
        self._kind = DeviceKind(device.provisioning.kind) if device is not None else kind
        self._capabilities = BOARD_CAPABILITIES | (wire.Capability.PERSISTENT if persistent else 0)
        self._on_change = on_change
        self._decoder = FrameDecoder()
        self._cache = ReplyCache()
        self.mode = self._boot_mode()

    @property
    def device(self) -> BoardDevice | None:
        """The emulator the board serves, ``None`` before it is provisioned."""
        return self._device

    @property
    def dropped(self) -> int:
        """Frames dropped since the board was made (corrupt, oversized, other version)."""
        return self._decoder.dropped

    def _boot_mode(self) -> wire.Mode:
        if self._held or self._device is None:
            return wire.Mode.PROVISIONING
        return wire.Mode.OPERATIONAL

    def boot(self) -> bytes:
        """Reset (as on opening the port) and return the READY frame to send."""
        self._decoder.reset()
        self._cache.clear()
        self.mode = self._boot_mode()
        ready = wire.Ready(wire.PROTOCOL_MAJOR, wire.PROTOCOL_MINOR, self.mode)
        return encode_frame(wire.encode_message(ready, wire.UNSOLICITED_SEQ))

    def feed(self, data: bytes) -> bytes:
        """Take received bytes; return the encoded replies to the requests they complete."""
        out = bytearray()
        for frame in self._decoder.feed(data):
            cached = self._cache.lookup(frame)
            if cached is not None:
                out += encode_frame(cached)
                continue
            reply = wire.encode_message(self._answer(frame), frame.seq)
            self._cache.store(frame, reply)
            out += encode_frame(reply)
        return bytes(out)

    def info(self) -> wire.Info:
        """The board's INFO."""
        suite: wire.SuiteCode | None = None
        if self._device is not None:
            try:
                suite = wire.SuiteCode.from_suite(self._device.suite)
            except InvalidParameter:
                suite = None  # a suite with a time input has no code; INFO then shows none
        board_id = self._board_id or (self._device.serial if self._device is not None else "virtual")
        return wire.Info(
            protocol_major=wire.PROTOCOL_MAJOR,
            protocol_minor=wire.PROTOCOL_MINOR,
            firmware=FIRMWARE_VERSION,
            mode=self.mode,
            provisioned=self._device is not None,
            locked=False,
            capabilities=self._capabilities,
            max_frame=MAX_FRAME,
            suite=suite,
            board_id=board_id[: wire.MAX_BOARD_ID],
        )

    def _answer(self, frame: Frame) -> wire.Reply:
        # The order of the checks is the reference firmware's, so both refuse alike.
        if frame.type == FrameType.PROVISION and self.mode is not wire.Mode.PROVISIONING:
            return wire.ErrorReply(
                wire.ErrorCode.WRONG_MODE, frame.type, "hold the provisioning jumper at boot"
            )
        try:
            request = wire.decode_request(frame)
        except wire.MalformedMessage as e:
            return wire.ErrorReply(e.code, frame.type, _short(e))
        match request:
            case wire.Hello(major, _minor):
                if major != wire.PROTOCOL_MAJOR:
                    return wire.ErrorReply(
                        wire.ErrorCode.VERSION_MISMATCH,
                        frame.type,
                        f"board speaks protocol {wire.PROTOCOL_MAJOR}",
                    )
                return self.info()
            case wire.InfoRequest():
                return self.info()
            case wire.Provision():
                return self._provision(request)
            case wire.Respond(challenge, pin) | wire.ChangePin(challenge, pin):
                return self._respond(frame.type, challenge, pin)
            case _:
                assert_never(request)

    def _provision(self, request: wire.Provision) -> wire.Reply:
        code = request.suite
        if not self._capabilities.supports(code) or code.question_length > wire.MAX_CHALLENGE:
            return wire.ErrorReply(wire.ErrorCode.UNSUPPORTED_SUITE, FrameType.PROVISION, "suite")
        provisioning = Provisioning(
            kind=self._kind,
            serial=self._board_id or "virtual",
            secret=request.secret,
            suite=code.text(),
        )
        try:
            device = create(provisioning)
            if request.counter:
                # A fresh card's counter is 0; a restored state sets another first value.
                saved = device.save()
                saved["state"]["counter"] = request.counter
                device = load(saved)
        except TokensimError as e:
            return wire.ErrorReply(wire.ErrorCode.UNSUPPORTED_SUITE, FrameType.PROVISION, _short(e))
        if not isinstance(device, OcraKeypadDevice):
            return wire.ErrorReply(wire.ErrorCode.UNSUPPORTED_SUITE, FrameType.PROVISION, "no responses")
        self._device = device
        if self._on_change is not None:
            self._on_change(device)
        return wire.Result(FrameType.PROVISION)

    def _respond(self, request: int, challenge: str, pin: str) -> wire.Reply:
        if self._device is None:
            return wire.ErrorReply(wire.ErrorCode.NOT_PROVISIONED, request, "")
        try:
            response = self._device.respond(challenge, pin)
        except InvalidParameter:
            return wire.ErrorReply(wire.ErrorCode.BAD_PAYLOAD, request, "challenge or PIN against the suite")
        if self._device.suite.counter and self._on_change is not None:
            self._on_change(self._device)
        return wire.Result(request, response)


def _short(error: Exception) -> str:
    """An error's text as it fits an ERROR frame: ASCII, at most 40 characters."""
    return str(error).encode("ascii", "replace").decode("ascii")[:40]


def _drain(fd: int) -> None:
    while select.select([fd], [], [], 0)[0]:
        try:
            if not os.read(fd, 4096):
                return
        except OSError:
            return


def serve_pty(
    board: VirtualBoard,
    *,
    on_path: Callable[[str], None],
    stop: threading.Event,
    boot_delay: float = 0.05,
) -> None:
    """Serve ``board`` on a new pseudo-terminal until ``stop`` is set.

    Args:
        board: the board.
        on_path: called once with the path a program opens (``/dev/pts/N``).
        stop: set it to return.
        boot_delay: seconds between an open of the port and READY; bytes arriving meanwhile are lost,
            as during an Uno's bootloader.
    """
    master, slave = os.openpty()
    try:
        # Raw mode, so the line discipline never echoes or rewrites a byte; then close our end of
        # the slave, so the master sees a hang-up until a program opens the port (the "reset").
        tty.setraw(slave)
        path = os.ttyname(slave)
        os.close(slave)
        on_path(path)
        poller = select.poll()
        poller.register(master, select.POLLIN)
        connected = False
        while not stop.is_set():
            events = poller.poll(100)
            flags = events[0][1] if events else 0
            if flags & select.POLLHUP:
                if connected:
                    logger.debug("port closed")
                connected = False
                time.sleep(0.01)
                continue
            if not connected:
                connected = True
                time.sleep(boot_delay)
                _drain(master)
                os.write(master, board.boot())
                continue
            if not flags & select.POLLIN:
                continue
            try:
                data = os.read(master, 4096)
            except OSError:
                connected = False
                continue
            reply = board.feed(data)
            if reply:
                os.write(master, reply)
    finally:
        os.close(master)


def serve_tcp(
    board: VirtualBoard,
    *,
    port: int,
    host: str = "127.0.0.1",
    on_listen: Callable[[str], None],
    stop: threading.Event,
    boot_delay: float = 0.05,
) -> None:
    """Serve ``board`` on TCP until ``stop`` is set: one client at a time, each a fresh boot.

    Args:
        board: the board.
        port: the TCP port; 0 picks a free one.
        host: the address to listen on; the loopback by default (the protocol has no authentication).
        on_listen: called once with the URL for the bridge, ``socket://host:port``.
        stop: set it to return.
        boot_delay: seconds between a connection and READY; pyserial's ``socket://`` discards what
            arrives while it opens, as a serial port loses what a board sends before it is opened.
    """
    with socket.create_server((host, port)) as server:
        server.settimeout(0.1)
        bound_host, bound_port = server.getsockname()[:2]
        on_listen(f"socket://{bound_host}:{bound_port}")
        while not stop.is_set():
            try:
                client, _address = server.accept()
            except TimeoutError:
                continue
            with client:
                client.settimeout(0.1)
                time.sleep(boot_delay)
                client.sendall(board.boot())
                while not stop.is_set():
                    try:
                        data = client.recv(4096)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    reply = board.feed(data)
                    if reply:
                        client.sendall(reply)
