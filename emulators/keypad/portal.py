"""The portal pane: a mock login page that drives a real login against a verification server.

The steps are the server's: the password first (:meth:`PortalBackend.start_login`), then one of the
user's active devices from the drop-down, the challenge exactly as the server sent it, the answer, and
the result with the session's scope. A push challenge is answered on the IB Key tab; the pane then
asks the server whether it was approved. Everything goes through the app's
:class:`~tokensim.emulators.keypad.backend.Connection`; the password box is masked and neither the
password nor the answer is ever shown or logged.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from tokensim.emulators.keypad.backend import Connection, IssuedChallenge, LoginResult, LoginStart
from tokensim.emulators.keypad.calls import call_backend
from tokensim.protocol.messages import ChallengeForm, Response

__all__ = ["MODES", "PortalPane", "describe_challenge"]

#: The ways a device kind can answer, when it has several; the first is the server's default.
MODES: dict[str, tuple[str, ...]] = {
    "ib-key": ("push", "qr", "numeric", "code"),
    "phone": ("sms", "voice"),
}


def describe_challenge(issued: IssuedChallenge) -> str:
    """What the login page tells the user to do with a challenge, with the values the server sent."""
    challenge = issued.challenge
    form = challenge.form
    if issued.qr is not None:
        return "Scan this QR login code with IB Key (paste the payload below into its QR box), then Check"
    if form is ChallengeForm.NUMERIC:
        return f"Challenge: {challenge.question}  (type it into your device after the PIN)"
    if form is ChallengeForm.GRID:
        cells = " and ".join(str(index) for index in challenge.indices)
        return f"Card indices: {cells}  (type the values one after the other, no space)"
    if form is ChallengeForm.CODE:
        return "Enter the code your device shows"
    if form is ChallengeForm.OOB:
        how = "by voice call" if challenge.channel == "voice" else "by SMS"
        to = f" to {issued.sent_to}" if issued.sent_to else ""
        return f"A code was sent {how}{to}: see the Phone tab"
    if form is ChallengeForm.PUSH:
        assert challenge.request is not None  # a push challenge always carries its request
        return (
            f"Approve the {challenge.request.action} request on your IB Key "
            f"(from {challenge.request.origin}), then press Check approval"
        )
    return "Enter your temporary passcode"


class PortalPane(Widget):
    """The mock login page.

    Args:
        connection: the server the pane logs in to.
        id: the widget id.
    """

    #: The login the server accepted the password for, or ``None``.
    login: reactive[LoginStart | None] = reactive(None, init=False)
    #: The challenge being answered, or ``None``.
    challenge: reactive[IssuedChallenge | None] = reactive(None, init=False)
    #: The finished login, or ``None``.
    result: reactive[LoginResult | None] = reactive(None, init=False)

    class LoggedIn(Message):
        """A login finished.

        Args:
            result: the login's result.
        """

        def __init__(self, result: LoginResult) -> None:
            super().__init__()
            self.result = result

    def __init__(self, connection: Connection, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="portal")
        self.connection = connection

    def compose(self) -> ComposeResult:
        """The login form: server, credentials, device, challenge, answer, result."""
        yield Label("Secure Login (mock portal)", classes="face-title")
        with Horizontal(classes="row"):
            yield Label("Server", classes="field-label")
            yield Input(self.connection.url, id="portal-url")
        with Horizontal(classes="row"):
            yield Label("Username", classes="field-label")
            yield Input(placeholder="username", id="portal-username")
        with Horizontal(classes="row"):
            yield Label("Password", classes="field-label")
            yield Input(placeholder="password", password=True, id="portal-password")
            yield Button("Log in", id="portal-login", variant="primary")
        with Horizontal(classes="row"):
            yield Label("Device", classes="field-label")
            yield Select[str]([], prompt="log in first", id="portal-device", disabled=True)
            yield Select[str]([], prompt="default", id="portal-mode", disabled=True)
            yield Button("Get challenge", id="portal-get-challenge", disabled=True)
        yield Static(id="portal-challenge", classes="challenge", markup=False)
        with Horizontal(classes="row qr-row"):
            yield Label("QR", classes="field-label")
            yield Input(id="portal-qr", disabled=True)
            yield Button("To IB Key", id="portal-qr-to-ib-key", disabled=True)
        with Horizontal(classes="row"):
            yield Label("Answer", classes="field-label")
            yield Input(placeholder="answer", id="portal-answer", disabled=True)
            yield Button("Submit", id="portal-submit", variant="success", disabled=True)
        with Vertical(classes="row"):
            yield Static(id="portal-result", classes="result", markup=False)

    def _say(self, text: str, *, error: bool = False) -> None:
        line = self.query_one("#portal-result", Static)
        line.update(text)
        line.set_class(error, "-error")
        line.set_class(not error and self.result is not None, "-ok")

    def _failed(self, message: str) -> None:
        self._say(message, error=True)

    @on(Button.Pressed, "#portal-login")
    @on(Input.Submitted, "#portal-password")
    def log_in(self) -> None:
        """Send the username and password; on success, fill the device drop-down."""
        username = self.query_one("#portal-username", Input).value.strip()
        password = self.query_one("#portal-password", Input).value
        if not username or not password:
            self._failed("enter a username and a password")
            return
        try:
            self.connection.use(self.query_one("#portal-url", Input).value)
            backend = self.connection.get()
        except Exception as e:
            self._failed(str(e))
            return
        self.login = None
        self.challenge = None
        self.result = None
        self._say("logging in...")
        call_backend(self, lambda: backend.start_login(username, password), self._logged_in, self._failed)

    def _logged_in(self, login: LoginStart) -> None:
        self.query_one("#portal-password", Input).value = ""
        self.login = login
        if login.devices:
            self._say(f"password accepted for {login.username}: choose a device")
        else:
            self._failed(f"{login.username} has no active device")

    def watch_login(self, login: LoginStart | None) -> None:
        select: Select[str] = self.query_one("#portal-device", Select)
        devices = () if login is None else login.devices
        select.set_options([(device.label, device.id) for device in devices])
        select.disabled = not devices
        if devices:
            select.value = devices[0].id
        self.query_one("#portal-get-challenge", Button).disabled = not devices
        self._device_changed()

    def _chosen_kind(self) -> str | None:
        login = self.login
        value = self.query_one("#portal-device", Select).value
        if login is None:
            return None
        return next((device.kind for device in login.devices if device.id == value), None)

    @on(Select.Changed, "#portal-device")
    def _device_changed(self) -> None:
        modes = MODES.get(self._chosen_kind() or "", ())
        select: Select[str] = self.query_one("#portal-mode", Select)
        select.set_options([(mode, mode) for mode in modes])
        select.disabled = not modes
        if modes:
            select.value = modes[0]

    @on(Button.Pressed, "#portal-get-challenge")
    def get_challenge(self) -> None:
        """Ask for a challenge for the chosen device, in the chosen mode."""
        mode = self.query_one("#portal-mode", Select).value
        chosen = mode if isinstance(mode, str) else None
        login = self.login
        device_id = self.query_one("#portal-device", Select).value
        if login is None or not isinstance(device_id, str):
            self._failed("log in and choose a device first")
            return
        try:
            backend = self.connection.get()
        except Exception as e:
            self._failed(str(e))
            return
        self.challenge = None
        self.result = None
        call_backend(
            self,
            lambda: backend.challenge(login.login_id, device_id, mode=chosen),
            self._got_challenge,
            self._failed,
        )

    def _got_challenge(self, issued: IssuedChallenge) -> None:
        self.challenge = issued
        self._say("")

    def watch_challenge(self, issued: IssuedChallenge | None) -> None:
        text = "" if issued is None else describe_challenge(issued)
        self.query_one("#portal-challenge", Static).update(text)
        qr = self.query_one("#portal-qr", Input)
        qr.value = "" if issued is None or issued.qr is None else issued.qr
        qr.disabled = not qr.value
        self.query_one("#portal-qr-to-ib-key", Button).disabled = not qr.value
        answer = self.query_one("#portal-answer", Input)
        submit = self.query_one("#portal-submit", Button)
        answer.value = ""
        challenge = None if issued is None else issued.challenge
        push = challenge is not None and challenge.form is ChallengeForm.PUSH
        answer.disabled = challenge is None or push
        submit.disabled = challenge is None
        submit.label = "Check approval" if push else "Submit"
        if challenge is not None and not push:
            answer.focus()

    @on(Button.Pressed, "#portal-submit")
    @on(Input.Submitted, "#portal-answer")
    def submit(self) -> None:
        """Send the answer (or, for a push, ask whether it was approved)."""
        login = self.login
        issued = self.challenge
        if login is None or issued is None:
            return
        challenge = issued.challenge
        try:
            backend = self.connection.get()
        except Exception as e:
            self._failed(str(e))
            return
        if challenge.form is ChallengeForm.PUSH:
            call_backend(
                self,
                lambda: backend.push_result(login.login_id, challenge.id),
                self._push_state,
                self._failed,
            )
            return
        answer = self.query_one("#portal-answer", Input).value.strip()
        if not answer:
            self._failed("type the answer first")
            return
        response = Response(challenge.id, answer)
        call_backend(self, lambda: backend.answer(login.login_id, response), self._finished, self._failed)

    def _push_state(self, result: LoginResult | None) -> None:
        if result is None:
            self._say("waiting for approval on the IB Key")
        else:
            self._finished(result)

    def _finished(self, result: LoginResult) -> None:
        self.result = result
        self.challenge = None
        self.login = None
        scope = ", ".join(result.scope) or "none"
        self._say(f"logged in as {result.username}; scope: {scope}")
        self.post_message(self.LoggedIn(result))

    class QrToIbKey(Message):
        """The user asked to hand the QR payload to the IB Key (as scanning it would).

        Args:
            payload: the QR code's text.
        """

        def __init__(self, payload: str) -> None:
            super().__init__()
            self.payload = payload

    @on(Button.Pressed, "#portal-qr-to-ib-key")
    def _qr_to_ib_key(self) -> None:
        payload = self.query_one("#portal-qr", Input).value
        if payload:
            self.post_message(self.QrToIbKey(payload))
