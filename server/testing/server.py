"""The in-process test server the ``tokensim`` fixture hands out: client, clock, users and assertions.

:class:`TokensimServer` builds the app around a fixed clock and an in-process client, empties its
database between tests, makes users with emulated devices (:mod:`tokensim.server.testing.users`),
asserts on the outbox and the audit log, and finds what the strictness settings fail a test for.

The app, the database and the emulators are imported when a server is made, not when this module is
loaded: the pytest plugin imports it in every run of the environment.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tokensim.server.testing.asgi import Journal, LiveServer, RequestRecord
from tokensim.server.testing.users import DEFAULT_PASSWORD, TokensimUser

if TYPE_CHECKING:
    from tokensim.protocol.clock import FixedClock
    from tokensim.server.client import TokensimClient
    from tokensim.server.config import ServerConfig
    from tokensim.server.service import Service
    from tokensim.server.testing.harness import Enrolled, Harness
    from tokensim.server.views import AuditRecord, ChallengeView, OutboxEntry

__all__ = ["LOGIN_EVENTS", "TokensimServer"]

#: Audit events that mean someone tried to log in (challenge events count when their purpose is a login,
#: not a device's activation).
LOGIN_EVENTS = ("login.password", "challenge.issued", "challenge.answer", "session.created")


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
        self._journal = Journal(app)
        self.client: TokensimClient = TokensimClient.in_process(
            self._journal, support_token=self.support_token
        )
        self._live: LiveServer | None = None
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
            self._live = LiveServer(self._journal)
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
