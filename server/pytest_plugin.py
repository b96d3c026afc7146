"""The tokensim pytest plugin: a verification server, users with emulated devices, a clock to move.

Installed with tokensim as the ``tokensim`` plugin (a ``pytest11`` entry point), so every test run in
the environment can ask for its fixtures; nothing starts until a test uses one. Turn it off with
``-p no:tokensim``.

One in-process server per test session, emptied before each test that uses it (users, devices,
challenges, sessions, outbox, audit log) with its clock set back to the start::

    def test_login(tokensim_user, tokensim_clock):
        alice = tokensim_user(devices=["dsc-plus", "scc"])
        result = alice.login("dsc-plus")            # password, challenge, the emulator's answer
        assert "trading" in result.grant.scope
        tokensim_clock.advance(301)                 # no sleeping: the server's time moves

==============================  ==========================================================================
fixture                         what
==============================  ==========================================================================
``tokensim``                    the server for this test (:class:`TokensimServer`): client, clock, users,
                                outbox and audit assertions, the request journal
``tokensim_user``               a factory: ``tokensim_user(devices=[...])`` -> :class:`TokensimUser`
``tokensim_client``             a :class:`~tokensim.server.client.TokensimClient` with the support token
``tokensim_clock``              the server's and the emulators' :class:`~tokensim.protocol.clock.FixedClock`
``tokensim_url``                the same server on a real socket, for code that speaks HTTP itself
``tokensim_support_token``      the support API's bearer token
``tokensim_server``             the session-scoped server, not reset (for fixtures of your own)
``tokensim_config``             the session's :class:`~tokensim.server.config.ServerConfig`; override it
==============================  ==========================================================================

Settings in the ini file (``[tool.pytest.ini_options]`` or ``pytest.ini``), each overridable per test
with ``@pytest.mark.tokensim(...)`` (the same names without ``tokensim_``):

=========================================  =======  ===================================================
key                                        default  what
=========================================  =======  ===================================================
``tokensim_strict``                        false    every check below
``tokensim_require_answered_challenges``   false    fail a test that left a challenge it caused with no
                                                    answer at all (a wrong answer counts: the test saw
                                                    the refusal; ``tokensim.leave_unanswered(challenge)``
                                                    excuses one left open on purpose)
``tokensim_fail_on_server_error``          true     fail a test during which the server answered a 5xx
``tokensim_start_time``                    (start)  Unix seconds the clock starts at in every test
                                                    (default: the session's start, in whole minutes)
``tokensim_config``                        (none)   a TOML file of server settings, as for ``serve``
=========================================  =======  ===================================================

The server hashes passwords with a cheap argon2 cost and keeps its database, master key and support
token in a temporary folder: it is a test double, never a place for real secrets.

This is one of the server's harness modules: it imports :mod:`tokensim.emulators` (lazily, so loading
the plugin costs nothing until a fixture is used).
"""

from __future__ import annotations

import itertools
import math
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from tokensim.emulators import Device
    from tokensim.protocol.clock import FixedClock
    from tokensim.server.client import TokensimClient
    from tokensim.server.config import ServerConfig
    from tokensim.server.service import Service
    from tokensim.server.testing.harness import Enrolled, Harness, LoginResult
    from tokensim.server.views import AuditRecord, ChallengeView, OutboxEntry

__all__ = [
    "DEFAULT_PASSWORD",
    "INI_SETTINGS",
    "LOGIN_EVENTS",
    "RequestRecord",
    "TokensimServer",
    "TokensimUser",
    "UserFactory",
    "pytest_addoption",
    "pytest_configure",
    "tokensim",
    "tokensim_client",
    "tokensim_clock",
    "tokensim_config",
    "tokensim_server",
    "tokensim_support_token",
    "tokensim_url",
    "tokensim_user",
]

#: The password of users made by ``tokensim_user`` unless a test gives one.
DEFAULT_PASSWORD = "correct horse battery staple"  # noqa: S105 - a test double's published default
#: Audit events that mean someone tried to log in (challenge events count when their purpose is a login,
#: not a device's activation).
LOGIN_EVENTS = ("login.password", "challenge.issued", "challenge.answer", "session.created")
#: The boolean ini keys and their defaults (the marker takes the same names without ``tokensim_``).
INI_SETTINGS: Mapping[str, bool] = {
    "tokensim_strict": False,
    "tokensim_require_answered_challenges": False,
    "tokensim_fail_on_server_error": True,
}
_INI_HELP = {
    "tokensim_strict": "tokensim: turn on every strictness check",
    "tokensim_require_answered_challenges": "tokensim: fail a test that leaves a challenge unanswered",
    "tokensim_fail_on_server_error": "tokensim: fail a test during which the server answered a 5xx",
}
_MARKER_KEYS = frozenset({"start_time", *(name.removeprefix("tokensim_") for name in INI_SETTINGS)})
_PIN_KINDS = frozenset({"dsc", "dsc-plus", "gold", "platinum"})


# -- hooks -------------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the plugin's ini keys."""
    for name, default in INI_SETTINGS.items():
        parser.addini(name, _INI_HELP[name], type="bool", default=default)
    parser.addini(
        "tokensim_start_time",
        "tokensim: Unix seconds the server's clock starts at in every test (default: the session's start)",
        default="",
    )
    parser.addini("tokensim_config", "tokensim: a TOML file of server settings", default="")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``tokensim`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        "tokensim(strict=None, require_answered_challenges=None, fail_on_server_error=None, "
        "start_time=None): tokensim settings for this test, over the ini file's",
    )


# -- the request journal -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the server answered during the test.

    Attributes:
        method: the HTTP method.
        path: the path, without the query.
        status: the response status (500 when the app failed before answering).
    """

    method: str
    path: str
    status: int


class _Journal:
    """ASGI middleware that records every request's method, path and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.records: list[RequestRecord] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def recording_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                # Recorded before the client can see the response, so a test reading the journal
                # right after its request finds it there.
                started = True
                self.records.append(RequestRecord(scope["method"], scope["path"], int(message["status"])))
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        except BaseException:
            if not started:
                self.records.append(RequestRecord(scope["method"], scope["path"], 500))
            raise


class _LiveServer:
    """The app on a loopback socket, served by uvicorn in a daemon thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        host, port = self._socket.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        # No lifespan: the app's shutdown would close the service the in-process client still uses.
        config = uvicorn.Config(app, lifespan="off", log_level="warning", server_header=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="tokensim-live", daemon=True
        )
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the tokensim live server did not start; see the log above")
            time.sleep(0.005)

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join()
        self._socket.close()


# -- users -------------------------------------------------------------------------------------------


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


# -- the server --------------------------------------------------------------------------------------


class TokensimServer:
    """The in-process test server: the ``tokensim`` fixture's value.

    Attributes:
        config: the server's configuration.
        service: the server's operations (for checks beyond the API).
        clock: the clock of the server and the emulators; tests move it.
        support_token: the support API's bearer token.
        client: an in-process client with the support token.
        start_time: where the clock starts in each test.
    """

    def __init__(self, config: ServerConfig, *, start_time: float) -> None:
        from tokensim.protocol.clock import FixedClock
        from tokensim.server.client import TokensimClient
        from tokensim.server.core import load_support_token
        from tokensim.server.http.app import create_app

        environ: dict[str, str] = {}  # the developer's own TOKENSIM_* variables never leak in
        self.config = config
        self.start_time = start_time
        self.clock: FixedClock = FixedClock(start_time)
        app = create_app(config, clock=self.clock, environ=environ, ephemeral=True)
        self.service: Service = app.state.service
        self.support_token = load_support_token(config.token_path, environ=environ)
        self._journal = _Journal(app)
        self.client: TokensimClient = TokensimClient.in_process(
            self._journal, support_token=self.support_token
        )
        self._live: _LiveServer | None = None
        self._harness: Harness | None = None
        self._numbers = itertools.count(1)
        self._left_open: set[str] = set()

    # -- life cycle

    def reset(self, *, start_time: float | None = None) -> None:
        """Empty the database, set the clock back, forget the journal and the emulators."""
        from tokensim.server.storage.reset import reset_database

        reset_database(self.service.core.db)
        self.clock.set(self.start_time if start_time is None else start_time)
        self._journal.records.clear()
        self._harness = None
        self._numbers = itertools.count(1)
        self._left_open.clear()

    def close(self) -> None:
        """Stop the live server, if any, and close the database."""
        if self._live is not None:
            self._live.close()
        self.client.close()
        self.service.close()

    @property
    def url(self) -> str:
        """The server's base URL on a loopback socket (started on first use, kept for the session)."""
        if self._live is None:
            self._live = _LiveServer(self._journal)
        return self._live.url

    @property
    def harness(self) -> Harness:
        """The emulators of this test's users, driven through the client."""
        if self._harness is None:
            from tokensim.server.testing.harness import Harness

            self._harness = Harness(self.client, clock=self.clock)
        return self._harness

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request the server answered in this test, oldest first."""
        return list(self._journal.records)

    # -- users

    def _enroll(self, username: str, kind: str, *, pin: str, activate: bool) -> Enrolled:
        from tokensim.server.testing.harness import ALL_KINDS

        if kind not in ALL_KINDS:
            raise ValueError(f"unknown device kind {kind!r}; the kinds are {', '.join(ALL_KINDS)}")
        return self.harness.enroll(username, kind, pin=pin, activate=activate)

    def user(
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
        """Make a user with devices; see :class:`UserFactory` for the arguments."""
        kinds = [str(getattr(kind, "value", kind)) for kind in devices]
        repeated = sorted({kind for kind in kinds if kinds.count(kind) > 1})
        if repeated:
            raise ValueError(f"devices: {repeated} listed twice; add a second one with user.add_device(kind)")
        number = next(self._numbers)
        name = f"user{number}" if username is None else username
        numbers = (f"+1555{number:07d}",) if phones is None else tuple(phones)
        self.client.create_user(name, password, phones=numbers, equity=equity, jurisdiction=jurisdiction)
        made = TokensimUser(name, password, numbers, self.client, {}, self)
        for kind in kinds:
            made.devices[kind] = self._enroll(name, kind, pin=pin, activate=activate)
        return made

    # -- outbox

    def outbox(self, to: str | None = None) -> list[OutboxEntry]:
        """Every text and call sent in this test, oldest first, optionally to one number."""
        return self.client.outbox(to=to, limit=1000)

    def _find(self, channel: str, to: str | None, containing: str | None) -> OutboxEntry:
        __tracebackhide__ = True
        messages = self.outbox()
        for message in messages:
            if message.channel == channel and to in (None, message.to) and (containing or "") in message.text:
                return message
        wanted = " ".join(
            part
            for part in (
                f"an {channel.upper()}" if channel == "sms" else "a voice call",
                f"to {to}" if to else "",
                f"containing {containing!r}" if containing else "",
            )
            if part
        )
        sent = "; ".join(f"{m.channel} to {m.to}: {m.text!r}" for m in messages) or "nothing"
        raise AssertionError(f"expected {wanted}; the carrier sent {sent}")

    def assert_sms_sent(self, *, to: str | None = None, containing: str | None = None) -> OutboxEntry:
        """The first text matching; fails listing what was sent when there is none."""
        __tracebackhide__ = True
        return self._find("sms", to, containing)

    def assert_call_made(self, *, to: str | None = None, containing: str | None = None) -> OutboxEntry:
        """The first voice call matching; fails listing what was sent when there is none."""
        __tracebackhide__ = True
        return self._find("voice", to, containing)

    def assert_nothing_sent(self, *, to: str | None = None) -> None:
        """Fail if any text or call went out in this test (to ``to``, when given)."""
        __tracebackhide__ = True
        messages = self.outbox(to)
        if messages:
            sent = "; ".join(f"{m.channel} to {m.to}: {m.text!r}" for m in messages)
            raise AssertionError(
                f"expected no text or call{f' to {to}' if to else ''}; the carrier sent {sent}"
            )

    # -- audit log

    def audit(self, *, username: str | None = None, event: str | None = None) -> list[AuditRecord]:
        """The audit events of this test, oldest first."""
        return self.client.audit(username=username, event=event, limit=1000)

    def assert_audited(
        self, event: str, *, username: str | None = None, outcome: str | None = None
    ) -> AuditRecord:
        """The first audit event matching; fails listing the events there are when none does."""
        __tracebackhide__ = True
        records = self.audit(username=username)
        for record in records:
            if record.event == event and outcome in (None, record.outcome):
                return record
        seen = ", ".join(f"{r.event}:{r.outcome}" for r in records) or "none"
        who = f" for {username}" if username else ""
        wanted = f"{event}" + (f" with outcome {outcome!r}" if outcome else "")
        raise AssertionError(f"expected the audit event {wanted}{who}; the log has {seen}")

    def assert_not_audited(self, event: str, *, username: str | None = None) -> None:
        """Fail if the audit log has ``event`` (for ``username``, when given)."""
        __tracebackhide__ = True
        found = [r for r in self.audit(username=username) if r.event == event]
        if found:
            who = f" for {username}" if username else ""
            listed = ", ".join(f"{r.username}:{r.outcome}" for r in found)
            raise AssertionError(f"expected no audit event {event}{who}; found {len(found)}: {listed}")

    def assert_no_login_attempts(self, username: str | None = None) -> None:
        """Fail if anyone (or ``username``) tried to log in during the test: password, challenge, answer."""
        __tracebackhide__ = True
        found = [
            r
            for r in self.audit(username=username)
            if r.event in LOGIN_EVENTS and r.detail.get("purpose", "login") == "login"
        ]
        if found:
            who = f" for {username}" if username else ""
            listed = ", ".join(f"{r.event}:{r.outcome} ({r.username})" for r in found)
            raise AssertionError(f"expected no login attempts{who}; the audit log has {listed}")

    def assert_login_succeeded(self, username: str) -> AuditRecord:
        """The session the user got; fails listing the user's login events when there is none."""
        __tracebackhide__ = True
        return self.assert_audited("session.created", username=username)

    # -- strictness

    def leave_unanswered(self, challenge: ChallengeView | Mapping[str, Any] | str) -> None:
        """Excuse one challenge from ``require_answered_challenges``: the test leaves it open on purpose.

        Args:
            challenge: the challenge (a view, the API's JSON object or its id).
        """
        if isinstance(challenge, str):
            self._left_open.add(challenge)
        elif isinstance(challenge, Mapping):
            self._left_open.add(str(challenge["id"]))
        else:
            self._left_open.add(challenge.id)

    def problems(self, *, require_answered_challenges: bool, fail_on_server_error: bool) -> list[str]:
        """What the strictness settings find wrong with the test that just ran.

        A 5xx is always a problem (a refusal the test provoked is a 4xx). A challenge is a problem when
        it is still open and nobody answered it at all: a test that typed a wrong answer and got the
        refusal did what it meant to, and so did one that called :meth:`leave_unanswered`.
        """
        found: list[str] = []
        if fail_on_server_error:
            found.extend(
                f"the tokensim server answered {r.status} to {r.method} {r.path}"
                for r in self._journal.records
                if r.status >= 500
            )
        if require_answered_challenges:
            from sqlalchemy import select

            from tokensim.server.storage.models import Challenge, Device, User

            with self.service.core.db.read() as session:
                rows = session.execute(
                    select(Challenge, Device.kind, User.username)
                    .join(Device, Device.id == Challenge.device_id)
                    .join(User, User.id == Challenge.user_id)
                    .where(Challenge.status == "open", Challenge.attempts == 0)
                    .order_by(Challenge.created_at)
                ).all()
            found.extend(
                f"challenge {challenge.id} ({challenge.mode}) for {username}'s {kind} was never answered"
                for challenge, kind, username in rows
                if challenge.id not in self._left_open
            )
        return found


# -- settings --------------------------------------------------------------------------------------


def _start_time(config: pytest.Config) -> float:
    text = str(config.getini("tokensim_start_time")).strip()
    if not text:
        return float(math.floor(time.time() / 60) * 60)
    try:
        return float(text)
    except ValueError as e:
        raise pytest.UsageError(f"tokensim_start_time must be Unix seconds, got {text!r}") from e


def _settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    settings: dict[str, Any] = {
        name.removeprefix("tokensim_"): bool(request.config.getini(name)) for name in INI_SETTINGS
    }
    marker = request.node.get_closest_marker("tokensim")
    if marker is not None:
        unknown = set(marker.kwargs) - _MARKER_KEYS
        if unknown or marker.args:
            raise pytest.UsageError(
                f"@pytest.mark.tokensim takes keyword arguments {sorted(_MARKER_KEYS)}, got "
                f"{sorted(unknown) or list(marker.args)}"
            )
        settings.update(marker.kwargs)
    if settings["strict"]:
        settings["require_answered_challenges"] = True
        settings["fail_on_server_error"] = True
    return settings


# -- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tokensim_config(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> ServerConfig:
    """The session server's configuration: the ini file's TOML, a temporary folder, cheap argon2.

    Override this fixture to change settings for a whole session (``device_max_failures``, ...).
    """
    from tokensim.server.config import Argon2Params, ServerConfig

    named = str(pytestconfig.getini("tokensim_config")).strip()
    base = ServerConfig()
    if named:
        path = Path(named)
        base = ServerConfig.from_toml(path if path.is_absolute() else pytestconfig.rootpath / path)
    return base.replace(
        data_dir=tmp_path_factory.mktemp("tokensim"),
        database_url=None,
        master_key_file=None,
        support_token_file=None,
        argon2=Argon2Params(time_cost=1, memory_kib=8, parallelism=1),
    )


@pytest.fixture(scope="session")
def tokensim_server(tokensim_config: ServerConfig, pytestconfig: pytest.Config) -> Iterator[TokensimServer]:
    """The session's in-process server, started on first use; not reset (``tokensim`` is)."""
    server = TokensimServer(tokensim_config, start_time=_start_time(pytestconfig))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def tokensim(tokensim_server: TokensimServer, request: pytest.FixtureRequest) -> Iterator[TokensimServer]:
    """The server, emptied and with its clock at the start; the strictness checks run after the test."""
    settings = _settings(request)
    start = settings.get("start_time")
    tokensim_server.reset(start_time=None if start is None else float(start))
    yield tokensim_server
    found = tokensim_server.problems(
        require_answered_challenges=bool(settings["require_answered_challenges"]),
        fail_on_server_error=bool(settings["fail_on_server_error"]),
    )
    if found:
        pytest.fail("tokensim: " + "; ".join(found), pytrace=False)


@pytest.fixture
def tokensim_user(tokensim: TokensimServer) -> UserFactory:
    """Make users with devices: ``tokensim_user(devices=["dsc-plus", "scc"])``."""
    return tokensim.user


@pytest.fixture
def tokensim_client(tokensim: TokensimServer) -> TokensimClient:
    """An in-process API client with the support token."""
    return tokensim.client


@pytest.fixture
def tokensim_clock(tokensim: TokensimServer) -> FixedClock:
    """The clock of the server and every emulator: ``tokensim_clock.advance(30)``."""
    return tokensim.clock


@pytest.fixture
def tokensim_url(tokensim: TokensimServer) -> str:
    """The server's base URL on a loopback socket (the same server and state as the other fixtures)."""
    return tokensim.url


@pytest.fixture
def tokensim_support_token(tokensim: TokensimServer) -> str:
    """The support API's bearer token (``Authorization: Bearer ...``)."""
    return tokensim.support_token
