"""Logins over the API (in-process, injected clock) with every emulated device, and their refusals."""

from __future__ import annotations

import pytest

from tokensim.protocol.clock import FixedClock
from tokensim.protocol.messages import ChallengeForm
from tokensim.server.client import ProblemError, TokensimClient
from tokensim.server.testing.harness import ALL_KINDS, Harness
from tokensim.server.verify import FULL_SCOPE

from .conftest import PASSWORD, PHONE

FORMS = {
    ("scc", None): ChallengeForm.GRID,
    ("online-scc", None): ChallengeForm.GRID,
    ("dsc", None): ChallengeForm.CODE,
    ("dsc-plus", None): ChallengeForm.NUMERIC,
    ("gold", None): ChallengeForm.NUMERIC,
    ("platinum", None): ChallengeForm.NUMERIC,
    ("ib-key", "push"): ChallengeForm.PUSH,
    ("ib-key", "qr"): ChallengeForm.PUSH,
    ("ib-key", "numeric"): ChallengeForm.NUMERIC,
    ("ib-key", "code"): ChallengeForm.CODE,
    ("phone", "sms"): ChallengeForm.OOB,
    ("phone", "voice"): ChallengeForm.OOB,
}


def _problem(action: object) -> ProblemError:
    assert callable(action)
    with pytest.raises(ProblemError) as caught:
        action()
    return caught.value


@pytest.mark.parametrize(("kind", "mode"), list(FORMS), ids=[f"{k}-{m or 'default'}" for k, m in FORMS])
def test_login_with_every_device_kind_and_mode(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str, kind: str, mode: str | None
) -> None:
    enrolled = harness.enroll(alice, kind)
    clock.advance(30)  # a TOTP step answers once; activation used this one
    result = harness.login(alice, PASSWORD, enrolled, mode=mode)
    assert result.challenge.challenge.form is FORMS[(kind, mode)]
    assert result.grant.scope == FULL_SCOPE
    assert result.grant.device_kind == kind
    info = client.session(result.grant.token)
    assert (info.username, info.scope, info.device_kind) == (alice, FULL_SCOPE, kind)
    client.logout(result.grant.token)
    assert _problem(lambda: client.session(result.grant.token)).code == "unauthorized"


def test_the_password_step_lists_only_active_unexpired_devices(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    active = harness.enroll(alice, "scc")
    pending = harness.enroll(alice, "dsc-plus", activate=False)
    online = harness.enroll(alice, "online-scc")
    started = client.login(alice, PASSWORD)
    assert [d.id for d in started.devices] == [active.device_id, online.device_id]
    problem = _problem(lambda: client.challenge(started.login_id, pending.device_id))
    assert (problem.status, problem.code) == (409, "device-unavailable")
    clock.advance(21 * 86400)  # the mailed DSC+ became active by itself after 14 days
    started = client.login(alice, PASSWORD)
    assert [d.id for d in started.devices] == [active.device_id, pending.device_id]
    problem = _problem(lambda: client.challenge(started.login_id, online.device_id))
    assert problem.code == "device-unavailable"


def test_wrong_password_and_unknown_user_look_the_same(client: TokensimClient, alice: str) -> None:
    wrong = _problem(lambda: client.login(alice, "not the password"))
    unknown = _problem(lambda: client.login("mallory", "not the password"))
    assert (wrong.status, wrong.code, wrong.detail) == (unknown.status, unknown.code, unknown.detail)
    assert wrong.code == "invalid-credentials"


def test_a_wrong_answer_says_how_many_tries_are_left(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    started = client.login(alice, PASSWORD)
    challenge = client.challenge(started.login_id, card.device_id)
    problem = _problem(lambda: client.answer(started.login_id, challenge.id, "AAAAAA"))
    assert (problem.status, problem.code, problem.body["attempts_remaining"]) == (401, "wrong-answer", 4)
    grant = client.answer(started.login_id, challenge.id, harness.answer(card, challenge))
    assert grant.scope == FULL_SCOPE


def test_a_challenge_is_answered_once(client: TokensimClient, harness: Harness, alice: str) -> None:
    card = harness.enroll(alice, "dsc-plus")
    started = client.login(alice, PASSWORD)
    challenge = client.challenge(started.login_id, card.device_id)
    answer = harness.answer(card, challenge)
    client.answer(started.login_id, challenge.id, answer)
    problem = _problem(lambda: client.answer(started.login_id, challenge.id, answer))
    assert (problem.status, problem.code) == (409, "replayed-answer")


def test_a_totp_step_is_used_once_across_logins(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    dsc = harness.enroll(alice, "dsc")
    clock.advance(30)
    first, second = client.login(alice, PASSWORD), client.login(alice, PASSWORD)
    one = client.challenge(first.login_id, dsc.device_id)
    two = client.challenge(second.login_id, dsc.device_id)
    code = harness.answer(dsc, one)
    client.answer(first.login_id, one.id, code)
    problem = _problem(lambda: client.answer(second.login_id, two.id, code))
    assert problem.code == "replayed-answer"
    clock.advance(30)
    assert client.answer(second.login_id, two.id, harness.answer(dsc, two)).scope == FULL_SCOPE


def test_an_older_code_than_the_last_accepted_step_is_refused(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    ib_key = harness.enroll(alice, "ib-key")
    old = client.login(alice, PASSWORD)
    old_challenge = client.challenge(old.login_id, ib_key.device_id, mode="code")
    old_code = harness.answer(ib_key, old_challenge)
    clock.advance(30)
    harness.login(alice, PASSWORD, ib_key, mode="code")
    # The old code is still inside the ±1 step window, but its step is before the one just used.
    assert _problem(lambda: client.answer(old.login_id, old_challenge.id, old_code)).code == "replayed-answer"


def test_an_expired_challenge_is_refused(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    card = harness.enroll(alice, "dsc-plus")
    started = client.login(alice, PASSWORD)
    challenge = client.challenge(started.login_id, card.device_id)
    answer = harness.answer(card, challenge)
    clock.advance(300)
    problem = _problem(lambda: client.answer(started.login_id, challenge.id, answer))
    assert (problem.status, problem.code) == (410, "challenge-expired")


def test_an_sms_code_lasts_ten_minutes(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    phone = harness.enroll(alice, "phone")
    started = client.login(alice, PASSWORD)
    challenge = client.challenge(started.login_id, phone.device_id)
    assert challenge.sent_to == "+*******0001"
    code = harness.answer(phone, challenge)
    clock.advance(599)
    assert client.answer(started.login_id, challenge.id, code).scope == FULL_SCOPE
    started = client.login(alice, PASSWORD)
    challenge = client.challenge(started.login_id, phone.device_id, mode="voice")
    code = harness.answer(phone, challenge)
    assert harness.phone(PHONE).inbox[0].kind.value == "voice"
    clock.advance(600)
    assert _problem(lambda: client.answer(started.login_id, challenge.id, code)).code == "login-expired"


def test_a_login_expires(client: TokensimClient, harness: Harness, clock: FixedClock, alice: str) -> None:
    card = harness.enroll(alice, "scc")
    started = client.login(alice, PASSWORD)
    clock.advance(600)
    problem = _problem(lambda: client.challenge(started.login_id, card.device_id))
    assert (problem.status, problem.code) == (410, "login-expired")


def test_a_login_finishes_once_even_with_two_challenges(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    scc, dsc_plus = harness.enroll(alice, "scc"), harness.enroll(alice, "dsc-plus")
    started = client.login(alice, PASSWORD)
    one = client.challenge(started.login_id, scc.device_id)
    two = client.challenge(started.login_id, dsc_plus.device_id)
    client.answer(started.login_id, one.id, harness.answer(scc, one))
    problem = _problem(lambda: client.answer(started.login_id, two.id, harness.answer(dsc_plus, two)))
    assert problem.code == "login-expired"


def test_a_challenge_closes_after_three_wrong_answers(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    started = client.login(alice, PASSWORD)
    challenge = client.challenge(started.login_id, card.device_id)
    for _ in range(3):
        assert (
            _problem(lambda: client.answer(started.login_id, challenge.id, "AAAAAA")).code == "wrong-answer"
        )
    right = harness.answer(card, challenge)
    assert _problem(lambda: client.answer(started.login_id, challenge.id, right)).code == "challenge-closed"


def test_a_challenge_of_another_login_is_not_found(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    first, second = client.login(alice, PASSWORD), client.login(alice, PASSWORD)
    challenge = client.challenge(first.login_id, card.device_id)
    problem = _problem(lambda: client.answer(second.login_id, challenge.id, harness.answer(card, challenge)))
    assert (problem.status, problem.code) == (404, "not-found")


def test_another_users_device_cannot_be_chosen(client: TokensimClient, harness: Harness, alice: str) -> None:
    client.create_user("bob", PASSWORD, phones=["+15551230002"])
    bobs = harness.enroll("bob", "scc")
    started = client.login(alice, PASSWORD)
    assert _problem(lambda: client.challenge(started.login_id, bobs.device_id)).code == "device-unavailable"


def test_a_mode_the_device_does_not_answer_is_refused(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    started = client.login(alice, PASSWORD)
    problem = _problem(lambda: client.challenge(started.login_id, card.device_id, mode="push"))
    assert (problem.status, problem.code) == (422, "invalid-request")


def test_push_waits_for_the_phone_and_a_denial_ends_it(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    ib_key = harness.enroll(alice, "ib-key")
    app = harness.app()
    started = client.login(alice, PASSWORD)
    challenge = client.challenge(started.login_id, ib_key.device_id)
    pending = _problem(lambda: client.answer(started.login_id, challenge.id))
    assert (pending.code, pending.retry_after) == ("push-pending", 1.0)
    key_id = app.key_id(alice)
    requests = client.push_requests(key_id, app.listing_auth(key_id))
    assert [r.id for r in requests] == [challenge.id]
    assert requests[0].origin == "127.0.0.1"
    app.receive_push(requests[0])
    assert client.decide(app.deny(challenge.id, pin="1234"), app.decision_auth(key_id)) == "denied"
    assert client.push_requests(key_id, app.listing_auth(key_id)) == []
    problem = _problem(lambda: client.answer(started.login_id, challenge.id))
    assert (problem.status, problem.code) == (403, "push-denied")


def test_a_decision_is_taken_once_and_only_with_a_valid_signature(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    from dataclasses import replace

    ib_key = harness.enroll(alice, "ib-key")
    app = harness.app()
    started = client.login(alice, PASSWORD)
    challenge = client.challenge(started.login_id, ib_key.device_id)
    key_id = app.key_id(alice)
    app.receive_push(client.push_requests(key_id, app.listing_auth(key_id))[0])
    decision = app.approve(challenge.id, pin="1234")
    forged = replace(decision, approved=False)  # a signature over "approve" does not cover "deny"
    problem = _problem(lambda: client.decide(forged, app.decision_auth(key_id)))
    assert (problem.status, problem.code) == (401, "unauthorized")  # refused, counted against nothing
    wrong_registration = replace(decision, key_id="IBK0000000000")
    assert (
        _problem(lambda: client.decide(wrong_registration, app.decision_auth(key_id))).code == "unauthorized"
    )
    assert client.decide(decision, app.decision_auth(key_id)) == "approved"
    assert _problem(lambda: client.decide(decision, app.decision_auth(key_id))).code == "replayed-answer"
    assert client.answer(started.login_id, challenge.id).scope == FULL_SCOPE
    assert _problem(lambda: client.answer(started.login_id, challenge.id)).code == "replayed-answer"


def test_an_expired_push_cannot_be_approved(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    ib_key = harness.enroll(alice, "ib-key")
    app = harness.app()
    started = client.login(alice, PASSWORD)
    challenge = client.challenge(started.login_id, ib_key.device_id, mode="qr")
    assert challenge.qr is not None
    assert challenge.qr.startswith("tokensim-qr:")
    decision = app.scan_qr(challenge.qr, pin="1234")
    clock.advance(120)
    assert _problem(lambda: client.decide(decision, app.decision_auth(decision.key_id))).code == (
        "challenge-expired"
    )


def test_gold_counter_moves_forward_and_accepts_a_device_that_ran_ahead(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    gold = harness.enroll(alice, "gold")
    # Three responses the server never saw: the card's counter is 3 ahead of the server's.
    for _ in range(3):
        gold.device.respond("12345678", "1234")  # type: ignore[attr-defined]
    assert harness.login(alice, PASSWORD, gold).grant.scope == FULL_SCOPE


def test_ib_key_activation_needs_the_texted_token(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    enrollment = client.enroll(alice, "ib-key")
    assert (enrollment.activation, enrollment.device.status, enrollment.sent_to) == (
        "sms-token",
        "pending",
        "+*******0001",
    )
    app = harness.app()
    wrong = app.begin_activation(alice, "000000", pin="2580")
    problem = _problem(lambda: client.activate_ib_key(wrong))
    assert problem.code == "wrong-answer"
    token = harness._latest_code(PHONE)
    activation = app.begin_activation(alice, token, pin="2580")
    provisioning = client.activate_ib_key(activation)
    assert provisioning.serial == enrollment.device.serial
    assert _problem(lambda: client.activate_ib_key(activation)).code == "wrong-answer"
    assert client.user(alice).devices[0].status == "active"


def test_activation_proves_the_device(client: TokensimClient, harness: Harness, alice: str) -> None:
    enrolled = harness.enroll(alice, "dsc-plus", activate=False)
    assert enrolled.enrollment.provisioning is not None
    assert enrolled.enrollment.provisioning.pin is None  # the DSC+ never holds its PIN
    challenge = client.start_activation(enrolled.device_id)
    assert _problem(lambda: client.finish_activation(enrolled.device_id, challenge.id, "00000000")).code == (
        "wrong-answer"
    )
    active = client.finish_activation(enrolled.device_id, challenge.id, harness.answer(enrolled, challenge))
    assert active.status == "active"
    assert _problem(lambda: client.start_activation(enrolled.device_id)).code == "device-unavailable"


def test_enrollment_returns_the_card_to_print(client: TokensimClient, alice: str) -> None:
    enrollment = client.enroll(alice, "online-scc")
    assert enrollment.card is not None
    assert len(enrollment.card.cells) == 224
    assert all(len(v) == 3 and v.isdigit() for _, v in enrollment.card.cells)
    assert enrollment.card.expires_at == pytest.approx(enrollment.card.issued_at + 21 * 86400)  # type: ignore[operator]
    assert "valid until" in enrollment.card.text()


@pytest.mark.parametrize(
    ("kind", "extra", "message"),
    [
        ("dsc-plus", {}, "pin: Field required"),
        ("dsc", {"pin": "12"}, "pin: String should match pattern"),
        ("scc", {"pin": "1234"}, "pin: Extra inputs are not permitted"),
        ("toaster", {}, "does not match any of the expected tags"),
    ],
)
def test_enrollment_checks_its_input(
    client: TokensimClient, alice: str, kind: str, extra: dict[str, str], message: str
) -> None:
    # The kind decides which fields the body takes (the OpenAPI document says so too).
    problem = _problem(lambda: client.enroll(alice, kind, **extra))
    assert problem.code == "invalid-request"
    assert message in problem.detail


def test_enrollment_refuses_a_number_the_user_has_not_verified(client: TokensimClient, alice: str) -> None:
    problem = _problem(lambda: client.enroll(alice, "phone", number="+15559999999"))
    assert (problem.status, problem.code) == (409, "unverified-number")
    assert "verified phone" in problem.detail


def test_temporary_passcode_is_static_uppercase_and_shown_once(client: TokensimClient, alice: str) -> None:
    check = client.verify_identity(alice, method="phone-questions", agent="agent-7")
    issued = client.issue_temporary_passcode(alice, verification_id=check.id)
    passcode = issued.passcode
    assert passcode is not None
    assert len(passcode) == 12
    assert passcode == passcode.upper()
    started = client.login(alice, PASSWORD)
    challenge = client.challenge(started.login_id, issued.device.id)
    assert challenge.challenge.form is ChallengeForm.STATIC
    assert (
        _problem(lambda: client.answer(started.login_id, challenge.id, passcode.lower())).code
        == "wrong-answer"
    )
    assert client.answer(started.login_id, challenge.id, passcode).device_kind == "temporary"
    assert client.user(alice).devices[0].kind == "temporary"


def test_the_audit_log_records_every_step(client: TokensimClient, harness: Harness, alice: str) -> None:
    card = harness.enroll(alice, "scc")
    started = client.login(alice, PASSWORD)
    challenge = client.challenge(started.login_id, card.device_id)
    _problem(lambda: client.answer(started.login_id, challenge.id, "AAAAAA"))
    client.answer(started.login_id, challenge.id, harness.answer(card, challenge))
    events = [(e.event, e.outcome) for e in client.audit(username=alice)]
    assert events == [
        ("user.created", "ok"),
        ("device.enrolled", "ok"),
        ("challenge.issued", "ok"),
        ("challenge.answer", "ok"),
        ("device.activated", "ok"),
        ("login.password", "ok"),
        ("challenge.issued", "ok"),
        ("challenge.answer", "failed"),
        ("challenge.answer", "ok"),
        ("session.created", "ok"),
    ]
    later = client.audit(after=client.audit(username=alice)[-2].seq)
    assert [e.event for e in later] == ["session.created"]


def test_every_kind_is_covered() -> None:
    assert {kind for kind, _ in FORMS} == set(ALL_KINDS)


def test_a_carrier_failure_is_a_problem_not_a_500(tmp_path: object, clock: FixedClock) -> None:
    from pathlib import Path

    from tokensim.server.carrier import Message
    from tokensim.server.core import load_support_token
    from tokensim.server.http.app import create_app

    from .conftest import NO_ENV, fast_config

    class BrokenCarrier:
        def send(self, message: Message) -> None:
            raise ConnectionError("gateway down")

    assert isinstance(tmp_path, Path)
    config = fast_config(tmp_path / "data")
    app = create_app(config, clock=clock, environ=NO_ENV, carrier=BrokenCarrier())
    try:
        with TokensimClient.in_process(app, support_token=load_support_token(config.token_path)) as client:
            client.create_user("alice", PASSWORD, phones=[PHONE])
            enrollment = client.enroll("alice", "phone")
            problem = _problem(lambda: client.start_activation(enrollment.device.id))
            assert (problem.status, problem.code) == (502, "delivery-failed")
            assert _problem(lambda: client.enroll("alice", "ib-key")).code == "delivery-failed"
            assert [e.outcome for e in client.audit(event="carrier.send")] == ["failed", "failed"]
            assert _problem(lambda: client.outbox()).code == "not-found"  # this carrier has no outbox
    finally:
        app.state.service.close()


def test_strict_cards_never_ask_a_cell_twice(tmp_path: object, clock: FixedClock) -> None:
    from pathlib import Path

    from tokensim.server.core import load_support_token
    from tokensim.server.http.app import create_app

    from .conftest import NO_ENV, fast_config

    assert isinstance(tmp_path, Path)
    config = fast_config(tmp_path / "data", card_strict=True)
    app = create_app(config, clock=clock, environ=NO_ENV)
    try:
        with TokensimClient.in_process(app, support_token=load_support_token(config.token_path)) as client:
            client.create_user("alice", PASSWORD)
            card = client.enroll("alice", "scc").device.id
            asked: list[int] = []
            for _ in range(112):  # 224 cells, two a challenge
                asked.extend(client.start_activation(card).challenge.indices)
            assert sorted(asked) == list(range(1, 225))
            problem = _problem(lambda: client.start_activation(card))
            assert (problem.code, "every cell") == ("device-unavailable", problem.detail[:10])
    finally:
        app.state.service.close()


def test_an_ib_key_is_activated_only_by_its_app(client: TokensimClient, harness: Harness, alice: str) -> None:
    enrollment = client.enroll(alice, "ib-key")
    token = harness._latest_code(PHONE)
    assert _problem(lambda: client.start_activation(enrollment.device.id)).code == "device-unavailable"
    problem = _problem(lambda: client.finish_activation(enrollment.device.id, "anything", token))
    assert problem.code == "device-unavailable"
    assert client.user(alice).devices[0].status == "pending"
