"""Fixtures for the keypad tests: fixed devices on a fixed clock, and a small fake server.

:class:`FakeBackend` keeps the promises of
:class:`~tokensim.emulators.keypad.backend.PortalBackend` with the protocol functions alone (no HTTP,
no database), so the faces and snapshots do not depend on the server; the tests that run against the
real server use the adapter in ``tokensim.server.cli.keypad`` instead.
"""

from __future__ import annotations

import hmac
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from textual.pilot import Pilot
from textual.widgets import TabbedContent

from tokensim.emulators import Device, create
from tokensim.emulators.devices.ib_key import IbKeyApp
from tokensim.emulators.devices.phone import Phone
from tokensim.emulators.keypad.backend import (
    BackendError,
    CarrierMessage,
    Connection,
    DeviceChoice,
    IssuedChallenge,
    LoginResult,
    LoginStart,
)
from tokensim.emulators.keypad.device_view import KIND_NAMES
from tokensim.emulators.keypad.store import DeviceStore
from tokensim.protocol.cards import CardKind, CodeCard, normalize_answer
from tokensim.protocol.clock import FixedClock
from tokensim.protocol.messages import Challenge, ChallengeForm, PushDecision, PushRequest, Response
from tokensim.protocol.ocra import OcraSuite, ocra
from tokensim.protocol.otp import totp
from tokensim.protocol.phone_auth import RequestAuth
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind, IbKeyActivation, Provisioning

if TYPE_CHECKING:
    from tokensim.server.client import TokensimClient
    from tokensim.server.testing.harness import Harness

#: Every keypad test clock starts here: 2023-11-14 22:13:20 UTC.
START = 1_700_000_000.0
#: The terminal size of every keypad test and snapshot.
SIZE = (110, 40)
#: The user the fake server knows.
USERNAME = "alice"
PASSWORD = "correct horse"
#: The DSC+ PIN the fake server folds into its expected response.
PIN = "1234"


def provisionings() -> list[Provisioning]:
    """One fixed provisioning per keypad device kind (secrets are fixed test bytes)."""
    return [
        Provisioning(kind=DeviceKind.SCC, serial="SCC-1001", secret=bytes(range(16))),
        Provisioning(
            kind=DeviceKind.ONLINE_SCC, serial="OSC-1002", secret=bytes(range(1, 17)), issued_at=START - 86400
        ),
        Provisioning(kind=DeviceKind.DSC, serial="DSC-1003", secret=bytes(range(2, 22)), pin="2468"),
        Provisioning(kind=DeviceKind.DSC_PLUS, serial="P-1004", secret=bytes(range(3, 23))),
        Provisioning(kind=DeviceKind.GOLD, serial="G-1005", secret=bytes(range(4, 36))),
        Provisioning(kind=DeviceKind.PLATINUM, serial="PT-1006", secret=bytes(range(5, 69))),
    ]


@dataclass
class FakeBackend:
    """A verification server in memory; it knows :data:`USERNAME` and the devices it was given.

    Challenges are fixed (question ``"123456"``, indices 100 and 50) so that snapshots are stable.
    """

    devices: Sequence[Device]
    clock: FixedClock
    url: str = "http://fake.test"
    outboxes: dict[str, list[CarrierMessage]] = field(default_factory=dict)
    pending: list[PushRequest] = field(default_factory=list)
    decisions: list[PushDecision] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    _challenges: dict[str, tuple[Challenge, Device]] = field(default_factory=dict)
    _counters: dict[str, int] = field(default_factory=dict)
    _codes: dict[str, str] = field(default_factory=dict)

    def start_login(self, username: str, password: str) -> LoginStart:
        self.calls.append("start_login")
        if username != USERNAME or not hmac.compare_digest(password, PASSWORD):
            raise BackendError("wrong username or password")
        choices = tuple(
            DeviceChoice(d.serial, d.kind, f"{KIND_NAMES[d.kind]} {d.serial}") for d in self.devices
        )
        return LoginStart("login-1", username, choices)

    def _device(self, device_id: str) -> Device:
        for device in self.devices:
            if device.serial == device_id:
                return device
        raise BackendError("no such device")

    def challenge(self, login_id: str, device_id: str, *, mode: str | None = None) -> IssuedChallenge:
        self.calls.append("challenge")
        device = self._device(device_id)
        number = f"c{len(self._challenges) + 1}"
        expires = self.clock.now() + 300
        kind = device.kind
        if kind in ("scc", "online-scc"):
            challenge = Challenge(number, device_id, ChallengeForm.GRID, expires, indices=(100, 50))
        elif kind == "dsc":
            challenge = Challenge(number, device_id, ChallengeForm.CODE, expires)
        elif kind == "phone":
            code = "246810"
            channel = mode or "sms"
            to = device.provisioning.number or ""
            text = f"Your tokensim code is {code}" if channel == "sms" else f"Your code is {', '.join(code)}"
            self._codes[number] = code
            seq = sum(len(box) for box in self.outboxes.values()) + 1
            message = CarrierMessage(seq, f"m{seq}", to, channel, "TOKENSIM", text, self.clock.now())
            self.outboxes.setdefault(to, []).append(message)
            challenge = Challenge(number, device_id, ChallengeForm.OOB, expires, channel=channel)
        else:
            challenge = Challenge(number, device_id, ChallengeForm.NUMERIC, expires, question="123456")
        self._challenges[number] = (challenge, device)
        return IssuedChallenge(challenge, mode or challenge.form.value)

    def answer(self, login_id: str, response: Response) -> LoginResult:
        self.calls.append("answer")
        challenge, device = self._challenges.pop(response.challenge_id)
        p = device.provisioning
        if challenge.form is ChallengeForm.GRID:
            kind = CardKind.ONLINE if device.kind == "online-scc" else CardKind.SECURITY_CODE_CARD
            expected = CodeCard(p.secret, kind).expected_answer(challenge.indices)
        elif challenge.form is ChallengeForm.CODE:
            expected = totp(p.secret, self.clock.now(), step=p.step, digits=p.digits, algorithm=p.algorithm)
        elif challenge.form is ChallengeForm.OOB:
            expected = self._codes[challenge.id]
        else:
            suite = OcraSuite.parse(p.suite or DEFAULT_SUITES[DeviceKind(device.kind)])
            counter = self._counters.get(device.serial, 0)
            expected = ocra(
                suite,
                p.secret,
                challenge.question or "",
                counter=counter if suite.counter else None,
                pin=PIN if suite.pin_algorithm is not None else None,
                timestamp=self.clock.now() if suite.time_step is not None else None,
            )
            self._counters[device.serial] = counter + 1
        if not hmac.compare_digest(normalize_answer(response.answer), expected):
            raise BackendError("wrong answer")
        return LoginResult(USERNAME, ("trading", "portal"), device.kind)

    def push_result(self, login_id: str, challenge_id: str) -> LoginResult | None:
        self.calls.append("push_result")
        return None

    def outbox(self, number: str, *, after: int = 0) -> Sequence[CarrierMessage]:
        self.calls.append("outbox")
        return [m for m in self.outboxes.get(number, []) if m.seq > after]

    def pending_pushes(self, username: str, key_id: str, auth: RequestAuth) -> Sequence[PushRequest]:
        self.calls.append("pending_pushes")
        return [r for r in self.pending if r.username == username]

    def decide_push(self, decision: PushDecision, auth: RequestAuth) -> None:
        self.calls.append("decide_push")
        self.decisions.append(decision)
        self.pending = [r for r in self.pending if r.id != decision.request_id]

    def activate_ib_key(self, activation: IbKeyActivation) -> Provisioning:
        self.calls.append("activate_ib_key")
        raise BackendError("activation is not part of the fake server")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def keypad_clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def devices(keypad_clock: FixedClock) -> list[Device]:
    return [create(p, clock=keypad_clock) for p in provisionings()]


@pytest.fixture
def store(devices: list[Device]) -> DeviceStore:
    return DeviceStore(devices)


@pytest.fixture
def fake_backend(devices: list[Device], keypad_clock: FixedClock) -> FakeBackend:
    return FakeBackend(devices, keypad_clock)


@pytest.fixture
def fake_connection(fake_backend: FakeBackend) -> Connection:
    return Connection(fake_backend.url, backend=fake_backend)


async def show_tab(pilot: Pilot[None], tab_id: str) -> None:
    """Click a tab's label, as a person would, and wait until its pane is laid out."""
    assert await pilot.click(f"#--content-tab-{tab_id}")
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    assert pilot.app.query_one(TabbedContent).active == tab_id


async def settle(pilot: Pilot[None]) -> None:
    """Wait until every server call has finished and its outcome is on the screen."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def activated_ib_key(clock: FixedClock) -> IbKeyApp:
    """An IB Key app with user alice activated (fixed keys from a seeded RNG), without a server."""
    app = create(Provisioning(kind=DeviceKind.IB_KEY, serial="phone-1"), clock=clock, rng=random.Random(6))
    assert isinstance(app, IbKeyApp)
    app.begin_activation(USERNAME, "ACT-TOKEN", pin=PIN)
    reply = Provisioning(
        kind=DeviceKind.IB_KEY, serial="reg-1", secret=bytes(range(32)), totp_secret=bytes(range(20))
    )
    app.complete_activation(USERNAME, reply)
    return app


def login_request(clock: FixedClock) -> PushRequest:
    """A fixed push request for alice's login."""
    return PushRequest(
        id="push-1",
        username=USERNAME,
        action="login",
        origin="203.0.113.7",
        nonce="00" * 16,
        expires_at=clock.now() + 120,
        details={"platform": "portal"},
    )


def phone_with_messages(clock: FixedClock) -> Phone:
    """A phone with an opened SMS and a newer, unread voice call."""
    phone = create(
        Provisioning(kind=DeviceKind.PHONE, serial="handset-1", number="+15551230001"), clock=clock
    )
    assert isinstance(phone, Phone)
    first = phone.receive_sms("TOKENSIM", "Your tokensim code is 407119. It expires in 10 minutes.")
    phone.read_message(first.id)
    clock.advance(150)
    phone.receive_call("TOKENSIM", "Your tokensim code is 5, 2, 8, 0, 3, 1. Again: 5, 2, 8, 0, 3, 1.")
    return phone


# A real server in this process, for the tests that log in through ``tokensim.server.cli.keypad``.
# The server is imported inside the fixtures, so the face and snapshot tests never load it.

#: The user the in-process server is given, with a verified phone and enough equity for a DSC+.
SERVER_USER = "alice"
SERVER_PASSWORD = "correct horse battery staple"
SERVER_NUMBER = "+15551230001"
SERVER_PIN = "1234"


@pytest.fixture
def server_clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def client(tmp_path: Path, server_clock: FixedClock) -> Iterator[TokensimClient]:
    from tokensim.server.client import TokensimClient
    from tokensim.server.config import Argon2Params, ServerConfig
    from tokensim.server.core import load_support_token
    from tokensim.server.http.app import create_app

    # Cheap argon2 through the configuration only, as the server's own tests do.
    cheap = Argon2Params(time_cost=1, memory_kib=8, parallelism=1)
    config = ServerConfig(data_dir=tmp_path / "data", argon2=cheap)
    app = create_app(config, clock=server_clock, environ={})
    token = load_support_token(config.token_path, environ={})
    try:
        with TokensimClient.in_process(app, support_token=token) as made:
            yield made
    finally:
        app.state.service.close()


@pytest.fixture
def harness(client: TokensimClient, server_clock: FixedClock) -> Harness:
    from tokensim.server.testing.harness import Harness

    client.create_user(SERVER_USER, SERVER_PASSWORD, phones=[SERVER_NUMBER], equity=2_000_000)
    return Harness(client, clock=server_clock)


@pytest.fixture
def connection(client: TokensimClient) -> Connection:
    from tokensim.server.cli.keypad import ClientBackend

    return Connection("http://tokensim.local", backend=ClientBackend(client, "http://tokensim.local"))
