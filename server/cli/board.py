"""``tokensim board``: use a microcontroller board (or a virtual one) as a DSC+.

::

    tokensim board emulate [--pty | --tcp PORT] [--state FILE] [--provisioning]
    tokensim board check URL
    tokensim board enroll URL --user NAME [--server URL] [--support-token-file FILE]
    tokensim board list-ports

``emulate`` serves an emulated card as a board and prints the URL to open on its first line;
``check`` runs the RFC 6287 vectors and the fault cases against any board and prints a pass/fail
table (exit status 1 on any failure); ``enroll`` registers a DSC+ for a user on the server, stores the
fresh random secret the server drew in a board in provisioning mode, and activates it by the board's
own answer. Secrets, PINs and responses are never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType as PyFrame
from typing import Any

from tokensim.emulators.board import BoardDevice, VirtualBoard, serve_pty, serve_tcp
from tokensim.emulators.bridge import BoardBridge, connect
from tokensim.emulators.challenge_response import OcraKeypadDevice
from tokensim.emulators.registry import load
from tokensim.protocol import wire
from tokensim.protocol.errors import InvalidParameter, TokensimError
from tokensim.protocol.framing import Frame, FrameType, crc16
from tokensim.protocol.ocra import QuestionFormat, ocra
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind
from tokensim.protocol.vectors import parse_vectors
from tokensim.server.client import TokensimClient
from tokensim.server.config import SUPPORT_TOKEN_ENV

__all__ = ["register"]

# The published RFC 6287 vectors (a copy of tests/vectors/rfc6287_ocra.txt, shipped as package data
# so an installed tokensim checks a board against the RFC's answers, never against its own).
_VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rfc6287_ocra.txt"
_STATE_FORMAT = "tokensim-virtual-board/1"


# --- emulate ---------------------------------------------------------------------------------------


def _load_state(path: Path | None) -> BoardDevice | None:
    if path is None or not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InvalidParameter(f"{path}: not a virtual board state file ({e})") from e
    if not isinstance(data, dict) or data.get("format") != _STATE_FORMAT:
        raise InvalidParameter(f"{path}: not a virtual board state file")
    device = load(data.get("device"))
    if not isinstance(device, OcraKeypadDevice):
        raise InvalidParameter(f"{path}: a {device.kind} cannot answer challenges")
    return device


def _saver(path: Path | None) -> Callable[[BoardDevice], None] | None:
    if path is None:
        return None

    def save(device: BoardDevice) -> None:
        # The state holds the card's secret, like the EEPROM of a real board: owner-only, and replaced
        # in one rename so a crash never leaves half a file.
        temporary = path.with_name(path.name + ".tmp")
        text = json.dumps({"format": _STATE_FORMAT, "device": device.save()}, indent=1)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)

    return save


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    stop = threading.Event()

    def handler(signum: int, frame: PyFrame | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _run_emulate(args: argparse.Namespace) -> int:
    state: Path | None = args.state
    device = _load_state(state)
    board = VirtualBoard(
        device,
        provisioning_held=args.provisioning,
        board_id=args.board_id,
        kind=DeviceKind(args.kind),
        persistent=state is not None,
        on_change=_saver(state),
    )

    def announce(url: str) -> None:
        # The URL alone on the first line of standard output, for scripts and tests.
        print(url, flush=True)
        what = "nothing stored" if board.device is None else f"{board.info().board_id}"
        print(
            f"virtual {args.kind} board ({what}, {board.mode.name.lower()} mode) at {url}; Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )

    with _stop_on_signals() as stop:
        if args.tcp is not None:
            serve_tcp(
                board,
                port=args.tcp,
                host=args.host,
                on_listen=announce,
                stop=stop,
                boot_delay=args.boot_delay,
            )
        else:
            serve_pty(board, on_path=announce, stop=stop, boot_delay=args.boot_delay)
    return 0


# --- check ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outcome:
    name: str
    status: str  # "pass", "FAIL" or "skip"
    detail: str


@dataclass(frozen=True, slots=True)
class _Vector:
    suite: str
    key: bytes
    question: str
    pin: str
    counter: int
    expected: str


def _read_vectors(path: Path) -> list[_Vector]:
    blocks = parse_vectors(path.read_text(encoding="utf-8"), name=str(path))
    return [
        _Vector(
            suite=b["Suite"],
            key=bytes.fromhex(b["Key"]),
            question=b["Question"],
            pin=b.get("PIN", ""),
            counter=int(b.get("Counter", "0")),
            expected=b["OCRA"],
        )
        for b in blocks
        if b.get("Mode") == "one-way"
    ]


def _board_can(info: wire.Info, suite: str) -> bool:
    try:
        code = wire.SuiteCode.from_suite(suite)
    except InvalidParameter:
        return False
    return info.capabilities.supports(code) and code.question_length <= wire.MAX_CHALLENGE


def _expect_error(bridge: BoardBridge, frame: Frame, code: wire.ErrorCode) -> tuple[bool, str]:
    reply = bridge.send_frame(frame)
    if isinstance(reply, wire.ErrorReply) and reply.code is code:
        return True, f"ERROR {code.name}"
    got = reply.code.name if isinstance(reply, wire.ErrorReply) else type(reply).__name__
    return False, f"expected ERROR {code.name}, got {got}"


def _answered(bridge: BoardBridge) -> tuple[bool, str]:
    reply = bridge.send_frame(wire.encode_message(wire.InfoRequest(), bridge.new_seq()))
    return isinstance(reply, wire.Info), f"answered after {bridge.resends} resend(s) so far"


def _corrupt_frame(seq: int) -> bytes:
    from cobs import cobs

    body = bytes((1, seq, FrameType.INFO, 0))
    bad = (crc16(body) ^ 0x5A5A).to_bytes(2, "big")
    return bytes(cobs.encode(body + bad)) + b"\x00"


def _fault_cases(bridge: BoardBridge) -> Iterator[_Outcome]:
    def case(name: str, run: Callable[[], tuple[bool, str]]) -> _Outcome:
        try:
            ok, detail = run()
        except TokensimError as e:
            ok, detail = False, str(e)
        return _Outcome(name, "pass" if ok else "FAIL", detail)

    yield case(
        "newer major version refused",
        lambda: _expect_error(
            bridge,
            wire.encode_message(wire.Hello(wire.PROTOCOL_MAJOR + 1, 0), bridge.new_seq()),
            wire.ErrorCode.VERSION_MISMATCH,
        ),
    )
    yield case(
        "unknown frame type",
        lambda: _expect_error(bridge, Frame(bridge.new_seq(), 0x42), wire.ErrorCode.UNKNOWN_COMMAND),
    )
    yield case(
        "reply type sent as a request",
        lambda: _expect_error(
            bridge, Frame(bridge.new_seq(), FrameType.RESULT, b"\x05\x00"), wire.ErrorCode.UNKNOWN_COMMAND
        ),
    )
    yield case(
        "payload too short",
        lambda: _expect_error(
            bridge, Frame(bridge.new_seq(), FrameType.RESPOND, b"\x04"), wire.ErrorCode.BAD_PAYLOAD
        ),
    )

    def corrupt() -> tuple[bool, str]:
        seq = bridge.new_seq()
        bridge.send_raw(_corrupt_frame(seq))
        late = [frame for frame in bridge.listen(wire.REPLY_TIMEOUT) if frame.seq == seq]
        if late:
            return False, "a frame with a bad CRC was answered"
        ok, _ = _answered(bridge)
        return ok, "dropped silently; the next request answered"

    yield case("bad CRC dropped", corrupt)

    def noise() -> tuple[bool, str]:
        # Noise with no delimiter glues onto the next frame; the bridge's retry (0x00 first) resyncs.
        bridge.send_raw(bytes(secrets.randbelow(255) + 1 for _ in range(40)))
        before = bridge.resends
        ok, _ = _answered(bridge)
        return ok, f"resynchronised with {bridge.resends - before} resend(s)"

    yield case("line noise, then resync", noise)

    def oversized() -> tuple[bool, str]:
        bridge.send_raw(b"\x55" * 100 + b"\x00")
        ok, _ = _answered(bridge)
        return ok, "dropped; the next request answered"

    yield case("oversized frame dropped", oversized)

    def retry() -> tuple[bool, str]:
        frame = wire.encode_message(wire.InfoRequest(), bridge.new_seq())
        first, second = bridge.send_frame(frame), bridge.send_frame(frame)
        return first == second, "same sequence number, same answer"

    yield case("retry with the same seq", retry)


def _vector_cases(bridge: BoardBridge, vectors: list[_Vector], source: str) -> Iterator[_Outcome]:
    info = bridge.info(refresh=True)
    suites = sorted({v.suite for v in vectors})
    for suite in suites:
        name = f"RFC 6287 {suite}"
        if not _board_can(info, suite):
            yield _Outcome(name, "skip", "the board cannot hold this suite")
            continue
        rows = [v for v in vectors if v.suite == suite]
        if any(len(v.key) > wire.MAX_SECRET for v in rows):
            yield _Outcome(name, "skip", f"its key does not fit a frame (at most {wire.MAX_SECRET} bytes)")
            continue
        failures: list[str] = []
        expected_counter: int | None = None
        key: bytes | None = None
        try:
            for index, vector in enumerate(sorted(rows, key=lambda v: (v.key, v.counter))):
                if key != vector.key or expected_counter != vector.counter:
                    bridge.provision(vector.key, suite, counter=vector.counter)
                    key, expected_counter = vector.key, vector.counter
                got = bridge.respond(vector.question, vector.pin)
                expected_counter = vector.counter + 1 if "C-" in suite else vector.counter
                if got != vector.expected:
                    # Test-vector keys and answers are public: naming them is safe.
                    failures.append(f"#{index} Q={vector.question}: expected {vector.expected}, got {got}")
        except TokensimError as e:
            failures.append(str(e))
        if failures:
            yield _Outcome(name, "FAIL", "; ".join(failures[:2]))
        else:
            yield _Outcome(name, "pass", f"{len(rows)} vectors ({source})")

    counter_suite = "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1"
    if _board_can(info, counter_suite):
        yield _retry_keeps_counter(bridge, counter_suite)
    yield _wrong_length(bridge)


def _retry_keeps_counter(bridge: BoardBridge, suite: str) -> _Outcome:
    name = "retry never advances the counter"
    try:
        key = secrets.token_bytes(32)
        bridge.provision(key, suite, counter=41)
        frame = wire.encode_message(wire.Respond("12345678", "1234"), bridge.new_seq())
        first, again = bridge.send_frame(frame), bridge.send_frame(frame)
        fresh = bridge.respond("12345678", "1234")
    except TokensimError as e:
        return _Outcome(name, "FAIL", str(e))
    ok = (
        isinstance(first, wire.Result)
        and first == again
        and first.response == ocra(suite, key, "12345678", counter=41, pin="1234")
        and fresh == ocra(suite, key, "12345678", counter=42, pin="1234")
    )
    return _Outcome(name, "pass" if ok else "FAIL", "counter 41 twice from the cache, then 42")


def _wrong_length(bridge: BoardBridge) -> _Outcome:
    name = "challenge of the wrong length"
    suite = bridge.suite
    if suite is None or suite.question_format is not QuestionFormat.NUMERIC:
        return _Outcome(name, "skip", "no numeric suite stored")
    frame = wire.encode_message(wire.Respond("1" * (suite.question_length - 1), "1234"), bridge.new_seq())
    try:
        ok, detail = _expect_error(bridge, frame, wire.ErrorCode.BAD_PAYLOAD)
    except TokensimError as e:
        ok, detail = False, str(e)
    return _Outcome(name, "pass" if ok else "FAIL", detail)


def _mode_cases(bridge: BoardBridge) -> Iterator[_Outcome]:
    info = bridge.info(refresh=True)
    name = "PROVISION refused outside provisioning mode"
    if info.mode is wire.Mode.PROVISIONING:
        yield _Outcome(name, "skip", "the board is in provisioning mode; restart it without the jumper")
    else:
        suite = wire.SuiteCode.from_suite(DEFAULT_SUITES[DeviceKind.DSC_PLUS])
        frame = wire.encode_message(wire.Provision(suite, secrets.token_bytes(20)), bridge.new_seq())
        try:
            ok, detail = _expect_error(bridge, frame, wire.ErrorCode.WRONG_MODE)
        except TokensimError as e:
            ok, detail = False, str(e)
        yield _Outcome(name, "pass" if ok else "FAIL", detail)
    if not info.provisioned:
        frame = wire.encode_message(wire.Respond("123456", "1234"), bridge.new_seq())
        ok, detail = _expect_error(bridge, frame, wire.ErrorCode.NOT_PROVISIONED)
        yield _Outcome("RESPOND before provisioning", "pass" if ok else "FAIL", detail)


def _check(bridge: BoardBridge, vectors: list[_Vector], source: str) -> list[_Outcome]:
    info = bridge.info()
    outcomes = [
        _Outcome(
            "handshake",
            "pass",
            f"protocol {info.protocol_major}.{info.protocol_minor}, firmware "
            f"{'.'.join(map(str, info.firmware))}, {info.mode.name.lower()} mode, id {info.board_id!r}",
        )
    ]
    outcomes += _fault_cases(bridge)
    outcomes += _mode_cases(bridge)
    if bridge.info(refresh=True).mode is wire.Mode.PROVISIONING:
        outcomes += _vector_cases(bridge, vectors, source)
    else:
        outcomes.append(_Outcome("RFC 6287 vectors", "skip", "need provisioning mode (they store test keys)"))
        outcomes.append(_wrong_length(bridge))
    return outcomes


def _print_table(outcomes: list[_Outcome]) -> None:
    width = max(len(o.name) for o in outcomes)
    print(f"{'case':<{width}}  result  detail")
    print(f"{'-' * width}  ------  ------")
    for o in outcomes:
        print(f"{o.name:<{width}}  {o.status:<6}  {o.detail}")


def _run_check(args: argparse.Namespace) -> int:
    path: Path = args.vectors if args.vectors is not None else _VECTORS
    try:
        vectors = _read_vectors(path)
    except OSError as e:
        raise InvalidParameter(f"cannot read the vector file {path}: {e.strerror or e}") from e
    source = path.name
    with connect(args.url, ready_timeout=args.ready_timeout) as bridge:
        outcomes = _check(bridge, vectors, source)
        provisioned_by_us = any(o.name.startswith("RFC 6287") and o.status != "skip" for o in outcomes)
    _print_table(outcomes)
    failed = sum(o.status == "FAIL" for o in outcomes)
    passed = sum(o.status == "pass" for o in outcomes)
    print(f"\n{passed} passed, {failed} failed, {len(outcomes) - passed - failed} skipped")
    if provisioned_by_us:
        print("note: the board now holds a public test key; enroll it again before using it to log in")
    return 1 if failed else 0


# --- enroll ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _BoardEnrollment:
    device_id: str
    serial: str
    status: str


def _enroll_board(client: TokensimClient, bridge: BoardBridge, user: str, pin: str) -> _BoardEnrollment:
    """Enroll a DSC+ for ``user`` on the server, store its secret in the board, activate it.

    The server draws the fresh random secret (as a bank issuing a card would); it goes from the
    enrollment reply into the board and nowhere else. The activation challenge is answered by the
    board itself, which proves the secret arrived intact.
    """
    info = bridge.info(refresh=True)
    if info.mode is not wire.Mode.PROVISIONING:
        raise TokensimError(
            "the board is not in provisioning mode: hold its provisioning jumper or button while it boots "
            "(see firmware-notes/README.md)"
        )
    enrollment = client.enroll(user, DeviceKind.DSC_PLUS.value, pin=pin, label=f"board {info.board_id}")
    device_id = enrollment.device.id
    provisioning = enrollment.provisioning
    if provisioning is None:
        raise TokensimError("the server enrolled the device but sent no provisioning")
    try:
        bridge.provision(provisioning.secret, provisioning.suite or DEFAULT_SUITES[DeviceKind.DSC_PLUS])
        challenge = client.start_activation(device_id)
        question = challenge.challenge.question
        if question is None:
            raise TokensimError(f"the activation challenge has no question (mode {challenge.mode})")
        device = client.finish_activation(device_id, challenge.id, bridge.respond(question, pin))
    except TokensimError as e:
        raise TokensimError(
            f"device {device_id} was enrolled on the server but not activated ({e}); "
            "revoke it before retrying"
        ) from e
    return _BoardEnrollment(device_id=device_id, serial=provisioning.serial, status=device.status)


def _read_pin(from_stdin: bool) -> str:
    # The PIN is typed, never an argument (it would land in the shell history and the process list).
    pin = sys.stdin.readline().strip() if from_stdin else getpass.getpass("PIN for the new DSC+ (4 digits): ")
    if len(pin) != 4 or not pin.isdigit():
        raise InvalidParameter("the PIN must be 4 digits")
    return pin


def _run_enroll(args: argparse.Namespace) -> int:
    token = os.environ.get(SUPPORT_TOKEN_ENV)
    if args.support_token_file is not None:
        token = args.support_token_file.read_text(encoding="utf-8").strip()
    if not token:
        print(
            "tokensim: error: the server's support token is needed: "
            f"--support-token-file or ${SUPPORT_TOKEN_ENV}",
            file=sys.stderr,
        )
        return 2
    pin = _read_pin(args.pin_stdin)
    with (
        TokensimClient(args.server, support_token=token) as client,
        connect(args.url, ready_timeout=args.ready_timeout) as bridge,
    ):
        done = _enroll_board(client, bridge, args.user, pin)
    print(
        f"enrolled the board as {args.user}'s DSC+: device {done.device_id}, serial {done.serial}, "
        f"{done.status}; now remove the provisioning jumper and reset the board"
    )
    return 0


# --- list-ports ----------------------------------------------------------------------------------


def _run_list_ports(args: argparse.Namespace) -> int:
    from serial.tools import list_ports

    ports = sorted(list_ports.comports(), key=lambda p: p.device)
    if not ports:
        print("no serial ports found (is the board plugged in?)")
    for port in ports:
        ids = f"{port.vid:04x}:{port.pid:04x}" if port.vid is not None else "-"
        print(f"{port.device}  {ids}  {port.description}")
    return 0


def _suite_kind(text: str) -> str:
    try:
        DeviceKind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"unknown device kind {text!r}") from None
    if DeviceKind(text) not in DEFAULT_SUITES:
        raise argparse.ArgumentTypeError(f"a {text} does not answer challenges")
    return text


def _challenge_kinds() -> list[str]:
    """The device kinds ``board emulate --kind`` accepts: those that answer challenges."""
    return [kind.value for kind in DEFAULT_SUITES]


def register(subparsers: Any) -> None:
    """Add ``tokensim board`` and its subcommands."""
    parser = subparsers.add_parser(
        "board",
        help="use a microcontroller board, or a virtual one, as a DSC+",
        description="Serve an emulated card as a board, check a board, or enroll one. "
        "A board is a serial port (/dev/ttyACM0, COM3) or a pyserial URL (socket://host:port, spy://...).",
    )
    commands = parser.add_subparsers(title="board commands", metavar="COMMAND")
    parser.set_defaults(handler=lambda args: (parser.print_help(), 0)[1])
    ready_help = (
        f"seconds to wait for the board's READY after opening the port (default: {wire.READY_TIMEOUT}); "
        "an Uno resets on open and needs its bootloader's time, a board that never resets gets HELLO after it"
    )

    emulate = commands.add_parser(
        "emulate",
        help="serve an emulated card as a board on a pty or TCP",
        description="Serve an emulated card with the board protocol, as a flashed board would, and print "
        "the URL to open on the first line of standard output. Runs until Ctrl-C or SIGTERM.",
    )
    where = emulate.add_mutually_exclusive_group()
    where.add_argument(
        "--pty", action="store_true", help="serve on a new pseudo-terminal and print its path (the default)"
    )
    where.add_argument(
        "--tcp",
        type=int,
        metavar="PORT",
        help="serve on TCP port PORT instead (0: any free port); default: --pty",
    )
    emulate.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on with --tcp (default: 127.0.0.1, loopback only)",
    )
    emulate.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="keep the board's secret and counter in FILE across restarts, like an EEPROM "
        "(default: none, nothing kept)",
    )
    emulate.add_argument(
        "--provisioning",
        action="store_true",
        help="boot with the provisioning jumper held, which allows PROVISION (default: off; a board with "
        "nothing stored is in provisioning mode anyway)",
    )
    kinds = _challenge_kinds()
    emulate.add_argument(
        "--kind",
        type=_suite_kind,
        default="dsc-plus",
        metavar="KIND",
        help=f"the card to emulate, one of {', '.join(kinds)} (default: dsc-plus)",
    )
    emulate.add_argument("--board-id", help="the board id in INFO (default: the card's serial)")
    emulate.add_argument(
        "--boot-delay",
        type=float,
        default=0.05,
        metavar="SECONDS",
        help="seconds from a program opening the port to READY; bytes sent meanwhile are lost, as during "
        "an Uno's bootloader (default: 0.05)",
    )
    emulate.set_defaults(handler=_run_emulate)

    check = commands.add_parser(
        "check",
        help="run the vectors and fault cases against a board",
        description="Run the RFC 6287 vectors (in provisioning mode: they store public test keys) and the "
        "fault cases against a board and print a pass/fail table; exit status 1 on any failure.",
    )
    check.add_argument(
        "url", help="the board: a serial port or URL, e.g. /dev/ttyACM0, socket://host:port, spy://..."
    )
    check.add_argument(
        "--vectors",
        type=Path,
        metavar="FILE",
        help="an RFC 6287 vector file in tokensim's format (default: the RFC 6287 Appendix C file shipped "
        "with tokensim)",
    )
    check.add_argument(
        "--ready-timeout", type=float, default=wire.READY_TIMEOUT, metavar="SECONDS", help=ready_help
    )
    check.set_defaults(handler=_run_check)

    enroll = commands.add_parser(
        "enroll",
        help="store a fresh secret in a board and register it",
        description="Enroll a DSC+ for a user on the server, store the fresh random secret the server drew "
        "in a board in provisioning mode, and activate it by the board's own answer. Asks for the new "
        "4-digit PIN; the secret is never shown.",
    )
    enroll.add_argument("url", help="the board: a serial port or URL, e.g. /dev/ttyACM0, socket://host:port")
    enroll.add_argument("--user", required=True, help="the user who gets the board as a DSC+ (required)")
    enroll.add_argument(
        "--server",
        default="http://127.0.0.1:8000",
        help="the tokensim server (default: http://127.0.0.1:8000)",
    )
    enroll.add_argument(
        "--support-token-file",
        type=Path,
        metavar="FILE",
        help=f"a file holding the server's support token (default: ${SUPPORT_TOKEN_ENV})",
    )
    enroll.add_argument(
        "--pin-stdin",
        action="store_true",
        help="read the PIN from standard input instead of a prompt (default: off, a prompt)",
    )
    enroll.add_argument(
        "--ready-timeout", type=float, default=wire.READY_TIMEOUT, metavar="SECONDS", help=ready_help
    )
    enroll.set_defaults(handler=_run_enroll)

    ports = commands.add_parser(
        "list-ports",
        help="list serial ports with their USB ids",
        description="List the serial ports with their USB vendor:product ids; takes no arguments.",
    )
    ports.set_defaults(handler=_run_list_ports)
