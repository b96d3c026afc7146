"""The account pane: what a logged-in session does next, each step exactly as the server asks for it.

After a login on the portal pane, this pane holds its session and offers the Secure Login System's
other flows: log out; withdraw money (a step-up challenge on a chosen device, answered with the
keypad); print an Online Security Code Card (the card joins the keypad's Cards tab at once) and
activate it; activate or reactivate a device (after a temporary passcode the permanent devices wait
for their own answer); and change a DSC+ PIN (a challenge answered with the new PIN). It also names
the stage of a temporary passcode session (full access, then card printing only), from the scope the
server granted. Devices can be added to the keypad here too, from a saved device file or a phone
number, without restarting it.

The pane stays thin: every rule (what a session may do, which challenge a step needs, what a wrong
answer costs) is the server's, reached through :class:`AccountBackend`; the pane shows the server's
challenge and carries the answer typed from a device tab back to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from tokensim.emulators import Device, create, load
from tokensim.emulators.devices.phone import Phone
from tokensim.emulators.keypad.backend import Connection, IssuedChallenge, LoginResult
from tokensim.emulators.keypad.calls import call_backend
from tokensim.emulators.keypad.portal import describe_challenge
from tokensim.protocol.errors import InvalidParameter, TokensimError
from tokensim.protocol.provisioning import DeviceKind, Provisioning

__all__ = ["AccountBackend", "AccountDevice", "AccountPane", "NewDevice", "device_from_file", "session_stage"]


@dataclass(frozen=True, slots=True)
class AccountDevice:
    """One of the user's devices as the server lists it, whatever its status.

    Attributes:
        id: the server's identifier of the device.
        kind: its kind, e.g. ``"dsc-plus"``.
        serial: its serial number.
        status: ``pending``, ``active`` or ``revoked``.
    """

    id: str
    kind: str
    serial: str
    status: str


@dataclass(frozen=True, slots=True)
class NewDevice:
    """A device the server just issued to the session's user.

    Attributes:
        id: the server's identifier (it is pending until activated).
        provisioning: what the emulator is made from.
    """

    id: str
    provisioning: Provisioning


@runtime_checkable
class AccountBackend(Protocol):
    """What the pane needs of a server beyond the login; every call raises ``BackendError`` (or
    another :class:`~tokensim.protocol.errors.TokensimError`) with a message fit for the screen."""

    def logout(self, token: str) -> None:
        """End the session."""
        ...

    def devices(self, username: str) -> Sequence[AccountDevice]:
        """All of the user's devices, pending and revoked ones too."""
        ...

    def step_up(self, token: str, device_id: str, action: str) -> IssuedChallenge:
        """A fresh challenge on a device for ``withdrawal``, ``bank`` or ``email``."""
        ...

    def withdraw(self, token: str, amount_usd: str, challenge_id: str | None, answer: str | None) -> str:
        """Withdraw with the step-up's answer; returns what the receipt says."""
        ...

    def online_card(self, token: str) -> NewDevice:
        """Issue an Online Security Code Card (pending until activated)."""
        ...

    def activate(self, token: str, device_id: str) -> IssuedChallenge:
        """The challenge a device answers to become active (again)."""
        ...

    def activate_answer(self, token: str, device_id: str, challenge_id: str, answer: str) -> str:
        """Answer it; returns the device's status."""
        ...

    def change_pin(self, token: str, device_id: str, new_pin: str) -> IssuedChallenge:
        """The challenge a DSC+ answers with its current PIN (the new one is checked next)."""
        ...

    def change_pin_current(
        self, token: str, device_id: str, challenge_id: str, answer: str
    ) -> IssuedChallenge:
        """The answer computed with the current PIN; returns the challenge to answer with the new PIN."""
        ...

    def change_pin_answer(self, token: str, device_id: str, challenge_id: str, answer: str) -> str:
        """The answer computed with the new PIN; returns the device's status."""
        ...

    def ib_key_pin_change(self, username: str, password: str, registration: str) -> str:
        """Ask to change an IB Key PIN (password first); a code goes by SMS. Returns the device id."""
        ...

    def ib_key_pin_change_answer(self, device_id: str, code: str) -> None:
        """The texted code; the app may then change its PIN."""
        ...


def session_stage(result: LoginResult) -> str:
    """What a session may do, in words, from the scope the server granted and the device that logged in."""
    scope = set(result.scope)
    if scope == {"card-printing"}:
        return "temporary access, last stage: only printing an online card (withdrawals are refused)"
    if result.device_kind == "temporary":
        return "temporary passcode: full access for now, then only card printing; moves no money"
    if result.device_kind == "online-scc":
        return "online card: full access until it expires or a permanent device is reactivated"
    if scope == {"statements"}:
        return "closed account: statements only"
    return "full access"


def device_from_file(path: Path) -> Device:
    """A device from a saved device file (``Device.save()`` JSON, as ``tokensim serve --demo`` writes).

    Raises:
        InvalidParameter: the file cannot be read or is not a saved device.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidParameter(f"{path}: not a saved device ({type(e).__name__})") from e
    return load(data)


class AccountPane(Widget):
    """The account pane; see the module docstring.

    Args:
        connection: the server; its backend must also be an :class:`AccountBackend` for the session
            flows.
        id: the widget id.
    """

    #: The session the pane acts for, or ``None`` when logged out.
    session: reactive[LoginResult | None] = reactive(None, init=False)

    class DeviceAdded(Message):
        """A device was made here and belongs in the keypad (the app adds it to a tab).

        Args:
            device: the new device.
        """

        def __init__(self, device: Device) -> None:
            super().__init__()
            self.device = device

    def __init__(self, connection: Connection, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="portal account")
        self.connection = connection
        self._devices: list[AccountDevice] = []
        self._finish: Callable[[str], None] | None = None

    def compose(self) -> ComposeResult:
        """The session and its flows on the left; the challenge box and adding devices on the right."""
        with Horizontal(classes="ib-columns"):
            with Vertical(classes="ib-column"):
                yield Label("Session", classes="section")
                yield Static("Not logged in: log in on the Portal tab.", id="account-session", markup=False)
                with Horizontal(classes="row"):
                    yield Button("Log out", id="account-logout", disabled=True)
                    yield Button("Refresh", id="account-refresh", disabled=True)
                yield Label("Devices", classes="section")
                yield Select[str]([], prompt="log in first", id="account-device", disabled=True)
                with Horizontal(classes="row"):
                    yield Button("Activate", id="account-activate", disabled=True)
                    yield Input(placeholder="new PIN", password=True, id="account-new-pin", max_length=8)
                    yield Button("Change PIN", id="account-change-pin", disabled=True)
                yield Label("Money and cards", classes="section")
                with Horizontal(classes="row"):
                    yield Input(placeholder="amount in USD", id="account-amount", restrict=r"[0-9.]*")
                    yield Button("Withdraw", id="account-withdraw", disabled=True)
                yield Button("Print online card", id="account-print-card", disabled=True)
            with Vertical(classes="ib-column"):
                yield Label("Challenge", classes="section")
                yield Static(id="account-challenge", classes="challenge", markup=False)
                with Horizontal(classes="row"):
                    yield Input(placeholder="the device's answer", id="account-answer", disabled=True)
                    yield Button("Submit", id="account-submit", variant="primary", disabled=True)
                yield Static(id="account-note", classes="result", markup=False)
                yield Label("Add a device to the keypad", classes="section")
                yield Input(placeholder="a saved device file (.device.json)", id="account-device-file")
                with Horizontal(classes="row"):
                    yield Input(placeholder="or a phone number", id="account-phone-number")
                    yield Button("Add", id="account-add")

    def on_mount(self) -> None:
        """Let every button take a second click at once (Textual ignores one within 0.2 s by default)."""
        for button in self.query(Button):
            button.active_effect_duration = 0

    # Feedback and plumbing.

    def _say(self, text: str, *, error: bool = False) -> None:
        note = self.query_one("#account-note", Static)
        note.update(text)
        note.set_class(error, "-error")
        note.set_class(not error and bool(text), "-ok")

    def _failed(self, message: str) -> None:
        self._say(message, error=True)

    def _backend(self) -> AccountBackend | None:
        try:
            backend = self.connection.get()
        except TokensimError as e:
            self._failed(str(e))
            return None
        if not isinstance(backend, AccountBackend):
            self._failed("this server connection has no account calls")
            return None
        return backend

    def _token(self) -> str | None:
        session = self.session
        if session is None or session.token is None:
            self._failed("log in on the Portal tab first")
            return None
        return session.token

    def _device_id(self) -> str | None:
        value = self.query_one("#account-device", Select).value
        if not isinstance(value, str):
            self._failed("choose a device first")
            return None
        return value

    # The session.

    def watch_session(self, session: LoginResult | None) -> None:
        shown = self.query_one("#account-session", Static)
        if session is None:
            shown.update("Not logged in: log in on the Portal tab.")
        else:
            scope = ", ".join(session.scope) or "none"
            via = f" with {session.device_kind}" if session.device_kind else ""
            shown.update(f"{session.username}, logged in{via}; scope: {scope}\n{session_stage(session)}")
        for button in ("logout", "refresh", "activate", "change-pin", "withdraw", "print-card"):
            self.query_one(f"#account-{button}", Button).disabled = session is None
        self._ask(None, None)
        self._devices = []
        self._show_devices()
        if session is not None:
            self.refresh_devices()

    @on(Button.Pressed, "#account-logout")
    def logout(self) -> None:
        """End the session on the server."""
        backend, token = self._backend(), self._token()
        if backend is None or token is None:
            return
        call_backend(self, lambda: backend.logout(token), self._logged_out, self._failed)

    def _logged_out(self, _: object) -> None:
        session = self.session
        self.session = None
        self._say(f"{session.username if session else 'the session'} logged out")

    @on(Button.Pressed, "#account-refresh")
    def refresh_devices(self) -> None:
        """List the user's devices, whatever their status."""
        session, backend = self.session, self._backend()
        if session is None or backend is None:
            return
        call_backend(self, lambda: backend.devices(session.username), self._got_devices, self._failed)

    def _got_devices(self, devices: Sequence[AccountDevice]) -> None:
        self._devices = list(devices)
        self._show_devices()

    def _show_devices(self) -> None:
        select: Select[str] = self.query_one("#account-device", Select)
        current = select.value
        options = [(f"{d.kind} {d.serial} ({d.status})", d.id) for d in self._devices]
        select.set_options(options)
        select.disabled = not options
        ids = [d.id for d in self._devices]
        if ids:
            select.value = current if isinstance(current, str) and current in ids else ids[0]

    # One challenge at a time: shown here, answered with a device, submitted here.

    def _ask(self, issued: IssuedChallenge | None, finish: Callable[[str], None] | None) -> None:
        self._finish = finish
        shown = "" if issued is None else describe_challenge(issued)
        self.query_one("#account-challenge", Static).update(shown)
        answer = self.query_one("#account-answer", Input)
        answer.value = ""
        answer.disabled = issued is None
        self.query_one("#account-submit", Button).disabled = issued is None
        if issued is not None:
            self._say("")

    @on(Button.Pressed, "#account-submit")
    @on(Input.Submitted, "#account-answer")
    def submit(self) -> None:
        """Send the typed answer to the step that asked for it."""
        answer = self.query_one("#account-answer", Input).value.strip()
        finish = self._finish
        if finish is None:
            return
        if not answer:
            self._failed("type the answer first")
            return
        finish(answer)

    # Withdrawals and step-up.

    @on(Button.Pressed, "#account-withdraw")
    def withdraw(self) -> None:
        """Ask for a step-up challenge on the chosen device for the typed amount."""
        backend, token, device_id = self._backend(), self._token(), self._device_id()
        amount = self.query_one("#account-amount", Input).value.strip()
        if backend is None or token is None or device_id is None:
            return
        if not amount:
            self._failed("type the amount first")
            return

        def finish(answer: str, issued: IssuedChallenge) -> None:
            challenge_id = issued.challenge.id
            call_backend(
                self, lambda: backend.withdraw(token, amount, challenge_id, answer), self._done, self._failed
            )

        call_backend(
            self,
            lambda: backend.step_up(token, device_id, "withdrawal"),
            lambda issued: self._ask(issued, lambda answer: finish(answer, issued)),
            self._failed,
        )

    def _done(self, what: str) -> None:
        self._ask(None, None)
        self._say(what)
        self.refresh_devices()

    # Activation and reactivation.

    @on(Button.Pressed, "#account-activate")
    def activate(self) -> None:
        """Ask for the chosen device's activation challenge."""
        backend, token, device_id = self._backend(), self._token(), self._device_id()
        if backend is None or token is None or device_id is None:
            return

        def finish(answer: str, issued: IssuedChallenge) -> None:
            challenge_id = issued.challenge.id
            call_backend(
                self,
                lambda: backend.activate_answer(token, device_id, challenge_id, answer),
                lambda status: self._done(f"the device is {status}"),
                self._failed,
            )

        call_backend(
            self,
            lambda: backend.activate(token, device_id),
            lambda issued: self._ask(issued, lambda answer: finish(answer, issued)),
            self._failed,
        )

    # PIN changes.

    @on(Button.Pressed, "#account-change-pin")
    def change_pin(self) -> None:
        """Ask to change the chosen device's PIN to the typed one; its challenge is answered with it."""
        backend, token, device_id = self._backend(), self._token(), self._device_id()
        box = self.query_one("#account-new-pin", Input)
        new_pin, box.value = box.value, ""
        if backend is None or token is None or device_id is None:
            return
        if not new_pin:
            self._failed("type the new PIN first")
            return

        # Two challenges: the first answered with the current PIN, the second with the new one.
        def finish(answer: str, issued: IssuedChallenge) -> None:
            challenge_id = issued.challenge.id
            call_backend(
                self,
                lambda: backend.change_pin_answer(token, device_id, challenge_id, answer),
                lambda status: self._done(f"PIN changed; the device is {status}"),
                self._failed,
            )

        def current(answer: str, issued: IssuedChallenge) -> None:
            challenge_id = issued.challenge.id

            def ask_new(second: IssuedChallenge) -> None:
                self._ask(second, lambda answer: finish(answer, second))
                self._say("now answer this challenge with the NEW PIN")

            call_backend(
                self,
                lambda: backend.change_pin_current(token, device_id, challenge_id, answer),
                ask_new,
                self._failed,
            )

        def ask_current(issued: IssuedChallenge) -> None:
            self._ask(issued, lambda answer: current(answer, issued))
            self._say("answer this challenge with the CURRENT PIN")

        call_backend(self, lambda: backend.change_pin(token, device_id, new_pin), ask_current, self._failed)

    # The online card.

    @on(Button.Pressed, "#account-print-card")
    def print_card(self) -> None:
        """Issue an online card; it joins the Cards tab and waits here for its activation."""
        backend, token = self._backend(), self._token()
        if backend is None or token is None:
            return
        call_backend(self, lambda: backend.online_card(token), self._printed, self._failed)

    def _printed(self, issued: NewDevice) -> None:
        try:
            card = create(issued.provisioning)
        except TokensimError as e:
            self._failed(str(e))
            return
        self.post_message(self.DeviceAdded(card))
        self._say(f"online card {card.serial} printed: it is on the Cards tab; activate it here")
        select_after = issued.id

        def listed(devices: Sequence[AccountDevice]) -> None:
            self._got_devices(devices)
            if select_after in [d.id for d in devices]:
                self.query_one("#account-device", Select).value = select_after

        session, backend = self.session, self._backend()
        if session is not None and backend is not None:
            call_backend(self, lambda: backend.devices(session.username), listed, self._failed)

    # Adding devices to the keypad.

    @on(Button.Pressed, "#account-add")
    def add_device(self) -> None:
        """Add the named device file or phone number to the keypad."""
        file_box = self.query_one("#account-device-file", Input)
        phone_box = self.query_one("#account-phone-number", Input)
        path, number = file_box.value.strip(), phone_box.value.strip()
        if not path and not number:
            self._failed("name a saved device file or a phone number")
            return
        try:
            if path:
                device = device_from_file(Path(path).expanduser())
            else:
                device = Phone(Provisioning(kind=DeviceKind.PHONE, serial=f"handset-{number}", number=number))
        except TokensimError as e:
            self._failed(str(e))
            return
        file_box.value = phone_box.value = ""
        self.post_message(self.DeviceAdded(device))
