"""Concurrent submissions: one right answer succeeds exactly once, across threads and server instances.

Each backend runs with two :class:`Service` instances on one database, each with its own connection
pool, standing in for two server processes; threads start together at a barrier and submit at once.
The subprocess tests in ``test_e2e.py`` do the same with real server processes.
"""

from __future__ import annotations

import pytest

from tokensim.emulators.challenge_response import OcraKeypadDevice
from tokensim.emulators.devices.dsc import DigitalSecurityCard
from tokensim.protocol.clock import FixedClock
from tokensim.protocol.errors import ReplayedCode, TokensimError
from tokensim.server.errors import LoginExpired, PushDenied
from tokensim.server.service import Service

from .conftest import PASSWORD
from .race_helpers import (
    THREADS,
    enroll,
    enroll_ib_key,
    race,
    two_services,  # noqa: F401 - the ``services`` fixture
)


def test_one_right_answer_submitted_at_once_succeeds_exactly_once(services: tuple[Service, Service]) -> None:
    first, second = services
    device_id, card = enroll(first, "dsc-plus")
    assert isinstance(card, OcraKeypadDevice)
    started = first.logins.start("alice", PASSWORD)
    challenge = first.logins.challenge(started.login_id, device_id)
    assert challenge.challenge.question is not None
    answer = card.respond(challenge.challenge.question, "1234")
    calls = [
        (lambda s=service: s.logins.answer(started.login_id, challenge.id, answer))
        for service in [first, second] * (THREADS // 2)
    ]
    wins, errors = race(calls)
    assert len(wins) == 1
    assert len(errors) == THREADS - 1
    assert all(isinstance(e, ReplayedCode) for e in errors), {type(e).__name__ for e in errors}
    sessions = list(first.users.audit(event="session.created"))
    assert len(sessions) == 1


def test_one_totp_step_used_by_many_logins_at_once_succeeds_exactly_once(
    services: tuple[Service, Service], clock: FixedClock
) -> None:
    first, second = services
    device_id, card = enroll(first, "dsc")
    assert isinstance(card, DigitalSecurityCard)
    logins = []
    for service in [first, second] * (THREADS // 2):
        started = service.logins.start("alice", PASSWORD)
        logins.append((service, started.login_id, service.logins.challenge(started.login_id, device_id).id))
    code = card.code("1234")
    calls = [(lambda s=s, lid=lid, cid=cid: s.logins.answer(lid, cid, code)) for s, lid, cid in logins]
    wins, errors = race(calls)
    assert len(wins) == 1
    assert all(isinstance(e, ReplayedCode) for e in errors), {type(e).__name__ for e in errors}


def test_concurrent_wrong_answers_are_all_counted(services: tuple[Service, Service]) -> None:
    first, second = services
    device_id, _ = enroll(first, "scc")
    started = first.logins.start("alice", PASSWORD)
    challenges = [first.logins.challenge(started.login_id, device_id).id for _ in range(4)]
    calls = [
        (lambda s=service, cid=cid: s.logins.answer(started.login_id, cid, "AAAAAA"))
        for service, cid in zip([first, second] * 2, challenges, strict=True)
    ]
    wins, errors = race(calls)
    assert wins == []
    assert len(errors) == 4
    view = first.users.get_user("alice").devices[0]
    assert view.locked_until is None
    last = first.logins.challenge(started.login_id, device_id)
    with pytest.raises(TokensimError) as caught:
        first.logins.answer(started.login_id, last.id, "AAAAAA")
    assert type(caught.value).__name__ == "DeviceLocked"  # the 5th failure, counting all 4 concurrent ones


def test_two_right_answers_to_one_login_make_one_session(services: tuple[Service, Service]) -> None:
    first, second = services
    device_id, card = enroll(first, "dsc-plus")
    assert isinstance(card, OcraKeypadDevice)
    started = first.logins.start("alice", PASSWORD)
    calls = []
    for service in [first, second] * (THREADS // 2):
        challenge = service.logins.challenge(started.login_id, device_id)
        assert challenge.challenge.question is not None
        answer = card.respond(challenge.challenge.question, "1234")
        calls.append(lambda s=service, cid=challenge.id, a=answer: s.logins.answer(started.login_id, cid, a))
    wins, errors = race(calls)
    assert len(wins) == 1
    assert all(isinstance(e, LoginExpired) for e in errors), {type(e).__name__ for e in errors}


def test_approvals_and_denials_of_one_push_sent_at_once_decide_it_exactly_once(
    services: tuple[Service, Service],
) -> None:
    first, second = services
    device_id, app = enroll_ib_key(first)
    started = first.logins.start("alice", PASSWORD)
    challenge = first.logins.challenge(started.login_id, device_id)
    [request] = first.challenges.pending_pushes(app.key_id("alice"))
    # The phone signs both answers (the request shown twice, tapped both ways); every copy of each
    # goes out at once.
    app.receive_push(request)
    approval = app.approve(challenge.id, pin="1234")
    app.receive_push(request)
    denial = app.deny(challenge.id, pin="1234")
    calls = [
        (lambda s=service, d=decision: s.challenges.decide(d))
        for service, decision in zip(
            [first, second] * (THREADS // 2), [approval, approval, denial] * (THREADS // 3), strict=True
        )
    ]
    wins, errors = race(calls)
    assert len(wins) == 1
    assert all(isinstance(e, ReplayedCode) for e in errors), {type(e).__name__ for e in errors}
    decisions = list(first.users.audit(event="push.decision"))
    assert [event.outcome for event in decisions] == wins
    # The login follows the one decision that was taken, whichever it was.
    if wins == ["approved"]:
        assert second.logins.answer(started.login_id, challenge.id, None).token
    else:
        with pytest.raises(PushDenied):
            second.logins.answer(started.login_id, challenge.id, None)
