"""Parallel guesses are checked at most up to each limit, on SQLite and PostgreSQL.

Two :class:`Service` instances on one database stand in for two server processes (see
``race_helpers.py``). "Checked" is counted where it happens: argon2 verifications for passwords,
``challenge.answer`` audit rows with outcome ``failed`` (a wrong answer counted and told so) against
``refused`` (refused because the limit was taken, whether right or wrong) for second factors.
"""

from __future__ import annotations

from typing import Any

import pytest

import tokensim.server.challenges as challenges_module
from tokensim.emulators.challenge_response import OcraKeypadDevice
from tokensim.protocol.errors import DeviceLocked, ReplayedCode, TokensimError
from tokensim.server.errors import ChallengeClosed, InvalidCredentials, TooManyAttempts, WrongAnswer
from tokensim.server.service import Service

from .conftest import PASSWORD
from .race_helpers import (
    THREADS,
    enroll,
    race,
    two_services,  # noqa: F401 - the ``services`` fixture
)
from .test_password_throttle import CountingHasher

BURST = 2 * THREADS


def _count_checks(*services: Service) -> list[CountingHasher]:
    hashers = []
    for service in services:
        hashers.append(CountingHasher(service.core.hasher))
        service.core.hasher = hashers[-1]  # type: ignore[assignment]
    return hashers


def _answers(service: Service) -> dict[str, int]:
    """How many ``challenge.answer`` rows of each outcome the audit log holds."""
    counts: dict[str, int] = {}
    for row in service.users.audit(event="challenge.answer", limit=1000):
        counts[row.outcome] = counts.get(row.outcome, 0) + 1
    return counts


def test_parallel_wrong_passwords_are_checked_at_most_five_times(services: tuple[Service, Service]) -> None:
    first, second = services
    first.users.create_user("alice", PASSWORD)
    hashers = _count_checks(first, second)
    calls = [
        (lambda s=service: s.logins.start("alice", "guess", origin="203.0.113.9"))
        for service in [first, second] * (BURST // 2)
    ]
    wins, errors = race(calls)
    assert wins == []
    kinds = sorted(type(e).__name__ for e in errors)
    assert kinds == ["InvalidCredentials"] * 5 + ["TooManyAttempts"] * (BURST - 5), kinds
    assert sum(h.checks for h in hashers) == 5
    # The user from their own address is not locked out.
    assert first.logins.start("alice", PASSWORD, origin="198.51.100.7").username == "alice"


def test_a_parallel_spray_is_checked_at_most_the_address_budget(services: tuple[Service, Service]) -> None:
    first, second = services
    for n in range(BURST // 2):
        first.users.create_user(f"user{n}", PASSWORD)
    hashers = _count_checks(first, second)
    # Half the names exist, half do not: all count alike against the address.
    names = [f"user{n}" for n in range(BURST // 2)] + [f"ghost{n}" for n in range(BURST // 2)]
    calls = [
        (lambda s=service, name=name: s.logins.start(name, "Summer2026!", origin="203.0.113.9"))
        for service, name in zip([first, second] * (BURST // 2), names, strict=True)
    ]
    _wins, errors = race(calls)
    checked = sum(isinstance(e, InvalidCredentials) for e in errors)
    refused = sum(isinstance(e, TooManyAttempts) for e in errors)
    assert (checked, refused) == (20, BURST - 20)
    assert sum(h.checks for h in hashers) == 20


def test_parallel_guesses_on_one_device_are_checked_at_most_five_times(
    services: tuple[Service, Service],
) -> None:
    first, second = services
    device_id, _card = enroll(first, "dsc-plus")
    started = first.logins.start("alice", PASSWORD)
    challenges = [first.logins.challenge(started.login_id, device_id).id for _ in range(BURST // 3)]
    calls = [
        (lambda s=service, cid=cid: s.logins.answer(started.login_id, cid, "00000000"))
        for service, cid in zip([first, second] * (BURST // 2), challenges * 3, strict=True)
    ]
    wins, errors = race(calls)
    assert wins == []
    assert all(isinstance(e, WrongAnswer | DeviceLocked) for e in errors), {type(e).__name__ for e in errors}
    assert _answers(first) == {"failed": 5, "refused": BURST - 5}
    assert first.users.get_user("alice").devices[0].locked_until is not None


def test_parallel_guesses_on_one_challenge_are_checked_at_most_three_times(
    services: tuple[Service, Service],
) -> None:
    first, second = services
    device_id, _card = enroll(first, "dsc-plus")
    started = first.logins.start("alice", PASSWORD)
    challenge = first.logins.challenge(started.login_id, device_id).id
    calls = [
        (lambda s=service: s.logins.answer(started.login_id, challenge, "00000000"))
        for service in [first, second] * (THREADS // 2)
    ]
    _wins, errors = race(calls)
    assert sum(isinstance(e, WrongAnswer) for e in errors) == 3
    assert sum(isinstance(e, ChallengeClosed) for e in errors) == THREADS - 3
    assert _answers(first) == {"failed": 3, "refused": THREADS - 3}
    view = first.users.get_user("alice").devices[0]
    assert view.locked_until is None  # three failures on the device, below its five


def _burst_with_one_right_answer(
    first: Service, second: Service, device_id: str, card: OcraKeypadDevice
) -> list[Any]:
    """11 wrong answers and the right one (in the middle) to one challenge at once; what each got."""
    started = first.logins.start("alice", PASSWORD)
    view = first.logins.challenge(started.login_id, device_id)
    assert view.challenge.question is not None
    answers = ["00000000"] * (THREADS - 1)
    answers.insert(THREADS // 2, card.respond(view.challenge.question, "1234"))
    outcomes: list[Any] = [None] * THREADS

    def submit(service: Service, n: int) -> None:
        try:
            outcomes[n] = service.logins.answer(started.login_id, view.id, answers[n])
        except TokensimError as e:
            outcomes[n] = e

    race(
        [(lambda s=service, n=n: submit(s, n)) for n, service in enumerate([first, second] * (THREADS // 2))]
    )
    return outcomes


def test_a_right_answer_in_a_parallel_burst_is_never_told_replayed(services: tuple[Service, Service]) -> None:
    first, second = services
    device_id, card = enroll(first, "dsc-plus")
    assert isinstance(card, OcraKeypadDevice)
    for _round in range(3):
        first.support.unlock_device(device_id)
        outcomes = _burst_with_one_right_answer(first, second, device_id, card)
        mine = outcomes[THREADS // 2]
        # Accepted, or refused as every guess is once no attempt is left: never told it was right.
        assert not isinstance(mine, TokensimError) or isinstance(mine, ChallengeClosed | DeviceLocked), mine
        # Guesses arriving after an accepted answer are told the challenge was answered; before, never.
        if any(isinstance(o, ReplayedCode) for o in outcomes):
            assert not isinstance(mine, TokensimError), [type(o).__name__ for o in outcomes]


@pytest.mark.parametrize("burst", ["closes-the-challenge", "locks-the-device"])
def test_a_right_answer_overtaken_by_its_burst_is_refused_like_a_guess_not_told_replayed(
    services: tuple[Service, Service], monkeypatch: pytest.MonkeyPatch, burst: str
) -> None:
    # The interleaving a burst can produce, made certain: while the right answer is being checked,
    # wrong answers through the other "process" take the challenge's last attempts, or the device's
    # last failures. The right answer then gets what any guess gets at that moment.
    first, second = services
    device_id, card = enroll(first, "dsc-plus")
    assert isinstance(card, OcraKeypadDevice)
    started = first.logins.start("alice", PASSWORD)
    view = first.logins.challenge(started.login_id, device_id)
    others = [first.logins.challenge(started.login_id, device_id).id for _ in range(2)]
    assert view.challenge.question is not None
    right = card.respond(view.challenge.question, "1234")
    real = challenges_module.check_answer
    interleaved: list[str] = []

    def check_then_let_the_burst_in(*args: Any, **kwargs: Any) -> Any:
        if kwargs["answer"] == right and not interleaved:
            interleaved.append(burst)
            if burst == "closes-the-challenge":
                wrong = [(view.id, "00000000")] * 3
            else:
                wrong = [(others[0], "00000000")] * 3 + [(others[1], "00000000")] * 2
            for challenge_id, answer in wrong:
                with pytest.raises((WrongAnswer, DeviceLocked)):
                    second.logins.answer(started.login_id, challenge_id, answer)
        return real(*args, **kwargs)

    monkeypatch.setattr(challenges_module, "check_answer", check_then_let_the_burst_in)
    expected = ChallengeClosed if burst == "closes-the-challenge" else DeviceLocked
    with pytest.raises(expected):
        first.logins.answer(started.login_id, view.id, right)
    assert interleaved == [burst]
    assert [r.outcome for r in first.users.audit(event="challenge.answer")][-1] == "refused"
