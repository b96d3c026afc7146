"""Opt-out and opt-in, IP restrictions, penny stocks, closed accounts, SLS-device actions and deposits."""

from __future__ import annotations

import pytest

from tokensim.server.client import TokensimClient
from tokensim.server.testing.harness import Harness
from tokensim.server.verify import FULL_SCOPE

from .conftest import PASSWORD
from .sls_helpers import problem, session, static_login, step_up, temporary_passcode


def test_opted_out_users_trade_without_a_second_factor_while_the_portal_still_asks(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    token = session(harness, alice, card)
    assert client.opt_out(token).sls_opted_out
    for platform in ("trading", "mobile"):
        started = client.login(alice, PASSWORD, platform=platform)
        assert started.session is not None
        assert (started.session.scope, started.devices) == (("trading",), ())
        assert client.session(started.session.token).scope == ("trading",)
        assert (
            problem(lambda s=started.session.token: client.withdraw(s, "1.00")).code == "insufficient-scope"
        )  # type: ignore[misc]
    portal = client.login(alice, PASSWORD)
    assert portal.session is None
    assert [d.kind for d in portal.devices] == ["scc"]
    assert not client.opt_in(token).sls_opted_out
    assert client.login(alice, PASSWORD, platform="trading").session is None


@pytest.mark.parametrize("jurisdiction", ["HK", "IN"])
def test_hong_kong_and_india_accounts_cannot_opt_out(
    client: TokensimClient, harness: Harness, jurisdiction: str
) -> None:
    client.create_user(
        "hana", PASSWORD, phones=["+15551230009"], jurisdiction=jurisdiction, start_with_sms=False
    )
    card = harness.enroll("hana", "scc")
    refused = problem(lambda: client.opt_out(session(harness, "hana", card)))
    assert (refused.status, refused.code) == (403, "opt-out-not-allowed")
    assert not client.user("hana").sls_opted_out


def test_only_the_primary_user_changes_security_settings(client: TokensimClient, harness: Harness) -> None:
    client.create_user("trader", PASSWORD, primary_user=False)
    card = harness.enroll("trader", "scc")
    token = session(harness, "trader", card)
    for action in (
        lambda: client.opt_out(token),
        lambda: client.opt_in(token),
        lambda: client.set_ip_restrictions(token, ["203.0.113.7"]),
        lambda: client.set_penny_stocks(token, True),
    ):
        assert problem(action).code == "not-primary-user"
    assert client.security(token).ip_restrictions == ()


def test_penny_stocks_need_ip_restrictions_when_opted_out(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    token = session(harness, alice, card)
    assert client.set_penny_stocks(token, True).penny_stocks  # opted in: allowed
    assert problem(lambda: client.opt_out(token)).code == "ip-restrictions-required"
    client.set_penny_stocks(token, False)
    client.opt_out(token)
    refused = problem(lambda: client.set_penny_stocks(token, True))
    assert (refused.status, refused.code) == (409, "ip-restrictions-required")
    client.set_ip_restrictions(token, ["127.0.0.1", "203.0.113.7"])
    settings = client.set_penny_stocks(token, True)
    assert (settings.penny_stocks, settings.ip_restrictions) == (True, ("127.0.0.1", "203.0.113.7"))
    assert problem(lambda: client.set_ip_restrictions(token, [])).code == "ip-restrictions-required"
    assert problem(lambda: client.set_ip_restrictions(token, ["not-an-ip"])).code == "invalid-request"


def test_ip_restrictions_apply_to_trading_logins_only(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    token = session(harness, alice, card)
    client.set_ip_restrictions(token, ["203.0.113.7"])
    refused = problem(lambda: client.login(alice, PASSWORD, platform="trading"))
    assert (refused.status, refused.code) == (403, "ip-restricted")
    assert client.login(alice, PASSWORD).login_id  # the portal is not restricted
    client.set_ip_restrictions(token, ["127.0.0.1"])  # the in-process client's address
    assert session(harness, alice, card, platform="trading")


def test_a_closed_account_reaches_statements_with_the_password_alone(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    harness.enroll(alice, "scc")
    assert client.close_account(alice).status == "closed"
    for platform in ("portal", "trading"):
        started = client.login(alice, PASSWORD, platform=platform)
        assert started.session is not None
        assert (started.session.scope, started.devices, started.session.device_kind) == (
            ("statements",),
            (),
            None,
        )
    assert problem(lambda: client.login(alice, "wrong password")).code == "invalid-credentials"
    token = client.login(alice, PASSWORD).session.token  # type: ignore[union-attr]
    assert problem(lambda: client.withdraw(token, "1.00")).code == "insufficient-scope"
    assert client.security(token).username == alice


def test_email_and_bank_changes_need_an_sls_device(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    phone, card = harness.enroll(alice, "phone"), harness.enroll(alice, "scc")
    token = session(harness, alice, phone)
    refused = problem(lambda: client.step_up(token, phone.device_id, "email"))
    assert (refused.status, refused.code) == (403, "sls-device-required")
    challenge_id, answer = step_up(client, harness, token, card, "email")
    assert client.change_email(token, "alice@example.com", challenge_id, answer).email == "alice@example.com"
    challenge_id, answer = step_up(client, harness, token, card, "bank")
    assert client.change_bank_instructions(
        token, "IBAN DE00 1234", challenge_id, answer
    ).bank_instructions_set
    replay = problem(lambda: client.change_email(token, "mallory@example.com", challenge_id, answer))
    assert replay.code == "not-found"  # a bank answer is not an email answer
    assert client.security(token).email == "alice@example.com"
    assert problem(lambda: client.step_up(token, card.device_id, "transfer")).code == "invalid-request"


def test_a_temporary_passcode_changes_no_information(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    harness.enroll(alice, "scc")
    device_id, passcode = temporary_passcode(client, alice)
    grant = static_login(client, alice, device_id, passcode)
    assert grant.scope == FULL_SCOPE
    refused = problem(lambda: client.change_email(grant.token, "a@example.com", "x", "y"))
    assert refused.code == "temporary-access"
    assert problem(lambda: client.opt_out(grant.token)).code == "temporary-access"


def test_ach_and_eft_deposits_beyond_20000_need_an_sls_device(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    phone = harness.enroll(alice, "phone")
    token = session(harness, alice, phone)
    assert client.deposit(token, "15000.00", "ach").ach_eft_total_usd == "15000.00"
    assert client.deposit(token, "5000.00", "eft").ach_eft_total_usd == "20000.00"  # exactly at the threshold
    refused = problem(lambda: client.deposit(token, "0.01", "ach"))
    assert (refused.status, refused.code) == (403, "sls-device-required")
    assert client.deposit(token, "1000000.00", "wire").ach_eft_total_usd == "20000.00"
    harness.enroll(alice, "scc")
    assert client.deposit(token, "0.01", "ach").ach_eft_total_usd == "20000.01"
    assert problem(lambda: client.deposit(token, "5.00", "cash")).code == "invalid-request"
