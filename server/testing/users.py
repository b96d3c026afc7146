"""The users the ``tokensim_user`` fixture makes: their devices, the emulators, their logins and answers.

A :class:`TokensimUser` holds what the server knows of each enrolled device and the emulator that holds
it; :class:`UserFactory` is the fixture's call signature. When a test's answer is not what the user's
device gives, :meth:`TokensimUser.assert_answer` says what was expected and why (suite, cells, time
step or the number a code went to).

The emulators and the server's views are imported where they are used, so loading the plugin stays free.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tokensim.emulators import Device
    from tokensim.server.client import TokensimClient
    from tokensim.server.testing.harness import Enrolled, LoginResult
    from tokensim.server.testing.server import TokensimServer
    from tokensim.server.views import ChallengeView

__all__ = ["DEFAULT_PASSWORD", "TokensimUser", "UserFactory"]

#: The password of users made by ``tokensim_user`` unless a test gives one.
DEFAULT_PASSWORD = "correct horse battery staple"  # noqa: S105 - a test double's published default


@dataclass(slots=True)
class TokensimUser:
    """A user made by ``tokensim_user``, with their enrolled devices and the emulators that hold them.

    ``user["dsc-plus"]`` is the emulator itself (press its keys, call ``respond``); ``user.devices``
    has what the server knows of each (id, serial, provisioning).

    Attributes:
        username: the login name.
        password: the password.
        phones: the user's verified phone numbers.
        client: an API client with the support token.
        devices: the enrolled devices by kind.
    """

    username: str
    password: str
    phones: tuple[str, ...]
    client: TokensimClient
    devices: dict[str, Enrolled]
    _server: TokensimServer = field(repr=False)

    def __repr__(self) -> str:
        return f"TokensimUser(username={self.username!r}, devices={sorted(self.devices)!r})"

    def __getitem__(self, kind: str) -> Device:
        return self.enrolled(kind).device

    @property
    def emulators(self) -> dict[str, Device]:
        """The emulators by kind (for IB Key the app, for a phone the handset)."""
        return {kind: enrolled.device for kind, enrolled in self.devices.items()}

    def enrolled(self, kind: str) -> Enrolled:
        """The enrolled device of ``kind``.

        Raises:
            KeyError: the user has no device of that kind (the message lists the ones they have).
        """
        if kind not in self.devices:
            raise KeyError(f"{self.username} has no {kind!r} device; they have {sorted(self.devices)}")
        return self.devices[kind]

    def device_id(self, kind: str) -> str:
        """The server's identifier of the user's device of ``kind``."""
        return self.enrolled(kind).device_id

    def add_device(self, kind: str, *, pin: str = "1234", activate: bool = True) -> Enrolled:
        """Enroll (and by default activate) one more device; it replaces ``devices[kind]``."""
        enrolled = self._server._enroll(self.username, kind, pin=pin, activate=activate)
        self.devices[kind] = enrolled
        return enrolled

    def login(
        self, kind: str | None = None, *, mode: str | None = None, platform: str = "portal"
    ) -> LoginResult:
        """A whole login with the device of ``kind`` (the only device when ``None``)."""
        if kind is None:
            if len(self.devices) != 1:
                raise ValueError(f"{self.username} has {sorted(self.devices)}: name the device kind")
            kind = next(iter(self.devices))
        return self._server.harness.login(
            self.username, self.password, self.enrolled(kind), mode=mode, platform=platform
        )

    def _for(self, challenge: ChallengeView | Mapping[str, Any]) -> tuple[Enrolled, ChallengeView]:
        from tokensim.server.views import ChallengeView

        view = challenge if isinstance(challenge, ChallengeView) else ChallengeView.from_json(challenge)
        for enrolled in self.devices.values():
            if enrolled.device_id == view.challenge.device:
                return enrolled, view
        raise ValueError(
            f"challenge {view.id} is for device {view.challenge.device}, not one of {self.username}'s"
        )

    def answer(self, challenge: ChallengeView | Mapping[str, Any]) -> str:
        """What the user types for ``challenge`` (a view or the API's JSON object), from their device.

        For push and QR challenges the app signs and sends its approval; the text returned says so.
        """
        enrolled, view = self._for(challenge)
        return self._server.harness.answer(enrolled, view)

    def assert_answer(self, challenge: ChallengeView | Mapping[str, Any], got: str) -> None:
        """Check ``got`` is what the user's device answers to ``challenge``.

        A counter-based device (Gold) moves its counter on to work the answer out, as pressing its
        keys would.

        Raises:
            AssertionError: a mismatch, saying what was expected, under which suite, cells, time step
                or number, and what the device answers.
        """
        __tracebackhide__ = True
        enrolled, view = self._for(challenge)
        expected = self._server.harness.answer(enrolled, view)
        if got != expected:
            raise AssertionError(_mismatch(self._server, enrolled, view, got, expected))


def _mismatch(
    server: TokensimServer, enrolled: Enrolled, view: ChallengeView, got: str, expected: str
) -> str:
    challenge = view.challenge
    provisioning = enrolled.provisioning
    who = f"{enrolled.kind} {provisioning.serial if provisioning else enrolled.device_id}"
    form = challenge.form.value
    if form == "numeric":
        suite = provisioning.suite if provisioning is not None else None
        pin = f" with PIN {enrolled.pin}" if enrolled.pin is not None else ""
        return (
            f"expected the response to challenge {challenge.question} under suite {suite}, got {got!r}; "
            f"the {who}{pin} answers {expected}"
        )
    if form == "grid":
        return (
            f"expected the values of cells {', '.join(str(i) for i in challenge.indices)} of card {who}, "
            f"got {got!r}; the card reads {expected}"
        )
    if form == "code" and provisioning is not None:
        now = server.clock.now()
        step = provisioning.step
        return (
            f"expected the {enrolled.kind} code for time step {math.floor(now / step)} "
            f"(TOTP-{provisioning.algorithm.value}-{provisioning.digits}, {step} s, clock at {now:.0f}), "
            f"got {got!r}; the device shows {expected}"
        )
    if form == "oob":
        return (
            f"expected the code sent by {view.mode} to {view.sent_to}, got {got!r}; "
            f"the phone received {expected}"
        )
    return (
        f"expected the answer of the {who} to the {view.mode} challenge {view.id}, got {got!r}; "
        f"it is {expected}"
    )


class UserFactory(Protocol):
    """The ``tokensim_user`` fixture: makes a user with devices, each activated and held by an emulator."""

    def __call__(
        self,
        devices: Iterable[str] = (),
        *,
        username: str | None = None,
        password: str = DEFAULT_PASSWORD,
        phones: Iterable[str] | None = None,
        pin: str = "1234",
        activate: bool = True,
        equity: int = 2_000_000,
        jurisdiction: str = "US",
    ) -> TokensimUser:
        """Make the user.

        Args:
            devices: device kinds (``scc``, ``online-scc``, ``dsc``, ``dsc-plus``, ``gold``,
                ``platinum``, ``ib-key``, ``phone``), each at most once.
            username: the login name (``user1``, ``user2``, ... when ``None``).
            password: the password.
            phones: verified numbers (one made up when ``None``).
            pin: the PIN of every device that takes one.
            activate: activate each device by answering with its emulator.
            equity: account equity in USD (enough for every device kind unless lowered).
            jurisdiction: the account's two-letter country code.
        """
        ...
