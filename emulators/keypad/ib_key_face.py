"""The IB Key app's face: push approvals, challenge/response, QR login, time-based codes and activation.

Everything the app does is the :class:`~tokensim.emulators.devices.ib_key.IbKeyApp`'s: the face reads
its screen and its pending requests, passes the typed PIN (masked, cleared after each use) to its
calls, and carries the signed decisions and activation requests to the server through the
:class:`~tokensim.emulators.keypad.backend.PortalBackend`.

* **Requests**: "Check requests" fetches the pending push requests of every activated user from the
  server and hands them to the app; each is listed with its details and Approve/Deny buttons, which
  sign the decision after the PIN (or the biometric, when ticked) and send it.
* **Challenge/response**: the login page's challenge in, the app's response out.
* **QR login**: paste the QR payload; the app approves the request it carries and the decision is sent.
* **Time-based code**: the code for logging in while the phone is offline.
* **Activation**: the username, the activation token from the SMS and a new PIN; the app makes the
  registration's key pair, the server activates it, and the app keeps the server's reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Key
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from tokensim.emulators.devices.ib_key import IbKeyApp
from tokensim.emulators.keypad.account import AccountBackend
from tokensim.emulators.keypad.backend import Connection
from tokensim.emulators.keypad.calls import call_backend
from tokensim.emulators.keypad.device_view import device_title
from tokensim.protocol.errors import TokensimError
from tokensim.protocol.messages import PushDecision, PushRequest
from tokensim.protocol.provisioning import IbKeyActivation, Provisioning

__all__ = ["SCREEN_KEYS", "DecisionButton", "IbKeyFace", "IbKeyScreen", "PushEntry", "describe_request"]


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%H:%M:%S UTC")


def describe_request(request: PushRequest) -> Text:
    """The lines the phone shows for a push request: what, for whom, from where, until when, details."""
    text = Text()
    text.append(f"{request.action} for {request.username}", style="bold")
    text.append(f"\nfrom {request.origin}\nexpires {_utc(request.expires_at)}")
    for key, value in sorted(request.details.items()):
        text.append(f"\n{key}: {value}")
    return text


class DecisionButton(Button, can_focus=False):
    """Approve or deny one request.

    Args:
        request_id: the request it answers.
        approved: approve (``True``) or deny.
        index: the request's position in the list, for the widget id.
    """

    def __init__(self, request_id: str, approved: bool, index: int) -> None:
        verb = "approve" if approved else "deny"
        super().__init__(
            verb.capitalize(),
            id=f"{verb}-{index}",
            classes=f"decision {verb}",
            variant="success" if approved else "error",
        )
        self.request_id = request_id
        self.approved = approved
        self.active_effect_duration = 0


class PushEntry(Vertical):
    """One pending request: its details on full lines, then its Approve and Deny buttons.

    Args:
        request: the request.
        index: its position in the list (0 is the oldest).
    """

    def __init__(self, request: PushRequest, index: int) -> None:
        super().__init__(id=f"push-{index}", classes="push-entry")
        self.request = request
        self.index = index

    def compose(self) -> ComposeResult:
        """The request's details and the two buttons."""
        yield Static(describe_request(self.request), classes="push-details", markup=False)
        with Horizontal(classes="decisions"):
            yield DecisionButton(self.request.id, True, self.index)
            yield DecisionButton(self.request.id, False, self.index)


#: The app's keys as typed on the keyboard while its screen has the focus.
SCREEN_KEYS: dict[str, str] = {
    **{digit: digit for digit in "0123456789"},
    "enter": "OK",
    "backspace": "BACK",
    "p": "PRESS",
}


class IbKeyScreen(Static, can_focus=True):
    """The app's screen; with the focus, digits type the PIN, Enter is OK and ``p`` is PRESS."""

    class KeyPressed(Message):
        """A key of the app was typed on its screen.

        Args:
            key: the app's key (``"0"``-``"9"``, ``"OK"``, ``"BACK"``, ``"PRESS"``).
        """

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def on_key(self, event: Key) -> None:
        """Hand the app's keys to the face; leave every other key to the app."""
        key = SCREEN_KEYS.get(event.key)
        if key is not None:
            event.stop()
            event.prevent_default()
            self.post_message(self.KeyPressed(key))

    def on_click(self) -> None:
        """Clicking the screen gives it the keyboard."""
        self.focus()


class IbKeyFace(Widget):
    """The IB Key app; see the module docstring.

    Args:
        device: the app.
        connection: the server it sends decisions and activations to.
        poll_seconds: how often to check for requests by itself; never when ``None``.
        id: the widget id.
    """

    #: The app's screen as last read.
    screen_text: reactive[str] = reactive("", init=False)

    def __init__(
        self,
        device: IbKeyApp,
        connection: Connection,
        *,
        poll_seconds: float | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, classes="face ib-key-face")
        self.device = device
        self.connection = connection
        self._poll_seconds = poll_seconds
        self._checking = False
        self._shown_users: list[str] | None = None
        self._shown_pending: list[str] | None = None
        self._pin_change: tuple[str, str] | None = None  # (user, server device id) once a code was sent

    def compose(self) -> ComposeResult:
        """The app's screen, the unlock fields, the requests and the code and activation panels."""
        yield Label(device_title(self.device), classes="face-title")
        with Horizontal(classes="ib-columns"):
            with Vertical(classes="ib-column"):
                yield IbKeyScreen(id="ibkey-screen", classes="phone-screen", markup=False)
                with Horizontal(classes="row"):
                    yield Label("User", classes="field-label")
                    yield Select[str]([], prompt="no users", id="ibkey-user", allow_blank=True)
                with Horizontal(classes="row"):
                    yield Label("PIN", classes="field-label")
                    yield Input(placeholder="PIN", password=True, id="ibkey-pin", max_length=6)
                with Horizontal(classes="row"):
                    yield Label("", classes="field-label")
                    yield Checkbox("biometric", id="ibkey-biometric")
                with Horizontal(classes="row"):
                    yield Button("Check requests", id="ibkey-check")
                    yield Static(id="ibkey-pending-count", classes="pending-count", markup=False)
                yield Vertical(id="ibkey-pending", classes="pending")
            with Vertical(classes="ib-column"):
                yield Label("Challenge/response", classes="section")
                with Horizontal(classes="row"):
                    yield Input(
                        placeholder="challenge", id="ibkey-challenge", restrict=r"[0-9]*", max_length=10
                    )
                    yield Button("Respond", id="ibkey-respond")
                yield Label("QR login", classes="section")
                with Horizontal(classes="row"):
                    yield Input(placeholder="paste the QR payload", id="ibkey-qr")
                    yield Button("Scan", id="ibkey-scan")
                with Horizontal(classes="row"):
                    yield Button("Time-based code", id="ibkey-time-code")
                yield Static(id="ibkey-output", classes="ibkey-output", markup=False)
                yield Label("Activate a user", classes="section")
                with Horizontal(classes="row"):
                    yield Label("Username", classes="field-label")
                    yield Input(placeholder="username", id="ibkey-new-user")
                with Horizontal(classes="row"):
                    yield Label("SMS token", classes="field-label")
                    yield Input(placeholder="activation token", id="ibkey-token")
                with Horizontal(classes="row"):
                    yield Label("New PIN", classes="field-label")
                    yield Input(placeholder="4-6 characters", password=True, id="ibkey-new-pin", max_length=6)
                    yield Button("Activate", id="ibkey-activate")
                yield Label("Change the chosen user's PIN", classes="section")
                with Horizontal(classes="row"):
                    yield Input(placeholder="password", password=True, id="ibkey-password")
                    yield Button("Send code", id="ibkey-send-code")
                with Horizontal(classes="row"):
                    yield Input(placeholder="SMS code", id="ibkey-pin-code", restrict=r"[0-9]*", max_length=8)
                    yield Button("Change", id="ibkey-change-pin")
                with Horizontal(classes="row"):
                    yield Input(
                        placeholder="current PIN", password=True, id="ibkey-current-pin", max_length=6
                    )
                    yield Input(placeholder="new PIN", password=True, id="ibkey-changed-pin", max_length=6)
        yield Static(id="ibkey-note", classes="result", markup=False)

    async def on_mount(self) -> None:
        """Show the app; start polling when asked to."""
        for button in self.query(Button):
            button.active_effect_duration = 0  # a second click within 0.2 s must count too
        await self.sync()
        if self._poll_seconds is not None and self.connection.available:
            self.set_interval(self._poll_seconds, self.check)

    async def sync(self) -> None:
        """Mirror the app: its screen, its users and its pending requests.

        Only what changed is redrawn: a poll that brings nothing new leaves the screen as it is.
        """
        self.screen_text = self.device.screen
        select: Select[str] = self.query_one("#ibkey-user", Select)
        users = self.device.users()
        if users != self._shown_users:
            self._shown_users = users
            current = select.value
            select.set_options([(user, user) for user in users])
            if users:
                select.value = current if isinstance(current, str) and current in users else users[0]
        pending = self.device.pending()
        shown = [request.id for request in pending]
        if shown == self._shown_pending:
            return
        self._shown_pending = shown
        count = len(pending)
        self.query_one("#ibkey-pending-count", Static).update(f"{count} pending")
        box = self.query_one("#ibkey-pending", Vertical)
        await box.remove_children()
        if pending:
            await box.mount_all([PushEntry(request, i) for i, request in enumerate(pending)])
        else:
            await box.mount(Label("No pending requests.", classes="empty"))

    def focus_screen(self) -> None:
        """Give the keyboard to the app's screen, so a PIN and OK can be typed at once."""
        self.query_one("#ibkey-screen", IbKeyScreen).focus()

    def watch_screen_text(self, value: str) -> None:
        self.query_one("#ibkey-screen", Static).update(Text(value))

    @on(IbKeyScreen.KeyPressed)
    async def _screen_key(self, event: IbKeyScreen.KeyPressed) -> None:
        event.stop()
        self.device.press(event.key)
        await self.sync()
        for decision in self.device.take_outbox():
            self._send(decision, "approved" if decision.approved else "denied")

    # Feedback.

    def _note(self, text: str, *, error: bool = False) -> None:
        note = self.query_one("#ibkey-note", Static)
        note.update(text)
        note.set_class(error, "-error")

    def _failed(self, message: str) -> None:
        self._checking = False
        self._note(message, error=True)

    def _unlock(self) -> tuple[str | None, bool]:
        """The typed PIN (then cleared from the box) and whether the biometric is ticked."""
        box = self.query_one("#ibkey-pin", Input)
        pin = box.value or None
        box.value = ""
        return pin, self.query_one("#ibkey-biometric", Checkbox).value and pin is None

    def _user(self) -> str | None:
        value = self.query_one("#ibkey-user", Select).value
        return value if isinstance(value, str) else None

    # Requests.

    @on(Button.Pressed, "#ibkey-check")
    def _check_pressed(self) -> None:
        self.check(quiet=False)

    def check(self, *, quiet: bool = True) -> None:
        """Fetch every activated user's pending requests from the server.

        Args:
            quiet: say nothing unless a request arrived (the timer's checks); the button says
                how many arrived, none included.
        """
        if self._checking:
            return
        try:
            backend = self.connection.get()
        except Exception as e:
            if not quiet:
                self._note(str(e), error=True)
            return
        registrations = [(user, self.device.key_id(user)) for user in self.device.users()]
        auths = {key_id: self.device.listing_auth(key_id) for _user, key_id in registrations}
        if not registrations:
            if not quiet:
                self._note("no users: activate one first", error=True)
            return
        self._checking = True

        def fetch() -> list[PushRequest]:
            found: list[PushRequest] = []
            for user, key_id in registrations:
                found.extend(backend.pending_pushes(user, key_id, auths[key_id]))
            return found

        call_backend(self, fetch, lambda requests: self._arrived(requests, quiet=quiet), self._failed)

    async def _arrived(self, requests: Sequence[PushRequest], *, quiet: bool = False) -> None:
        self._checking = False
        known = {request.id for request in self.device.pending()}
        fresh = 0
        for request in requests:
            if request.id not in known:
                try:
                    self.device.receive_push(request)
                except TokensimError:
                    continue  # for a user this phone no longer has
                fresh += 1
        await self.sync()
        if fresh or not quiet:
            self._note(f"{fresh} new request{'s' if fresh != 1 else ''}")
        if fresh and not isinstance(self.app.focused, Input) and self.region.area:
            self.focus_screen()  # as the phone opens the request: the PIN and OK go to it

    @on(Input.Submitted, "#ibkey-pin")
    async def _pin_submitted(self, event: Input.Submitted) -> None:
        """Enter in the PIN box approves the request on the app's screen (the oldest pending)."""
        event.stop()
        pending = self.device.pending()
        if not pending:
            self._note("no pending request to approve", error=True)
            return
        await self._decide_request(pending[0].id, approved=True)

    @on(Button.Pressed, ".decision")
    async def _decide(self, event: Button.Pressed) -> None:
        event.stop()
        button = event.button
        if isinstance(button, DecisionButton):
            await self._decide_request(button.request_id, approved=button.approved)

    async def _decide_request(self, request_id: str, *, approved: bool) -> None:
        pin, biometric = self._unlock()
        try:
            if approved:
                decision = self.device.approve(request_id, pin=pin, biometric=biometric)
            else:
                decision = self.device.deny(request_id, pin=pin, biometric=biometric)
        except TokensimError as e:
            self._note(str(e), error=True)
            await self.sync()
            return
        await self.sync()
        self._send(decision, "approved" if decision.approved else "denied")

    def _send(self, decision: PushDecision, what: str) -> None:
        try:
            backend = self.connection.get()
        except Exception as e:
            self._note(f"{what} on the phone, but not sent: {e}", error=True)
            return
        auth = self.device.decision_auth(decision.key_id)
        self._note(f"{what}; sending...")
        call_backend(
            self,
            lambda: backend.decide_push(decision, auth),
            lambda _: self._note(f"{what} and sent"),
            self._failed,
        )

    # Codes.

    @on(Button.Pressed, "#ibkey-respond")
    @on(Input.Submitted, "#ibkey-challenge")
    def respond(self) -> None:
        """Challenge/response: show the app's response to the typed challenge."""
        user = self._user()
        challenge = self.query_one("#ibkey-challenge", Input).value
        pin, biometric = self._unlock()
        if user is None:
            self._note("no users: activate one first", error=True)
            return
        try:
            response = self.device.respond(user, challenge, pin=pin, biometric=biometric)
        except TokensimError as e:
            self._note(str(e), error=True)
            return
        self.query_one("#ibkey-output", Static).update(f"Response: {response}")
        self._note("")

    @on(Button.Pressed, "#ibkey-time-code")
    def time_code(self) -> None:
        """Show the time-based code of the chosen user."""
        user = self._user()
        pin, biometric = self._unlock()
        if user is None:
            self._note("no users: activate one first", error=True)
            return
        try:
            code = self.device.time_code(user, pin=pin, biometric=biometric)
        except TokensimError as e:
            self._note(str(e), error=True)
            return
        self.query_one("#ibkey-output", Static).update(f"Time-based code: {code}")
        self._note("")

    @on(Button.Pressed, "#ibkey-scan")
    @on(Input.Submitted, "#ibkey-qr")
    def scan(self) -> None:
        """QR login: approve the request in the pasted payload and send the decision."""
        box = self.query_one("#ibkey-qr", Input)
        payload = box.value.strip()
        pin, biometric = self._unlock()
        try:
            decision = self.device.scan_qr(payload, pin=pin, biometric=biometric)
        except TokensimError as e:
            self._note(str(e), error=True)
            return
        box.value = ""
        self._send(decision, "QR login approved")

    # Activation.

    @on(Button.Pressed, "#ibkey-activate")
    def activate(self) -> None:
        """Activate a user with the SMS token and a new PIN."""
        username = self.query_one("#ibkey-new-user", Input).value.strip()
        token = self.query_one("#ibkey-token", Input).value.strip()
        pin_box = self.query_one("#ibkey-new-pin", Input)
        pin = pin_box.value or None
        pin_box.value = ""
        biometric = self.query_one("#ibkey-biometric", Checkbox).value
        try:
            activation = self.device.begin_activation(username, token, pin=pin, biometric=biometric)
            backend = self.connection.get()
        except TokensimError as e:
            self._note(str(e), error=True)
            return
        self._note(f"activating {username}...")
        call_backend(
            self,
            lambda: backend.activate_ib_key(activation),
            lambda p: self._activated(activation, p),
            self._failed,
        )

    # PIN change: the password, a texted code, then the app hashes the new PIN in place of the old.

    def _account_backend(self) -> AccountBackend | None:
        try:
            backend = self.connection.get()
        except TokensimError as e:
            self._note(str(e), error=True)
            return None
        if not isinstance(backend, AccountBackend):
            self._note("this server connection cannot change an IB Key PIN", error=True)
            return None
        return backend

    @on(Button.Pressed, "#ibkey-send-code")
    def send_pin_code(self) -> None:
        """Ask the server for a PIN change of the chosen user; it texts a code to the phone."""
        user = self._user()
        box = self.query_one("#ibkey-password", Input)
        password, box.value = box.value, ""
        backend = self._account_backend()
        if user is None or backend is None:
            if user is None:
                self._note("no users: activate one first", error=True)
            return
        if not password:
            self._note("type the user's password first", error=True)
            return
        registration = self.device.key_id(user)

        def started(device_id: str) -> None:
            self._pin_change = (user, device_id)
            self._note("a code was sent by SMS: see the Phone tab")

        call_backend(
            self, lambda: backend.ib_key_pin_change(user, password, registration), started, self._failed
        )

    @on(Button.Pressed, "#ibkey-change-pin")
    def change_pin(self) -> None:
        """Send the texted code; once the server allows it, change the PIN in the app."""
        code_box = self.query_one("#ibkey-pin-code", Input)
        current_box = self.query_one("#ibkey-current-pin", Input)
        new_box = self.query_one("#ibkey-changed-pin", Input)
        code, current, new = code_box.value.strip(), current_box.value, new_box.value
        current_box.value = new_box.value = ""
        started, backend = self._pin_change, self._account_backend()
        if backend is None:
            return
        if started is None:
            self._note("press Send code first", error=True)
            return
        user, device_id = started

        def allowed(_: object) -> None:
            try:
                self.device.change_pin(user, current, new)
            except TokensimError as e:
                self._note(str(e), error=True)
                return
            self._pin_change = None
            code_box.value = ""
            self._note(f"PIN changed for {user}")

        call_backend(self, lambda: backend.ib_key_pin_change_answer(device_id, code), allowed, self._failed)

    async def _activated(self, activation: IbKeyActivation, provisioning: Provisioning) -> None:
        try:
            self.device.complete_activation(activation.username, provisioning)
        except TokensimError as e:
            self._note(str(e), error=True)
            return
        self.query_one("#ibkey-token", Input).value = ""
        await self.sync()
        self.query_one("#ibkey-user", Select).value = activation.username
        self._note(f"{activation.username} activated on this phone")
