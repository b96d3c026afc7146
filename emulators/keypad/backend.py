"""What the keypad needs from a verification server, as a :class:`typing.Protocol`.

The keypad lives in :mod:`tokensim.emulators`, which never imports the server: a device reaches the
server only over the wire, as a real one would. Everything the app asks of a server (log in, list the
user's devices, get a challenge and answer it, read the carrier's outbox, see and answer pending push
requests, activate an IB Key) goes through :class:`PortalBackend`. The server's harness module
``tokensim.server.cli.keypad`` implements it with the server's typed client; tests may implement it
with anything that keeps the same promises.

Every method is synchronous and may block on the network; the app calls them from worker threads.
Every failure a user should read (wrong password, wrong answer, locked device, server down) is raised
as :class:`BackendError` or another :class:`~tokensim.protocol.errors.TokensimError`, with a message
fit to show on screen: never a secret, a PIN or a code in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tokensim.protocol.errors import TokensimError
from tokensim.protocol.messages import Challenge, PushDecision, PushRequest, Response
from tokensim.protocol.phone_auth import RequestAuth
from tokensim.protocol.provisioning import IbKeyActivation, Provisioning

__all__ = [
    "DEFAULT_SERVER_URL",
    "BackendError",
    "CarrierMessage",
    "Connection",
    "DeviceChoice",
    "IssuedChallenge",
    "LoginResult",
    "LoginStart",
    "PortalBackend",
]

#: Where ``tokensim serve`` listens by default; the portal pane starts with it.
DEFAULT_SERVER_URL = "http://127.0.0.1:8000"


class BackendError(TokensimError):
    """A server call failed; the message says why, in words fit for the screen.

    Args:
        message: what went wrong.
        retry_after: seconds until a throttled call may be tried again, when the server said so.
        attempts_remaining: wrong answers the device still takes before it locks, when the server said.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, attempts_remaining: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.attempts_remaining = attempts_remaining


@dataclass(frozen=True, slots=True)
class DeviceChoice:
    """One active device a user may pick at login (the M2FS drop-down).

    Attributes:
        id: the server's identifier of the device; a challenge names it.
        kind: the :class:`~tokensim.protocol.provisioning.DeviceKind` value, e.g. ``"dsc-plus"``.
        label: how the drop-down shows it, e.g. ``"DSC+ P-1001"``.
    """

    id: str
    kind: str
    label: str


@dataclass(frozen=True, slots=True)
class LoginStart:
    """A login whose password was accepted and which waits for a second factor.

    Attributes:
        login_id: the server's handle on this login; challenges and answers name it.
        username: who is logging in.
        devices: the user's active devices, in the order the server lists them.
    """

    login_id: str
    username: str
    devices: tuple[DeviceChoice, ...]


@dataclass(frozen=True, slots=True)
class IssuedChallenge:
    """A challenge as the login page shows it.

    Attributes:
        challenge: the challenge itself.
        mode: how the device answers (``numeric``, ``grid``, ``code``, ``push``, ``qr``, ``sms``...).
        qr: for a QR login, the payload the QR code carries (the IB Key scans it).
        sent_to: for a code sent by SMS or voice, the (masked) number it went to.
    """

    challenge: Challenge
    mode: str
    qr: str | None = None
    sent_to: str | None = None


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A finished login.

    Attributes:
        username: who logged in.
        scope: what the session may do (``trading``, ``portal``, ``card-printing``, ``statements``).
        device_kind: the kind of the device that answered, when the server says.
        token: the session's bearer token, for the account pane's calls (never shown or logged).
    """

    username: str
    scope: tuple[str, ...]
    device_kind: str | None = None
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class CarrierMessage:
    """An SMS or a voice call the server's carrier sent to a phone number.

    Attributes:
        seq: the outbox's sequence number; later messages have larger ones.
        id: the carrier's identifier of the message.
        number: the phone number it went to.
        channel: ``"sms"`` or ``"voice"``.
        sender: who it appears to come from.
        text: the SMS text, or the transcript of what the call said.
        sent_at: Unix time it was sent.
    """

    seq: int
    id: str
    number: str
    channel: str
    sender: str
    text: str
    sent_at: float

    def __repr__(self) -> str:
        # The text carries a one-time code: keep it out of logs.
        return f"CarrierMessage(id={self.id!r}, number={self.number!r}, channel={self.channel!r})"


@runtime_checkable
class PortalBackend(Protocol):
    """A verification server as the keypad sees it; see the module docstring."""

    @property
    def url(self) -> str:
        """The server's base URL, as the portal pane shows it."""
        ...

    def start_login(self, username: str, password: str) -> LoginStart:
        """Check the password and list the user's active devices.

        Raises:
            BackendError: the username or password is wrong, or the account is locked.
        """
        ...

    def challenge(self, login_id: str, device_id: str, *, mode: str | None = None) -> IssuedChallenge:
        """Ask the server for a challenge for one of the user's devices.

        Args:
            login_id: the login from :meth:`start_login`.
            device_id: the chosen :attr:`DeviceChoice.id`.
            mode: how to answer, for a device that answers in several ways (IB Key: ``push``, ``qr``,
                ``numeric``, ``code``; phone: ``sms``, ``voice``); ``None`` for the kind's default.

        Raises:
            BackendError: the login is unknown or over, or the device is locked or not the user's.
        """
        ...

    def answer(self, login_id: str, response: Response) -> LoginResult:
        """Answer a challenge by typing; a right answer finishes the login.

        Raises:
            BackendError: the answer is wrong, late, replayed or throttled.
        """
        ...

    def push_result(self, login_id: str, challenge_id: str) -> LoginResult | None:
        """How a push challenge stands: the finished login once approved, ``None`` while it waits.

        Raises:
            BackendError: the request was denied or expired.
        """
        ...

    def outbox(self, number: str, *, after: int = 0) -> Sequence[CarrierMessage]:
        """The SMS texts and voice calls the carrier sent to ``number`` after sequence number ``after``.

        Args:
            number: the phone number.
            after: the largest :attr:`CarrierMessage.seq` already seen (0 for all).

        Returns:
            The messages, oldest first.

        Raises:
            BackendError: the server cannot be reached.
        """
        ...

    def pending_pushes(self, username: str, key_id: str, auth: RequestAuth) -> Sequence[PushRequest]:
        """The push requests waiting for ``username``'s IB Key registration ``key_id``.

        ``auth`` is the app's signature of the request (``IbKeyApp.listing_auth``).

        Raises:
            BackendError: the server cannot be reached.
        """
        ...

    def decide_push(self, decision: PushDecision, auth: RequestAuth) -> None:
        """Send the IB Key's signed approval or denial of a push request.

        ``auth`` is the app's signature of the request (``IbKeyApp.decision_auth``).

        Raises:
            BackendError: the signature does not verify or the request is over.
        """
        ...

    def activate_ib_key(self, activation: IbKeyActivation) -> Provisioning:
        """Activate an IB Key registration with the token the user got by SMS.

        Returns:
            What the app needs for that user (challenge/response and time-based code secrets).

        Raises:
            BackendError: the token is wrong or expired.
        """
        ...


class Connection:
    """The backend the app talks to now, made on demand from a URL.

    Args:
        url: the server's base URL.
        connect: makes a backend for a URL; ``None`` when the app runs without a server.
        backend: a backend already made for ``url`` (tests pass one).
    """

    def __init__(
        self,
        url: str = DEFAULT_SERVER_URL,
        connect: Callable[[str], PortalBackend] | None = None,
        backend: PortalBackend | None = None,
    ) -> None:
        self._url = url
        self._connect = connect
        self._backend = backend

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self._url

    @property
    def available(self) -> bool:
        """Whether a backend exists or can be made."""
        return self._backend is not None or self._connect is not None

    def use(self, url: str) -> None:
        """Point at another server; the next :meth:`get` connects to it.

        Raises:
            BackendError: ``url`` is empty.
        """
        url = url.strip()
        if not url:
            raise BackendError("enter the server's URL")
        if url != self._url and self._connect is not None:
            self._backend = None
        self._url = url

    def get(self) -> PortalBackend:
        """The backend for the current URL, connecting first if needed.

        Raises:
            BackendError: the app runs without a server.
        """
        if self._backend is None:
            if self._connect is None:
                raise BackendError("no server: start the keypad with --server URL")
            self._backend = self._connect(self._url)
        return self._backend
