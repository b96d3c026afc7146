"""Throttling: per-device lockout with timed unlock, the 100-failure account limit, password pauses."""

from __future__ import annotations

import pytest

from tokensim.protocol.clock import FixedClock
from tokensim.server.client import ProblemError, TokensimClient
from tokensim.server.testing.harness import Enrolled, Harness
from tokensim.server.throttle import lockout_seconds
from tokensim.server.verify import FULL_SCOPE

from .conftest import PASSWORD


def _problem(action: object) -> ProblemError:
    assert callable(action)
    with pytest.raises(ProblemError) as caught:
        action()
    return caught.value


def _fail_once(client: TokensimClient, login_id: str, device: Enrolled) -> ProblemError:
    challenge = client.challenge(login_id, device.device_id)
    return _problem(lambda: client.answer(login_id, challenge.id, "99999999"))


def test_lockout_doubles_up_to_the_maximum() -> None:
    assert [lockout_seconds(n, 60, 3600) for n in (0, 1, 5, 6, 60)] == [60, 120, 1920, 3600, 3600]


def test_five_wrong_answers_lock_one_device_until_the_lockout_ends(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    dsc_plus = harness.enroll(alice, "dsc-plus")
    card = harness.enroll(alice, "scc")
    started = client.login(alice, PASSWORD)
    remaining = [
        _fail_once(client, started.login_id, dsc_plus).body.get("attempts_remaining") for _ in range(4)
    ]
    assert remaining == [4, 3, 2, 1]
    locked = _fail_once(client, started.login_id, dsc_plus)
    assert (locked.status, locked.code, locked.retry_after) == (423, "device-locked", 60.0)
    # Locked: no new challenge, even with the right answer ready.
    refused = _problem(lambda: client.challenge(started.login_id, dsc_plus.device_id))
    assert (refused.code, refused.retry_after) == ("device-locked", 60.0)
    clock.advance(59)
    assert _problem(lambda: client.challenge(started.login_id, dsc_plus.device_id)).retry_after == 1.0
    # The other device of the same user still works meanwhile.
    assert harness.login(alice, PASSWORD, card).grant.scope == FULL_SCOPE
    clock.advance(1)
    assert harness.login(alice, PASSWORD, dsc_plus).grant.scope == FULL_SCOPE


def test_a_lockout_in_the_middle_of_an_answer_refuses_the_right_answer(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    started = client.login(alice, PASSWORD)
    kept = client.challenge(started.login_id, card.device_id)
    for _ in range(5):
        _fail_once(client, started.login_id, card)
    problem = _problem(lambda: client.answer(started.login_id, kept.id, harness.answer(card, kept)))
    assert problem.code == "device-locked"


def test_repeated_lockouts_grow_and_a_success_resets_them(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    started = client.login(alice, PASSWORD)
    for expected in (60.0, 120.0, 240.0):
        for _ in range(4):
            _fail_once(client, started.login_id, card)
        assert _fail_once(client, started.login_id, card).retry_after == expected
        clock.advance(expected)
    harness.login(alice, PASSWORD, card)
    started = client.login(alice, PASSWORD)
    for _ in range(4):
        _fail_once(client, started.login_id, card)
    assert _fail_once(client, started.login_id, card).retry_after == 60.0


def test_support_unlocks_a_device(client: TokensimClient, harness: Harness, alice: str) -> None:
    card = harness.enroll(alice, "scc")
    started = client.login(alice, PASSWORD)
    for _ in range(5):
        _fail_once(client, started.login_id, card)
    assert client.user(alice).devices[0].locked_until is not None
    assert client.unlock_device(card.device_id).locked_until is None
    assert harness.login(alice, PASSWORD, card).grant.scope == FULL_SCOPE
    assert [e.event for e in client.audit(event="device.unlocked")] == ["device.unlocked"]


def test_the_account_locks_at_exactly_100_consecutive_failures(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    devices = [harness.enroll(alice, kind) for kind in ("scc", "dsc-plus", "gold", "platinum")]
    started = client.login(alice, PASSWORD)
    failures = 0
    last: ProblemError | None = None
    while failures < 99:
        for device in devices:
            if failures == 99:
                break
            last = _fail_once(client, started.login_id, device)
            failures += 1
        if last is not None and last.code == "device-locked":
            clock.advance(3600)  # every device's lockout ends; the account counter does not reset
            started = client.login(alice, PASSWORD)
    assert not client.user(alice).account_locked
    clock.advance(3600)
    started = client.login(alice, PASSWORD)
    hundredth = _fail_once(client, started.login_id, devices[0])
    assert (hundredth.status, hundredth.code, hundredth.retry_after) == (423, "account-locked", None)
    assert client.user(alice).account_locked
    # Locked for every device and at the password step, until support unlocks.
    assert _problem(lambda: client.login(alice, PASSWORD)).code == "account-locked"
    clock.advance(86400)
    assert _problem(lambda: client.login(alice, PASSWORD)).code == "account-locked"
    client.unlock_user(alice)
    assert harness.login(alice, PASSWORD, devices[1]).grant.scope == FULL_SCOPE
    assert [e.outcome for e in client.audit(event="account.locked")] == ["locked"]


def test_a_success_resets_the_account_counter(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    cards = [harness.enroll(alice, "scc") for _ in range(2)]
    for _ in range(30):
        started = client.login(alice, PASSWORD)
        for _ in range(4):
            _fail_once(client, started.login_id, cards[0])
        harness.login(alice, PASSWORD, cards[1])  # resets both the account and that device
        harness.login(alice, PASSWORD, cards[0])
    assert not client.user(alice).account_locked


def test_wrong_passwords_pause_checks_for_that_user_only(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    client.create_user("bob", PASSWORD)
    for _ in range(5):
        assert _problem(lambda: client.login(alice, "wrong password")).code == "invalid-credentials"
    paused = _problem(lambda: client.login(alice, PASSWORD))
    assert (paused.status, paused.code, paused.retry_after) == (429, "too-many-attempts", 30.0)
    assert paused.body["retry_after"] == 30.0
    assert client.login("bob", PASSWORD).username == "bob"
    clock.advance(30)
    assert client.login(alice, PASSWORD).username == alice


def test_replays_and_refusals_of_a_locked_device_leave_audit_rows(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    started = client.login(alice, PASSWORD)
    challenge = client.challenge(started.login_id, card.device_id)
    right = harness.answer(card, challenge)
    client.answer(started.login_id, challenge.id, right)
    replayed = _problem(lambda: client.answer(started.login_id, challenge.id, right))
    assert replayed.code == "replayed-answer"
    started = client.login(alice, PASSWORD)
    kept = client.challenge(started.login_id, card.device_id)
    for _ in range(5):
        _fail_once(client, started.login_id, card)
    locked = _problem(lambda: client.answer(started.login_id, kept.id, harness.answer(card, kept)))
    assert locked.code == "device-locked"
    logins = [e for e in client.audit(event="challenge.answer") if e.detail["purpose"] == "login"]
    rows = [(e.outcome, e.detail.get("reason")) for e in logins]
    assert rows[:2] == [("ok", None), ("replayed", "answered")]
    assert rows[-1] == ("refused", "device-locked")
    assert all(e.username == alice for e in client.audit(event="challenge.answer"))
