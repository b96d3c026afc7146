"""Test and demo harness: enroll, activate and log in with emulated devices through the API client.

This is one of the server's harness modules (with the CLI), the only places that import
:mod:`tokensim.emulators`: the verifier and the API never do. Each device is the emulator a user
would hold, driven as the user would: the card is read, the DSC shows a code after its PIN, the
DSC+ answers the challenge, the phone receives texts and calls from the outbox carrier, and the
IB Key app activates with the texted token and signs push and QR approvals.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from tokensim.emulators import Device, create
from tokensim.emulators.challenge_response import OcraKeypadDevice
from tokensim.emulators.devices.dsc import DigitalSecurityCard
from tokensim.emulators.devices.ib_key import IbKeyApp
from tokensim.emulators.devices.phone import Phone
from tokensim.emulators.printed_card import PrintedCard
from tokensim.protocol.clock import Clock
from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.messages import ChallengeForm, PushDecision
from tokensim.protocol.provisioning import DeviceKind, Provisioning
from tokensim.server.client import TokensimClient
from tokensim.server.views import ChallengeView, Enrollment, SessionGrant

__all__ = ["ALL_KINDS", "Enrolled", "Harness", "LoginResult"]

#: Every kind a user can enroll, in the order a demo shows them.
ALL_KINDS: tuple[str, ...] = (
    DeviceKind.SCC.value,
    DeviceKind.ONLINE_SCC.value,
    DeviceKind.DSC.value,
    DeviceKind.DSC_PLUS.value,
    DeviceKind.GOLD.value,
    DeviceKind.PLATINUM.value,
    DeviceKind.IB_KEY.value,
    DeviceKind.PHONE.value,
)
_PIN_KINDS = ("dsc", "dsc-plus", "gold", "platinum")


@dataclass(slots=True)
class Enrolled:
    """A device enrolled on the server and the emulator that holds it.

    Attributes:
        username: whose device.
        kind: its kind.
        device_id: the server's identifier.
        device: the emulator (for IB Key, the app; for a phone, the handset).
        pin: the PIN typed into it, if it takes one.
        enrollment: what enrollment returned.
        provisioning: what the device was made from (for IB Key, the activation's reply).
    """

    username: str
    kind: str
    device_id: str
    device: Device
    pin: str | None
    enrollment: Enrollment
    provisioning: Provisioning | None = None

    def __repr__(self) -> str:
        return f"Enrolled(username={self.username!r}, kind={self.kind!r}, device_id={self.device_id!r})"


@dataclass(frozen=True, slots=True)
class LoginResult:
    """One whole login.

    Attributes:
        challenge: what the server asked.
        answer: what the device gave (a code, a response, or a description of the signed decision).
        grant: the session.
    """

    challenge: ChallengeView
    answer: str
    grant: SessionGrant


@dataclass(slots=True)
class Harness:
    """Drives the server with emulators through a client.

    Args:
        client: the API client (with the support token).
        clock: the emulators' clock (the system clock when ``None``).
        rng: the emulators' random source.
    """

    client: TokensimClient
    clock: Clock | None = None
    rng: random.Random | None = None
    phones: dict[str, Phone] = field(default_factory=dict)
    apps: dict[str, IbKeyApp] = field(default_factory=dict)
    _outbox_seq: int = 0

    def phone(self, number: str) -> Phone:
        """The emulated handset of ``number`` (created on first use)."""
        if number not in self.phones:
            provisioning = Provisioning(kind=DeviceKind.PHONE, serial=f"handset-{number}", number=number)
            handset = create(provisioning, clock=self.clock, rng=self.rng)
            assert isinstance(handset, Phone)
            self.phones[number] = handset
        return self.phones[number]

    def deliver(self) -> int:
        """Hand every new outbox message to its phone; return how many arrived."""
        messages = self.client.outbox(after=self._outbox_seq, limit=1000)
        for message in messages:
            self._outbox_seq = max(self._outbox_seq, message.seq)
            handset = self.phone(message.to)
            if message.channel == "voice":
                handset.receive_call(message.sender, message.text)
            else:
                handset.receive_sms(message.sender, message.text)
        return len(messages)

    def _latest_code(self, number: str) -> str:
        self.deliver()
        code = self.phone(number).latest_code()
        if code is None:
            raise InvalidParameter(f"no code arrived at {number}")
        return code

    def app(self, name: str = "phone-1") -> IbKeyApp:
        """The IB Key app installed on the phone ``name`` (created on first use)."""
        if name not in self.apps:
            app = create(Provisioning(kind=DeviceKind.IB_KEY, serial=name), clock=self.clock, rng=self.rng)
            assert isinstance(app, IbKeyApp)
            self.apps[name] = app
        return self.apps[name]

    def enroll(
        self, username: str, kind: str, *, pin: str = "1234", number: str | None = None, activate: bool = True
    ) -> Enrolled:
        """Enroll a device of ``kind`` and (by default) activate it by answering with its emulator."""
        takes_pin = kind in _PIN_KINDS
        enrollment = self.client.enroll(username, kind, pin=pin if takes_pin else None, number=number)
        device_id = enrollment.device.id
        if kind == DeviceKind.IB_KEY.value:
            assert enrollment.device.number is not None
            app = self.app()
            provisioning = None
            if activate:
                token = self._latest_code(enrollment.device.number)
                activation = app.begin_activation(username, token, pin=pin)
                provisioning = self.client.activate_ib_key(activation)
                app.complete_activation(username, provisioning)
            return Enrolled(username, kind, device_id, app, pin, enrollment, provisioning)
        assert enrollment.provisioning is not None
        if kind == DeviceKind.PHONE.value:
            assert enrollment.provisioning.number is not None
            device: Device = self.phone(enrollment.provisioning.number)
        else:
            device = create(enrollment.provisioning, clock=self.clock, rng=self.rng)
        enrolled = Enrolled(
            username, kind, device_id, device, pin if takes_pin else None, enrollment, enrollment.provisioning
        )
        if activate:
            challenge = self.client.start_activation(device_id)
            self.client.finish_activation(device_id, challenge.id, self.answer(enrolled, challenge))
        return enrolled

    def enroll_all(
        self, username: str, kinds: Iterable[str] = ALL_KINDS, *, pin: str = "1234"
    ) -> list[Enrolled]:
        """Enroll and activate one device of every kind in ``kinds`` (returned in that order).

        The online card is enrolled after the permanent devices: activating one ends it.
        """
        wanted = list(kinds)
        order = sorted(range(len(wanted)), key=lambda i: wanted[i] == DeviceKind.ONLINE_SCC.value)
        enrolled = {i: self.enroll(username, wanted[i], pin=pin) for i in order}
        return [enrolled[i] for i in range(len(wanted))]

    def answer(self, enrolled: Enrolled, challenge: ChallengeView) -> str:
        """What the user types for ``challenge`` with the emulator.

        For ``push`` and ``qr`` there is nothing to type: the app signs a decision, which is sent to
        the server here, and the text returned describes it.
        """
        device = enrolled.device
        form = challenge.challenge.form
        mode = challenge.mode
        if form is ChallengeForm.PUSH:
            decision = self._approve(enrolled, challenge)
            return f"signed {'approval' if decision.approved else 'denial'}"
        if mode in ("sms", "voice", "token"):
            assert isinstance(device, Phone)
            return self._latest_code(device.number)
        if isinstance(device, IbKeyApp):
            if mode == "code":
                return device.time_code(enrolled.username, pin=enrolled.pin)
            question = challenge.challenge.question
            assert question is not None
            return device.respond(enrolled.username, question, pin=enrolled.pin)
        if isinstance(device, PrintedCard) and form is ChallengeForm.GRID:
            return device.answer(challenge.challenge.indices)
        if isinstance(device, DigitalSecurityCard) and form is ChallengeForm.CODE:
            assert enrolled.pin is not None
            return device.code(enrolled.pin)
        if isinstance(device, OcraKeypadDevice) and form is ChallengeForm.NUMERIC:
            assert challenge.challenge.question is not None
            assert enrolled.pin is not None
            return device.respond(challenge.challenge.question, enrolled.pin)
        raise InvalidParameter(f"the harness cannot answer a {form.value} challenge with a {enrolled.kind}")

    def _approve(self, enrolled: Enrolled, challenge: ChallengeView) -> PushDecision:
        app = enrolled.device
        assert isinstance(app, IbKeyApp)
        if challenge.mode == "qr":
            assert challenge.qr is not None
            decision = app.scan_qr(challenge.qr, pin=enrolled.pin)
        else:
            registration = app.key_id(enrolled.username)
            for request in self.client.push_requests(registration, app.listing_auth(registration)):
                app.receive_push(request)
            decision = app.approve(challenge.id, pin=enrolled.pin)
        self.client.decide(decision, app.decision_auth(decision.key_id))
        return decision

    def login(
        self,
        username: str,
        password: str,
        enrolled: Enrolled,
        *,
        mode: str | None = None,
        platform: str = "portal",
    ) -> LoginResult:
        """A whole login with one device: password, challenge, answer, session."""
        started = self.client.login(username, password, platform=platform)
        challenge = self.client.challenge(started.login_id, enrolled.device_id, mode=mode)
        answer = self.answer(enrolled, challenge)
        typed = None if challenge.challenge.form is ChallengeForm.PUSH else answer
        grant = self.client.answer(started.login_id, challenge.id, typed)
        return LoginResult(challenge, answer, grant)
