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

This module holds the ``board`` parser and every subcommand but ``check``, whose cases are in
:mod:`tokensim.server.cli.board_check`.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
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
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind
from tokensim.server.cli.board_check import run_check
from tokensim.server.client import TokensimClient
from tokensim.server.config import SUPPORT_TOKEN_ENV

__all__ = ["register"]

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
    check.set_defaults(handler=run_check)

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
