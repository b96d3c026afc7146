"""Withdrawals: a fresh answer from a chosen device, that device's limits per day and per 5 business days.

Each limit is tested exactly at it, a cent past it, a second before and at the midnight that frees
it, across a weekend; concurrent withdrawals never pass a limit together (SQLite and PostgreSQL).
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest

from tokensim.emulators.printed_card import PrintedCard
from tokensim.protocol.clock import FixedClock
from tokensim.server.client import TokensimClient
from tokensim.server.config import ServerConfig, WithdrawalLimit
from tokensim.server.errors import LimitExceeded
from tokensim.server.service import Service
from tokensim.server.testing.harness import Harness

from .conftest import PASSWORD, PHONE, fast_config
from .race_helpers import (
    THREADS,
    enroll,
    race,
    two_services,  # noqa: F401 - the ``services`` fixture
)
from .sls_helpers import (
    at,
    in_process_client,
    problem,
    session,
    static_login,
    step_up,
    temporary_passcode,
    withdraw,
)

TUESDAY = "2024-01-09"
LIMITED = [
    ("phone", "200000.00", "600000.00"),
    ("scc", "200000.00", "600000.00"),
    ("online-scc", "200000.00", "600000.00"),
    ("ib-key", "200000.00", "600000.00"),
    ("dsc", "1000000.00", "1500000.00"),
]


@pytest.mark.parametrize(("kind", "per_day", "per_window"), LIMITED)
def test_a_device_withdraws_exactly_its_daily_limit_and_not_a_cent_more(
    client: TokensimClient,
    harness: Harness,
    clock: FixedClock,
    alice: str,
    kind: str,
    per_day: str,
    per_window: str,
) -> None:
    clock.set(at(f"{TUESDAY} 10:00:00"))
    device = harness.enroll(alice, kind)
    clock.advance(30)  # a TOTP step answers once; activation used this one
    token = session(harness, alice, device)
    clock.advance(30)
    receipt = withdraw(client, harness, token, device, per_day)
    assert (receipt.device_kind, receipt.amount_usd) == (kind, per_day)
    assert receipt.remaining.per_day_usd == per_day
    assert receipt.remaining.per_window_usd == per_window
    assert receipt.remaining.remaining_day_usd == "0.00"
    clock.advance(30)
    refused = problem(lambda: withdraw(client, harness, token, device, "0.01"))
    assert (refused.status, refused.code) == (403, "limit-exceeded")
    assert refused.body["remaining"]["remaining_day_usd"] == "0.00"
    assert [r.device_kind for r in client.withdrawal_limits(token)] == [kind]


@pytest.mark.parametrize("kind", ["dsc-plus", "gold", "platinum"])
def test_dsc_plus_gold_and_platinum_have_no_limit(
    client: TokensimClient, harness: Harness, alice: str, kind: str
) -> None:
    device = harness.enroll(alice, kind)
    token = session(harness, alice, device)
    for _ in range(3):
        receipt = withdraw(client, harness, token, device, "5000000.00")
        assert receipt.remaining.remaining_day_usd is None
        assert receipt.remaining.remaining_window_usd is None


def test_the_day_limit_frees_at_utc_midnight(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    clock.set(at(f"{TUESDAY} 09:00:00"))
    card = harness.enroll(alice, "scc")
    token = session(harness, alice, card)
    withdraw(client, harness, token, card, "150000.00")
    clock.set(at(f"{TUESDAY} 23:59:59"))
    token = session(harness, alice, card)  # sessions last 12 hours
    assert withdraw(client, harness, token, card, "50000.00").remaining.remaining_day_usd == "0.00"
    assert problem(lambda: withdraw(client, harness, token, card, "0.01")).code == "limit-exceeded"
    clock.set(at("2024-01-10 00:00:00"))  # one second later: a new day, the same window
    receipt = withdraw(client, harness, token, card, "0.01")
    assert (receipt.remaining.remaining_day_usd, receipt.remaining.remaining_window_usd) == (
        "199999.99",
        "399999.99",
    )


def test_the_five_business_day_window_spans_a_weekend(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    clock.set(at(f"{TUESDAY} 08:00:00"))
    card = harness.enroll(alice, "scc")
    for day in ("2024-01-09", "2024-01-10", "2024-01-11"):  # Tuesday, Wednesday, Thursday
        clock.set(at(f"{day} 12:00:00"))
        token = session(harness, alice, card)
        receipt = withdraw(client, harness, token, card, "200000.00")
    assert receipt.remaining.remaining_window_usd == "0.00"
    for moment in ("2024-01-12 12:00:00", "2024-01-13 12:00:00", "2024-01-15 23:59:59"):
        clock.set(at(moment))  # Friday, Saturday, and the last second of Monday: Tuesday still counts
        token = session(harness, alice, card)
        refused = problem(lambda t=token: withdraw(client, harness, t, card, "0.01"))  # type: ignore[misc]
        assert refused.code == "limit-exceeded"
        assert refused.body["remaining"]["remaining_window_usd"] == "0.00"
        assert refused.body["remaining"]["remaining_day_usd"] == "200000.00"
    clock.set(at("2024-01-16 00:00:00"))  # Tuesday midnight: last Tuesday's 200K leaves the window
    token = session(harness, alice, card)
    receipt = withdraw(client, harness, token, card, "200000.00")
    assert receipt.remaining.remaining_window_usd == "0.00"


def test_the_device_that_answers_sets_the_limit(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    clock.set(at(f"{TUESDAY} 10:00:00"))
    card, dsc_plus = harness.enroll(alice, "scc"), harness.enroll(alice, "dsc-plus")
    token = session(harness, alice, card)
    withdraw(client, harness, token, card, "200000.00")
    assert problem(lambda: withdraw(client, harness, token, card, "1.00")).code == "limit-exceeded"
    assert withdraw(client, harness, token, dsc_plus, "800000.00").device_kind == "dsc-plus"
    kinds = {r.device_kind: r.remaining_day_usd for r in client.withdrawal_limits(token)}
    assert kinds == {"dsc-plus": None, "scc": "0.00"}


def test_above_200k_a_day_the_dsc_plus_confirms_not_ib_key(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    # The M2FS page's example: IB Key and DSC+ both enabled, more than 200K to withdraw.
    clock.set(at(f"{TUESDAY} 10:00:00"))
    ib_key, dsc_plus = harness.enroll(alice, "ib-key"), harness.enroll(alice, "dsc-plus")
    token = session(harness, alice, ib_key)  # either device logs in
    clock.advance(30)
    refused = problem(lambda: withdraw(client, harness, token, ib_key, "200000.01"))
    assert (refused.code, refused.body["remaining"]["remaining_day_usd"]) == ("limit-exceeded", "200000.00")
    clock.advance(30)
    assert withdraw(client, harness, token, ib_key, "200000.00").remaining.remaining_window_usd == "400000.00"
    assert withdraw(client, harness, token, dsc_plus, "200000.01").device_kind == "dsc-plus"


def test_the_overview_tables_ib_key_limits_are_a_configuration_value(
    tmp_path: Path, clock: FixedClock
) -> None:
    mapping = fast_config(tmp_path).to_mapping() | {"withdrawal_limits": {"ib-key": [1_000_000, 1_000_000]}}
    config = ServerConfig.from_mapping(mapping)
    assert config.withdrawal_limits["ib-key"] == WithdrawalLimit(Decimal(1_000_000), Decimal(1_000_000))
    with in_process_client(config, clock) as client:
        client.create_user("alice", PASSWORD, phones=[PHONE], start_with_sms=False)
        harness = Harness(client, clock=clock)
        ib_key = harness.enroll("alice", "ib-key")
        token = session(harness, "alice", ib_key)
        clock.advance(30)
        receipt = withdraw(client, harness, token, ib_key, "1000000.00")
        left = (receipt.remaining.per_day_usd, receipt.remaining.remaining_window_usd)
        assert left == ("1000000.00", "0.00")


def test_each_withdrawal_needs_a_fresh_right_answer(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    token = session(harness, alice, card)
    challenge_id, answer = step_up(client, harness, token, card, "withdrawal")
    wrong = problem(lambda: client.withdraw(token, "10.00", challenge_id=challenge_id, answer="AAAAAA"))
    assert wrong.code == "wrong-answer"
    client.withdraw(token, "10.00", challenge_id=challenge_id, answer=answer)
    replay = problem(lambda: client.withdraw(token, "10.00", challenge_id=challenge_id, answer=answer))
    assert replay.code == "replayed-answer"
    assert problem(lambda: client.withdraw(token, "10.00")).code == "sls-device-required"
    # A login challenge is not a withdrawal answer.
    started = client.login(alice, PASSWORD)
    login_challenge = client.challenge(started.login_id, card.device_id)
    reused = problem(lambda: client.withdraw(token, "10.00", challenge_id=login_challenge.id, answer="x"))
    assert reused.code == "not-found"
    assert [e.detail["amount_usd"] for e in client.audit(event="withdrawal")] == ["10.00"]
    for bad in ("0", "-5", "1.001", "ten"):
        assert problem(lambda bad=bad: client.withdraw(token, bad)).code == "invalid-request"  # type: ignore[misc]


def test_without_a_device_the_none_limits_apply(
    client: TokensimClient, harness: Harness, clock: FixedClock
) -> None:
    clock.set(at(f"{TUESDAY} 10:00:00"))
    client.create_user("olga", PASSWORD, phones=["+15551230009"], start_with_sms=False)
    card = harness.enroll("olga", "scc")
    token = session(harness, "olga", card)
    client.opt_out(token)
    receipt = client.withdraw(token, "50000.00")
    assert (receipt.device_kind, receipt.remaining.remaining_day_usd) == ("none", "0.00")
    assert receipt.remaining.remaining_window_usd == "50000.00"
    assert problem(lambda: client.withdraw(token, "0.01")).code == "limit-exceeded"
    clock.set(at("2024-01-10 00:00:00"))
    token = session(harness, "olga", card)
    assert client.withdraw(token, "50000.00").remaining.remaining_window_usd == "0.00"
    clock.set(at("2024-01-11 00:00:00"))
    token = session(harness, "olga", card)
    refused = problem(lambda: client.withdraw(token, "0.01"))
    assert refused.body["remaining"]["remaining_day_usd"] == "50000.00"


def test_a_temporary_passcode_session_cannot_withdraw(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    device_id, passcode = temporary_passcode(client, alice)
    token = static_login(client, alice, device_id, passcode).token
    assert problem(lambda: client.withdraw(token, "10.00")).code == "temporary-access"
    assert problem(lambda: client.step_up(token, card.device_id, "withdrawal")).code == "temporary-access"


# -- concurrency ---------------------------------------------------------------------------------


def test_concurrent_withdrawals_never_pass_the_limit(services: tuple[Service, Service]) -> None:
    first, second = services
    device_id, card = enroll(first, "scc")
    assert isinstance(card, PrintedCard)
    started = first.logins.start("alice", PASSWORD)
    login = first.logins.challenge(started.login_id, device_id)
    token = first.logins.answer(started.login_id, login.id, card.answer(login.challenge.indices)).token
    # Twelve answered-at-once withdrawals of 50K against the card's 200K a day: four fit.
    calls = []
    for n in range(THREADS):
        challenge = first.callers.step_up(token, device_id, "withdrawal")
        answer = card.answer(challenge.challenge.indices)
        service = first if n % 2 else second
        calls.append(
            partial(service.money.withdraw, token, "50000.00", challenge_id=challenge.id, answer=answer)
        )
    wins, errors = race(calls)
    assert len(wins) == 4
    assert len(errors) == THREADS - 4
    assert all(isinstance(e, LimitExceeded) for e in errors), errors
    assert sorted((w.remaining.remaining_day_usd or "") for w in wins) == [
        "0.00",
        "100000.00",
        "150000.00",
        "50000.00",
    ]
    assert [r.remaining_day_usd for r in first.money.limits(token)] == ["0.00"]
