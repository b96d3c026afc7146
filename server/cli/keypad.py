"""``tokensim keypad``: the QA keypad (:mod:`tokensim.emulators.keypad`) wired to a running server.

This harness module is the server's side of the keypad: :class:`ClientBackend` keeps the promises of
:class:`~tokensim.emulators.keypad.backend.PortalBackend` with the typed API client, so the keypad
itself never imports the server. It also registers the command::

    $ tokensim keypad                                  # devices from the default state file
    $ tokensim keypad --add data/demo/demo-dsc-plus.device.json --phone +15550100008
    $ tokensim keypad --server http://127.0.0.1:8000 --state qa.json
    $ tokensim keypad --serve --port 8001              # the same app in a browser (textual-serve)

Reading the carrier outbox (the phone's messages) needs the support token: ``$TOKENSIM_SUPPORT_TOKEN``
or the server's token file (``--support-token-file``, by default the one ``tokensim serve`` uses).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import httpx

from tokensim.emulators import load
from tokensim.emulators.devices.phone import Phone
from tokensim.emulators.keypad import (
    DEFAULT_SERVER_URL,
    STATE_ENV,
    BackendError,
    CarrierMessage,
    Connection,
    DeviceChoice,
    DeviceStore,
    KeypadApp,
    LoginResult,
    LoginStart,
    default_state_path,
)
from tokensim.emulators.keypad.account import AccountDevice, NewDevice
from tokensim.emulators.keypad.backend import IssuedChallenge
from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.messages import PushDecision, PushRequest, Response
from tokensim.protocol.phone_auth import RequestAuth
from tokensim.protocol.provisioning import DeviceKind, IbKeyActivation, Provisioning
from tokensim.server.client import ProblemError, TokensimClient
from tokensim.server.config import ServerConfig
from tokensim.server.core import load_support_token
from tokensim.server.views import ChallengeView

__all__ = ["DEFAULT_SERVE_PORT", "ClientBackend", "add_devices", "register"]

_T = TypeVar("_T")

#: Where ``--serve`` listens by default (the server itself takes 8000).
DEFAULT_SERVE_PORT = 8001


def _problem(e: Exception) -> BackendError:
    if isinstance(e, ProblemError):
        message = e.detail or e.code
        left = e.body.get("attempts_remaining")
        attempts = left if isinstance(left, int) and not isinstance(left, bool) else None
        if attempts is not None:
            message += f" ({attempts} attempt{'s' if attempts != 1 else ''} left before the device locks)"
        if e.retry_after is not None:
            message += f"; try again in {math.ceil(e.retry_after)} s"
        return BackendError(message, retry_after=e.retry_after, attempts_remaining=attempts)
    return BackendError(f"the server cannot be reached ({type(e).__name__})")


class ClientBackend:
    """The keypad's backend over :class:`~tokensim.server.client.TokensimClient`.

    Args:
        client: the API client; it needs the support token for :meth:`outbox`.
        url: the server's URL, as the portal shows it.
    """

    def __init__(self, client: TokensimClient, url: str) -> None:
        self._client = client
        self._url = url

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self._url

    def start_login(self, username: str, password: str) -> LoginStart:
        """Check the password; see :meth:`PortalBackend.start_login`."""
        try:
            started = self._client.login(username, password)
        except (ProblemError, httpx.HTTPError) as e:
            raise _problem(e) from e
        choices = tuple(
            DeviceChoice(device.id, device.kind, device.label or f"{device.kind} {device.serial}")
            for device in started.devices
        )
        return LoginStart(started.login_id, started.username, choices)

    def challenge(self, login_id: str, device_id: str, *, mode: str | None = None) -> IssuedChallenge:
        """A challenge for the chosen device; see :meth:`PortalBackend.challenge`."""
        try:
            view = self._client.challenge(login_id, device_id, mode=mode)
        except (ProblemError, httpx.HTTPError) as e:
            raise _problem(e) from e
        return IssuedChallenge(view.challenge, view.mode, view.qr, view.sent_to)

    def _answer(self, login_id: str, challenge_id: str, answer: str | None) -> LoginResult:
        grant = self._client.answer(login_id, challenge_id, answer)
        return LoginResult(grant.username, tuple(grant.scope), grant.device_kind, token=grant.token)

    def answer(self, login_id: str, response: Response) -> LoginResult:
        """Answer by typing; see :meth:`PortalBackend.answer`."""
        try:
            return self._answer(login_id, response.challenge_id, response.answer)
        except (ProblemError, httpx.HTTPError) as e:
            raise _problem(e) from e

    def push_result(self, login_id: str, challenge_id: str) -> LoginResult | None:
        """The login once approved, ``None`` while it waits; see :meth:`PortalBackend.push_result`."""
        try:
            return self._answer(login_id, challenge_id, None)
        except ProblemError as e:
            if e.code == "push-pending":
                return None
            raise _problem(e) from e
        except httpx.HTTPError as e:
            raise _problem(e) from e

    def outbox(self, number: str, *, after: int = 0) -> Sequence[CarrierMessage]:
        """The carrier's messages to ``number``; see :meth:`PortalBackend.outbox`."""
        try:
            entries = self._client.outbox(to=number, after=after, limit=1000)
        except (ProblemError, httpx.HTTPError) as e:
            raise _problem(e) from e
        return [CarrierMessage(m.seq, m.id, m.to, m.channel, m.sender, m.text, m.sent_at) for m in entries]

    def pending_pushes(self, username: str, key_id: str, auth: RequestAuth) -> Sequence[PushRequest]:
        """The requests waiting for a registration; see :meth:`PortalBackend.pending_pushes`."""
        try:
            return self._client.push_requests(key_id, auth)
        except (ProblemError, httpx.HTTPError) as e:
            raise _problem(e) from e

    def decide_push(self, decision: PushDecision, auth: RequestAuth) -> None:
        """Send a signed decision; see :meth:`PortalBackend.decide_push`."""
        try:
            self._client.decide(decision, auth)
        except (ProblemError, httpx.HTTPError) as e:
            raise _problem(e) from e

    def activate_ib_key(self, activation: IbKeyActivation) -> Provisioning:
        """Activate an IB Key registration; see :meth:`PortalBackend.activate_ib_key`."""
        try:
            return self._client.activate_ib_key(activation)
        except (ProblemError, httpx.HTTPError) as e:
            raise _problem(e) from e

    # The account pane's calls (AccountBackend).

    def _call(self, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except (ProblemError, httpx.HTTPError) as e:
            raise _problem(e) from e

    @staticmethod
    def _issued(view: ChallengeView) -> IssuedChallenge:
        return IssuedChallenge(view.challenge, view.mode, view.qr, view.sent_to)

    def logout(self, token: str) -> None:
        """End the session; see :meth:`AccountBackend.logout`."""
        self._call(lambda: self._client.logout(token))

    def devices(self, username: str) -> Sequence[AccountDevice]:
        """The user's devices of every status (support's view: needs the support token)."""
        user = self._call(lambda: self._client.user(username))
        return [AccountDevice(d.id, d.kind, d.serial, d.status) for d in user.devices]

    def step_up(self, token: str, device_id: str, action: str) -> IssuedChallenge:
        """A step-up challenge; see :meth:`AccountBackend.step_up`."""
        return self._issued(self._call(lambda: self._client.step_up(token, device_id, action)))

    def withdraw(self, token: str, amount_usd: str, challenge_id: str | None, answer: str | None) -> str:
        """Withdraw; see :meth:`AccountBackend.withdraw`."""
        receipt = self._call(
            lambda: self._client.withdraw(token, amount_usd, challenge_id=challenge_id, answer=answer)
        )
        left = receipt.remaining.remaining_day_usd
        today = "no daily limit" if left is None else f"{left} USD left today"
        return f"withdrew {receipt.amount_usd} USD (authorised by {receipt.device_kind}); {today}"

    def online_card(self, token: str) -> NewDevice:
        """Issue an online card; see :meth:`AccountBackend.online_card`."""
        enrollment = self._call(lambda: self._client.online_card(token))
        if enrollment.provisioning is None:
            raise BackendError("the server issued an online card without its cells")
        return NewDevice(enrollment.device.id, enrollment.provisioning)

    def activate(self, token: str, device_id: str) -> IssuedChallenge:
        """An activation challenge; see :meth:`AccountBackend.activate`."""
        return self._issued(self._call(lambda: self._client.activate(token, device_id)))

    def activate_answer(self, token: str, device_id: str, challenge_id: str, answer: str) -> str:
        """Answer an activation challenge; see :meth:`AccountBackend.activate_answer`."""
        return self._call(lambda: self._client.activate_answer(token, device_id, challenge_id, answer)).status

    def change_pin(self, token: str, device_id: str, new_pin: str) -> IssuedChallenge:
        """A PIN-change challenge; see :meth:`AccountBackend.change_pin`."""
        return self._issued(self._call(lambda: self._client.change_pin(token, device_id, new_pin)))

    def change_pin_current(
        self, token: str, device_id: str, challenge_id: str, answer: str
    ) -> IssuedChallenge:
        """Answer with the current PIN; see :meth:`AccountBackend.change_pin_current`."""
        return self._issued(
            self._call(lambda: self._client.change_pin_current(token, device_id, challenge_id, answer))
        )

    def change_pin_answer(self, token: str, device_id: str, challenge_id: str, answer: str) -> str:
        """Answer it with the new PIN; see :meth:`AccountBackend.change_pin_answer`."""
        view = self._call(lambda: self._client.change_pin_answer(token, device_id, challenge_id, answer))
        return view.status

    def ib_key_pin_change(self, username: str, password: str, registration: str) -> str:
        """Ask for an IB Key PIN change; see :meth:`AccountBackend.ib_key_pin_change`."""
        return self._call(lambda: self._client.ib_key_pin_change(username, password, registration)).device.id

    def ib_key_pin_change_answer(self, device_id: str, code: str) -> None:
        """Send the texted code; see :meth:`AccountBackend.ib_key_pin_change_answer`."""
        self._call(lambda: self._client.ib_key_pin_change_answer(device_id, code))


def add_devices(store: DeviceStore, device_files: Sequence[Path], phones: Sequence[str]) -> int:
    """Add saved devices (``Device.save()`` JSON files, as ``tokensim serve --demo`` writes) and phones.

    A device already in the store (same kind and serial) is left as it is.

    Returns:
        How many were added.

    Raises:
        InvalidParameter: a file cannot be read or is not a saved device.
    """
    known = {(d.kind, d.serial) for d in store.devices}
    added = 0
    for path in device_files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise InvalidParameter(f"{path}: not a saved device ({type(e).__name__})") from e
        device = load(data)
        if (device.kind, device.serial) not in known:
            store.add(device)
            known.add((device.kind, device.serial))
            added += 1
    for number in phones:
        serial = f"handset-{number}"
        if (DeviceKind.PHONE.value, serial) not in known:
            store.add(Phone(Provisioning(kind=DeviceKind.PHONE, serial=serial, number=number)))
            known.add((DeviceKind.PHONE.value, serial))
            added += 1
    return added


def _connect(token_file: Path) -> Connection:
    def connect(url: str) -> ClientBackend:
        try:
            token: str | None = load_support_token(token_file, create=False)
        except FileNotFoundError:
            token = None  # logins work without it; the phone says the outbox needs it
        return ClientBackend(TokensimClient(url, support_token=token, timeout=10.0), url)

    return Connection(DEFAULT_SERVER_URL, connect)


def _run(args: argparse.Namespace) -> int:
    state = default_state_path() if args.state is None else args.state
    store = DeviceStore.open(state)
    if add_devices(store, args.add, args.phone):
        store.save()
    if args.serve:
        from tokensim.emulators.keypad.serve import KeypadServer  # imported here: only --serve needs it

        command = [sys.executable, "-m", "tokensim.server.cli", "keypad", "--state", str(state)]
        command += ["--server", args.server, "--support-token-file", str(args.support_token_file)]
        command += ["--poll", str(args.poll)]
        url = f"http://{args.host}:{args.port}"
        print(f"tokensim keypad: serving on {url} (no authentication: keep it local)", flush=True)
        KeypadServer(command, host=args.host, port=args.port, title="tokensim keypad").serve()
        return 0
    connection = _connect(args.support_token_file)
    connection.use(args.server)
    KeypadApp(store, connection=connection, poll_seconds=args.poll).run()
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keypad`` to the ``tokensim`` parser."""
    parser = subparsers.add_parser(
        "keypad",
        help="the QA keypad: every virtual device, a phone and a mock login portal (Textual)",
        description="A terminal UI over the emulated devices, for logging in by hand against a server. "
        "Devices are kept in a state file between runs; it holds their secrets (the user's own), "
        "so keep it private.",
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"the devices' state file (default: ${STATE_ENV}, else {default_state_path({})})",
    )
    parser.add_argument(
        "--server",
        default=DEFAULT_SERVER_URL,
        metavar="URL",
        help=f"the server's URL (default: {DEFAULT_SERVER_URL})",
    )
    parser.add_argument(
        "--support-token-file",
        type=Path,
        default=ServerConfig().token_path,
        metavar="FILE",
        help="the server's support token, for reading the carrier outbox and listing a user's devices "
        f"($TOKENSIM_SUPPORT_TOKEN wins; default: {ServerConfig().token_path}, "
        "the file tokensim serve writes)",
    )
    parser.add_argument(
        "--add",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="add a saved device file (Device.save() JSON, as serve --demo writes) to the state file; "
        "repeat for several (default: none; the Account tab adds them while the keypad runs too)",
    )
    parser.add_argument(
        "--phone",
        action="append",
        default=[],
        metavar="NUMBER",
        help="add a phone for SMS and voice codes, e.g. +15550100008; repeat for several (default: none)",
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between the phone's and IB Key's checks for messages and push requests (default: 5.0)",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="serve the app in a browser with textual-serve, one app process per browser session, "
        "instead of running it in this terminal (default: off)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address --serve listens on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_SERVE_PORT, help=f"--serve's port (default: {DEFAULT_SERVE_PORT})"
    )
    parser.set_defaults(handler=_run)
