"""Sessions follow the account: every request checks its session against the account, the device that
opened it and the temporary-passcode stage; support actions end sessions in their own transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tokensim.protocol.clock import FixedClock
from tokensim.server.client import TokensimClient
from tokensim.server.config import ServerConfig
from tokensim.server.hashing import token_digest
from tokensim.server.storage.db import Database
from tokensim.server.storage.models import Session
from tokensim.server.testing.harness import Harness
from tokensim.server.verify import FULL_SCOPE

from .conftest import PASSWORD
from .sls_helpers import problem, session, static_login, temporary_passcode

DAY = 86400.0


def _revoked_at(config: ServerConfig, token: str) -> float | None:
    """The stored end of a session (``None`` while it is open), read straight from the database."""
    database = Database(config.database)
    try:
        with database.read() as db:
            return db.scalar(select(Session.revoked_at).where(Session.token_digest == token_digest(token)))
    finally:
        database.dispose()


def _refused_everywhere(client: TokensimClient, token: str) -> None:
    """Every kind of authenticated request with ``token`` answers 401."""
    for action in (
        lambda: client.session(token),
        lambda: client.withdraw(token, "5.00"),
        lambda: client.deposit(token, "5.00", "ach"),
        lambda: client.security(token),
        lambda: client.withdrawal_limits(token),
    ):
        refused = problem(action)
        assert (refused.status, refused.code) == (401, "unauthorized")


@pytest.mark.parametrize("condition", ["lost", "damaged"])
def test_reporting_the_device_ends_its_sessions_at_once(
    config: ServerConfig,
    client: TokensimClient,
    harness: Harness,
    clock: FixedClock,
    alice: str,
    condition: str,
) -> None:
    card = harness.enroll(alice, "scc")
    other = harness.enroll(alice, "dsc-plus")
    token = session(harness, alice, card)
    kept = session(harness, alice, other)
    assert client.session(token).scope == FULL_SCOPE
    clock.advance(5)
    client.report(card.device_id, condition)
    _refused_everywhere(client, token)
    # Ended in the report's own transaction, with an audit row; the other device's session stays.
    assert _revoked_at(config, token) == clock.now()
    assert _revoked_at(config, kept) is None
    assert client.session(kept).scope == FULL_SCOPE
    ended = client.audit(event="session.ended")
    assert [(e.detail["reason"], e.detail["sessions"], e.device_id) for e in ended] == [
        ("device-reported", 1, card.device_id)
    ]


def test_revoking_or_replacing_the_device_ends_its_sessions(
    config: ServerConfig, client: TokensimClient, harness: Harness, alice: str
) -> None:
    card, dsc = harness.enroll(alice, "scc"), harness.enroll(alice, "dsc-plus")
    revoked, replaced = session(harness, alice, card), session(harness, alice, dsc)
    client.revoke(card.device_id)
    _refused_everywhere(client, revoked)
    assert _revoked_at(config, revoked) is not None
    assert client.session(replaced).scope == FULL_SCOPE
    client.enroll(alice, "dsc-plus", pin="1234", replaces=dsc.device_id)
    _refused_everywhere(client, replaced)
    assert _revoked_at(config, replaced) is not None
    assert [e.detail["reason"] for e in client.audit(event="session.ended")] == [
        "device-revoked",
        "device-replaced",
    ]


def test_closing_the_account_ends_its_sessions_and_statements_still_open(
    config: ServerConfig, client: TokensimClient, harness: Harness, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    tokens = [session(harness, alice, card) for _ in range(2)]
    client.close_account(alice)
    for token in tokens:
        _refused_everywhere(client, token)
        assert _revoked_at(config, token) is not None
    # A session opened after the close is the statements session the closed account still has.
    started = client.login(alice, PASSWORD)
    assert started.session is not None
    assert client.session(started.session.token).scope == ("statements",)
    assert client.security(started.session.token).username == alice


def test_a_device_put_back_to_pending_stops_its_sessions(
    config: ServerConfig, client: TokensimClient, harness: Harness, alice: str
) -> None:
    # Issuing a temporary passcode puts the permanent devices back to pending: no write touches the
    # sessions, so only the per-request check stops them.
    card = harness.enroll(alice, "scc")
    token = session(harness, alice, card)
    temporary_passcode(client, alice)
    assert _revoked_at(config, token) is None
    _refused_everywhere(client, token)


def test_a_temporary_passcode_session_loses_its_full_scope_when_the_stage_ends(
    client: TokensimClient, clock: FixedClock, alice: str
) -> None:
    device_id, passcode = temporary_passcode(client, alice)
    clock.advance(2 * DAY - 60)
    grant = static_login(client, alice, device_id, passcode)
    assert grant.scope == FULL_SCOPE
    assert client.session(grant.token).scope == FULL_SCOPE
    clock.advance(60)  # the full stage ends while the session lasts (12 hours)
    assert client.session(grant.token).scope == ("card-printing",)
    # A trading platform's request needs ``trading``: refused now.
    refused = problem(lambda: client.withdrawal_limits(grant.token))
    assert (refused.status, refused.code) == (403, "insufficient-scope")
    assert client.online_card(grant.token).card is not None  # what card printing is for


def test_a_temporary_passcode_session_ends_with_the_passcode(
    client: TokensimClient, clock: FixedClock, alice: str, config: ServerConfig
) -> None:
    device_id, passcode = temporary_passcode(client, alice)
    # An hour before the card-printing stage ends.
    clock.advance(config.temporary_full_access + config.temporary_card_printing - 3600)
    grant = static_login(client, alice, device_id, passcode)
    assert grant.scope == ("card-printing",)
    clock.advance(3600)
    _refused_everywhere(client, grant.token)


def test_logging_out_everywhere_ends_every_session_of_the_user_only(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    mine = [session(harness, alice, card) for _ in range(3)]
    client.create_user("bob", PASSWORD, start_with_sms=False)
    bobs_card = harness.enroll("bob", "scc")
    bobs = session(harness, "bob", bobs_card)
    client.logout(mine[0])  # one session only
    _refused_everywhere(client, mine[0])
    assert client.session(mine[1]).username == alice
    response = client.request("DELETE", "/v1/session", params={"all": "true"}, token=mine[1])
    assert response.status_code == 204
    for token in mine:
        _refused_everywhere(client, token)
    assert client.session(bobs).username == "bob"
    everywhere = [e for e in client.audit(event="session.ended") if e.detail]
    assert [(e.detail["reason"], e.detail["sessions"]) for e in everywhere] == [("logout-everywhere", 2)]
    assert problem(lambda: client.logout(mine[1], everywhere=True)).code == "unauthorized"
