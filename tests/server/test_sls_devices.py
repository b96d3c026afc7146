"""IB Key (one phone, migration, recovery, PIN change), DSC+ (PIN change, eligibility), SMS codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tokensim.emulators.devices.ib_key import IbKeyApp
from tokensim.protocol.clock import FixedClock
from tokensim.protocol.errors import InvalidPin
from tokensim.protocol.provisioning import DeviceKind, Provisioning
from tokensim.server.client import TokensimClient
from tokensim.server.testing.harness import Enrolled, Harness
from tokensim.server.verify import FULL_SCOPE

from .conftest import PASSWORD, PHONE, fast_config
from .sls_helpers import in_process_client, problem, session

NUMBER = "+15551230020"


def _code(harness: Harness, number: str) -> str:
    harness.deliver()
    code = harness.phone(number).latest_code()
    assert code is not None
    return code


def _activate_on(harness: Harness, app: IbKeyApp, username: str, number: str, pin: str = "2580") -> str:
    activation = app.begin_activation(username, _code(harness, number), pin=pin)
    provisioning = harness.client.activate_ib_key(activation)
    app.complete_activation(username, provisioning)
    return provisioning.serial


def _statuses(client: TokensimClient, username: str) -> list[tuple[str, str]]:
    return [(d.kind, d.status) for d in client.user(username).devices]


def test_new_accounts_start_with_sms_removed_once_ib_key_is_active(
    client: TokensimClient, harness: Harness
) -> None:
    user = client.create_user("nina", PASSWORD, phones=[NUMBER, "+15551230021"])
    assert [(d.kind, d.status, d.number) for d in user.devices] == [("phone", "active", NUMBER)]
    assert client.create_user("otto", PASSWORD, phones=[PHONE], start_with_sms=False).devices == ()
    assert client.create_user("pia", PASSWORD).devices == ()  # no phone, no SMS
    sms = Enrolled("nina", "phone", user.devices[0].id, harness.phone(NUMBER), None, None)  # type: ignore[arg-type]
    assert session(harness, "nina", sms)
    client.enroll("nina", "ib-key")
    _activate_on(harness, harness.app(), "nina", NUMBER)
    assert _statuses(client, "nina") == [("phone", "revoked"), ("ib-key", "active")]
    assert [d.kind for d in client.login("nina", PASSWORD).devices] == ["ib-key"]


def test_one_active_phone_per_user(client: TokensimClient, harness: Harness) -> None:
    client.create_user("nina", PASSWORD, phones=[NUMBER], start_with_sms=False)
    client.enroll("nina", "ib-key")
    first = _activate_on(harness, harness.app("phone-1"), "nina", NUMBER)
    client.enroll("nina", "ib-key")
    second = _activate_on(harness, harness.app("phone-2"), "nina", NUMBER)
    assert first != second
    assert _statuses(client, "nina") == [("ib-key", "revoked"), ("ib-key", "active")]
    assert [d.serial for d in client.login("nina", PASSWORD).devices] == [second]
    old_phone = harness.app("phone-1")
    refused = problem(lambda: client.push_requests(first, old_phone.listing_auth(first)))
    assert (refused.status, refused.code) == (401, "unauthorized")  # the revoked registration lists nothing


def test_migration_by_sms_to_the_original_number(client: TokensimClient, harness: Harness) -> None:
    client.create_user("nina", PASSWORD, phones=[NUMBER, "+15551230021"], start_with_sms=False)
    client.enroll("nina", "ib-key", number=NUMBER)
    old = _activate_on(harness, harness.app("phone-1"), "nina", NUMBER)
    assert problem(lambda: client.ib_key_migration("nina", "wrong password")).code == "invalid-credentials"
    started = client.ib_key_migration("nina", PASSWORD)
    assert (started.method, started.sent_to, started.challenge) == ("sms", "+*******0020", None)
    new_app = harness.app("phone-2")
    new = _activate_on(harness, new_app, "nina", NUMBER)
    assert new == started.device.serial != old
    assert _statuses(client, "nina") == [("ib-key", "revoked"), ("ib-key", "active")]
    enrolled = Enrolled("nina", "ib-key", started.device.id, new_app, "2580", None)  # type: ignore[arg-type]
    assert harness.login("nina", PASSWORD, enrolled).grant.scope == FULL_SCOPE
    client.create_user("paul", PASSWORD)
    assert problem(lambda: client.ib_key_migration("paul", PASSWORD)).code == "device-unavailable"


def test_migration_answers_an_active_physical_device_instead_of_sms(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    harness.enroll(alice, "ib-key")
    dsc_plus = harness.enroll(alice, "dsc-plus")
    texts = len(client.outbox())
    started = client.ib_key_migration(alice, PASSWORD)
    assert started.method == "device"
    assert started.challenge is not None
    assert started.challenge.challenge.device == dsc_plus.device_id
    wrong = problem(
        lambda: client.ib_key_migration_answer(started.device.id, started.challenge.id, "00000000")
    )  # type: ignore[union-attr]
    assert wrong.code == "wrong-answer"
    token = client.ib_key_migration_answer(
        started.device.id, started.challenge.id, harness.answer(dsc_plus, started.challenge)
    )
    assert re.fullmatch(r"[0-9]{6}", token)
    assert len(client.outbox()) == texts  # nothing was texted
    app = harness.app("phone-2")
    provisioning = client.activate_ib_key(app.begin_activation(alice, token, pin="2580"))
    assert provisioning.serial == started.device.serial
    assert _statuses(client, alice) == [("ib-key", "revoked"), ("dsc-plus", "active"), ("ib-key", "active")]


def test_android_recovery_on_the_same_phone_with_its_pin_and_an_sms(
    client: TokensimClient, harness: Harness
) -> None:
    client.create_user("nina", PASSWORD, phones=[NUMBER], start_with_sms=False)
    enrollment = client.enroll("nina", "ib-key")
    app = harness.app()
    serial = _activate_on(harness, app, "nina", NUMBER, pin="2580")
    app.reinstall()  # the phone was reset: the app holds nothing
    assert problem(lambda: client.ib_key_recovery("nina", PASSWORD, "IBK0")).code == "device-unavailable"
    started = client.ib_key_recovery("nina", PASSWORD, serial)
    assert (started.method, started.sent_to, started.challenge) == ("sms", "+*******0020", None)
    assert _activate_on(harness, app, "nina", NUMBER, pin="2580") == serial
    assert _statuses(client, "nina") == [("ib-key", "active")]
    enrolled = Enrolled("nina", "ib-key", enrollment.device.id, app, "2580", enrollment)
    assert harness.login("nina", PASSWORD, enrolled).grant.scope == FULL_SCOPE
    assert [e.event for e in client.audit(event="ib-key.recovered")] == ["ib-key.recovered"]


def test_ib_key_pin_change_needs_the_password_and_an_sms_code(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    ib_key = harness.enroll(alice, "ib-key", pin="2580")
    app = harness.app()
    serial = app.key_id(alice)
    started = client.ib_key_pin_change(alice, PASSWORD, serial)
    assert started.activation == "sms-code"
    assert problem(lambda: client.ib_key_pin_change_answer(ib_key.device_id, "000000")).code == "wrong-answer"
    client.ib_key_pin_change_answer(ib_key.device_id, _code(harness, PHONE))
    assert problem(lambda: client.ib_key_pin_change_answer(ib_key.device_id, "123456")).code == "not-found"
    with pytest.raises(InvalidPin):
        app.change_pin(alice, "0000", "97531")
    app.change_pin(alice, "2580", "97531")
    ib_key.pin = "97531"
    assert harness.login(alice, PASSWORD, ib_key).grant.scope == FULL_SCOPE
    with pytest.raises(InvalidPin):
        app.time_code(alice, pin="2580")


def test_dsc_plus_pin_change_needs_the_current_pin_then_the_new_one(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    dsc_plus = harness.enroll(alice, "dsc-plus", pin="1234")
    card = harness.enroll(alice, "scc")
    token = session(harness, alice, card)  # a session opened with another device
    assert problem(lambda: client.change_pin(token, dsc_plus.device_id, "12ab")).code == "invalid-request"
    assert problem(lambda: client.change_pin(token, card.device_id, "4321")).code == "invalid-request"
    first = client.change_pin(token, dsc_plus.device_id, "4321")
    question = first.challenge.question
    assert question is not None
    # Without the current PIN the change goes nowhere: an answer with a guessed PIN is wrong.
    guessed = dsc_plus.device.respond(question, "0000")  # type: ignore[attr-defined]
    wrong = problem(lambda: client.change_pin_current(token, dsc_plus.device_id, first.id, guessed))
    assert wrong.code == "wrong-answer"
    # The second challenge only comes from the first: answering with the new PIN at once is refused.
    new_first = dsc_plus.device.respond(question, "4321")  # type: ignore[attr-defined]
    skipped = problem(lambda: client.change_pin_answer(token, dsc_plus.device_id, first.id, new_first))
    assert skipped.code == "not-found"
    current = dsc_plus.device.respond(question, "1234")  # type: ignore[attr-defined]
    second = client.change_pin_current(token, dsc_plus.device_id, first.id, current)
    assert second.id != first.id
    question = second.challenge.question
    assert question is not None
    old_pin_answer = dsc_plus.device.respond(question, "1234")  # type: ignore[attr-defined]
    wrong = problem(lambda: client.change_pin_answer(token, dsc_plus.device_id, second.id, old_pin_answer))
    assert wrong.code == "wrong-answer"
    new_pin_answer = dsc_plus.device.respond(question, "4321")  # type: ignore[attr-defined]
    client.change_pin_answer(token, dsc_plus.device_id, second.id, new_pin_answer)
    started = client.login(alice, PASSWORD)
    login = client.challenge(started.login_id, dsc_plus.device_id)
    assert problem(
        lambda: client.answer(started.login_id, login.id, harness.answer(dsc_plus, login))
    ).code == ("wrong-answer")
    dsc_plus.pin = "4321"
    assert client.answer(started.login_id, login.id, harness.answer(dsc_plus, login)).scope == FULL_SCOPE


def test_support_resets_a_forgotten_dsc_plus_pin_after_an_identity_check(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    dsc_plus = harness.enroll(alice, "dsc-plus", pin="1234")
    missing = problem(lambda: client.reset_pin(dsc_plus.device_id, verification_id="none", new_pin="9876"))
    assert (missing.status, missing.code) == (403, "identity-check-required")
    check = client.verify_identity(alice, method="phone-questions", agent="agent-7")
    bad = problem(lambda: client.reset_pin(dsc_plus.device_id, verification_id=check.id, new_pin="98"))
    assert bad.code == "invalid-request"
    client.reset_pin(dsc_plus.device_id, verification_id=check.id, new_pin="9876")
    used = problem(lambda: client.reset_pin(dsc_plus.device_id, verification_id=check.id, new_pin="5555"))
    assert used.code == "identity-check-required"
    dsc_plus.pin = "9876"
    assert harness.login(alice, PASSWORD, dsc_plus).grant.scope == FULL_SCOPE
    assert [e.detail["kind"] for e in client.audit(event="device.pin-reset")] == ["dsc-plus"]
    card = harness.enroll(alice, "scc")
    check = client.verify_identity(alice, method="phone-questions", agent="agent-7")
    no_pin = problem(lambda: client.reset_pin(card.device_id, verification_id=check.id, new_pin="9876"))
    assert no_pin.code == "invalid-request"


@pytest.mark.parametrize(("equity", "allowed"), [("499999.99", False), ("500000", True), ("500000.01", True)])
def test_a_dsc_plus_request_needs_the_equity_threshold(
    client: TokensimClient, harness: Harness, equity: str, allowed: bool
) -> None:
    client.create_user("nina", PASSWORD, phones=[NUMBER], equity=equity, start_with_sms=False)
    token = session(harness, "nina", harness.enroll("nina", "ib-key"))  # an IB Key user, as on the page
    if allowed:
        requested = client.request_device(token, "dsc-plus", pin="1234")
        assert requested.device.status == "pending"
        assert client.user("nina").reserved_usd == "20.00"
    else:
        refused = problem(lambda: client.request_device(token, "dsc-plus", pin="1234"))
        assert (refused.status, refused.code) == (403, "not-eligible")
        assert client.user("nina").reserved_usd == "0.00"


def test_sms_codes_six_digits_single_use_ten_minutes_and_two_minutes_apart(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    phone = harness.enroll(alice, "phone")
    token = session(harness, alice, phone)
    first = client.step_up(token, phone.device_id, "withdrawal")
    code = _code(harness, PHONE)
    assert re.fullmatch(r"[0-9]{6}", code)
    clock.advance(119)
    early = problem(lambda: client.step_up(token, phone.device_id, "withdrawal", mode="voice"))
    assert (early.status, early.code, early.retry_after) == (429, "too-many-attempts", 1.0)
    clock.advance(1)  # two minutes: the voice callback is the fallback
    voice = client.step_up(token, phone.device_id, "withdrawal", mode="voice")
    assert harness.phone(PHONE).inbox[-1].kind.value in ("sms", "voice")
    clock.advance(479)  # 599 s after the first code
    assert client.withdraw(token, "1.00", challenge_id=first.id, answer=code).device_kind == "phone"
    assert problem(lambda: client.withdraw(token, "1.00", challenge_id=first.id, answer=code)).code == (
        "replayed-answer"
    )
    voice_code = _code(harness, PHONE)
    clock.advance(121)  # the voice code is 600 s old
    assert problem(lambda: client.withdraw(token, "1.00", challenge_id=voice.id, answer=voice_code)).code == (
        "challenge-expired"
    )


def _ios_app(harness: Harness, name: str) -> IbKeyApp:
    app = IbKeyApp(
        Provisioning(kind=DeviceKind.IB_KEY, serial=name), clock=harness.clock, rng=harness.rng, os="ios"
    )
    harness.apps[name] = app
    return app


def test_ios_recovery_needs_the_phones_pin_or_biometric_and_no_sms(
    client: TokensimClient, harness: Harness
) -> None:
    client.create_user("nina", PASSWORD, phones=[NUMBER], start_with_sms=False)
    client.enroll("nina", "ib-key")
    app = _ios_app(harness, "iphone")
    serial = _activate_on(harness, app, "nina", NUMBER, pin="2580")
    app.reinstall()  # the keychain keeps the registration on iOS
    assert app.users() == ["nina"]
    texts = len(client.outbox())
    started = client.ib_key_recovery("nina", PASSWORD, serial, os="ios")
    assert (started.method, started.sent_to) == ("app", None)
    assert started.challenge is not None
    assert started.challenge.mode == "numeric"
    question = started.challenge.challenge.question
    assert question is not None
    with pytest.raises(InvalidPin):
        app.respond("nina", question, pin="0000")  # the phone's PIN unlocks the answer
    device_id = started.device.id
    wrong = problem(lambda: client.ib_key_recovery_answer(device_id, started.challenge.id, "00000000"))  # type: ignore[union-attr]
    assert wrong.code == "wrong-answer"
    answer = app.respond("nina", question, pin="2580")
    assert client.ib_key_recovery_answer(device_id, started.challenge.id, answer) is None
    assert len(client.outbox()) == texts  # nothing was texted
    assert [e.detail["os"] for e in client.audit(event="ib-key.recovered")] == ["ios"]
    # The OS is recorded: the next recovery needs no "os" to go the iOS way.
    assert client.ib_key_recovery("nina", PASSWORD, serial).method == "app"


def test_ios_recovery_by_sms_is_a_configuration_value(tmp_path: Path, clock: FixedClock) -> None:
    config = fast_config(tmp_path, ib_key_ios_recovery_sms=True)
    with in_process_client(config, clock) as client:
        harness = Harness(client, clock=clock)
        client.create_user("nina", PASSWORD, phones=[NUMBER], start_with_sms=False)
        client.enroll("nina", "ib-key")
        serial = _activate_on(harness, _ios_app(harness, "iphone"), "nina", NUMBER)
        started = client.ib_key_recovery("nina", PASSWORD, serial, os="ios")
        assert (started.method, started.sent_to) == ("sms", "+*******0020")


@pytest.mark.parametrize("os", ["android", "ios"])
def test_recovery_and_migration_ask_an_active_physical_device_instead_of_sms(
    client: TokensimClient, harness: Harness, alice: str, os: str
) -> None:
    harness.enroll(alice, "ib-key")
    card = harness.enroll(alice, "scc")
    app = harness.app()
    texts = len(client.outbox())
    started = client.ib_key_recovery(alice, PASSWORD, app.key_id(alice), os=os)
    if os == "ios":  # iOS recovery never texts: the app itself answers
        assert started.method == "app"
        return
    assert started.method == "device"
    assert started.challenge is not None
    assert started.challenge.challenge.device == card.device_id
    app.reinstall()
    token = client.ib_key_recovery_answer(
        started.device.id, started.challenge.id, harness.answer(card, started.challenge)
    )
    assert token is not None
    _activate = app.begin_activation(alice, token, pin="2580")
    assert client.activate_ib_key(_activate).serial == started.device.serial
    assert len(client.outbox()) == texts
    assert problem(
        lambda: client.ib_key_recovery(alice, PASSWORD, started.device.serial, os="windows")
    ).code == ("invalid-request")


def test_a_migration_records_the_new_phones_os(client: TokensimClient, harness: Harness) -> None:
    client.create_user("nina", PASSWORD, phones=[NUMBER], start_with_sms=False)
    client.enroll("nina", "ib-key")
    _activate_on(harness, harness.app("android-phone"), "nina", NUMBER)
    assert problem(lambda: client.ib_key_migration("nina", PASSWORD, os="symbian")).code == "invalid-request"
    started = client.ib_key_migration("nina", PASSWORD, os="ios")
    assert started.method == "sms"  # case B: the SMS to the original number (and the phone's own PIN)
    iphone = _ios_app(harness, "iphone")
    serial = _activate_on(harness, iphone, "nina", NUMBER)
    assert serial == started.device.serial
    assert client.ib_key_recovery("nina", PASSWORD, serial).method == "app"


def test_m2fs_keeps_physical_devices_beside_ib_key_and_sms_goes_unless_configured(
    client: TokensimClient, harness: Harness, tmp_path: Path, clock: FixedClock
) -> None:
    client.create_user("nina", PASSWORD, phones=[NUMBER])
    harness.enroll("nina", "dsc-plus")
    client.enroll("nina", "ib-key")
    _activate_on(harness, harness.app(), "nina", NUMBER)
    assert _statuses(client, "nina") == [("phone", "revoked"), ("dsc-plus", "active"), ("ib-key", "active")]
    assert [d.kind for d in client.login("nina", PASSWORD).devices] == ["dsc-plus", "ib-key"]  # the chooser
    with in_process_client(fast_config(tmp_path / "keep", ib_key_removes_sms=False), clock) as other:
        keeper = Harness(other, clock=clock)
        other.create_user("nina", PASSWORD, phones=[NUMBER])
        other.enroll("nina", "ib-key")
        _activate_on(keeper, keeper.app(), "nina", NUMBER)
        assert [(d.kind, d.status) for d in other.user("nina").devices] == [
            ("phone", "active"),
            ("ib-key", "active"),
        ]


def test_legacy_kinds_come_only_from_support_flagged_legacy(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    legacy = {kind: harness.enroll(alice, kind) for kind in ("scc", "dsc", "gold", "platinum")}
    current = {kind: harness.enroll(alice, kind) for kind in ("dsc-plus", "ib-key")}
    flags = {d.kind: d.legacy for d in client.user(alice).devices}
    assert flags == {
        "scc": True,
        "dsc": True,
        "gold": True,
        "platinum": True,
        "dsc-plus": False,
        "ib-key": False,
    }
    enrolled = [e.detail.get("legacy", False) for e in client.audit(event="device.enrolled")]
    assert enrolled == [True, True, True, True, False, False]
    token = session(harness, alice, current["dsc-plus"])
    for kind in legacy:
        refused = problem(lambda k=kind: client.request_device(token, k, pin="1234"))  # type: ignore[misc]
        # The request body allows only the DSC+, so the 422 names the one kind a user may request.
        assert (refused.code, "dsc-plus" in refused.detail) == ("invalid-request", True)
    assert problem(lambda: client.request_device(token, "ib-key")).code == "invalid-request"
    assert client.request_device(token, "dsc-plus", pin="4321").device.legacy is False


def test_ib_key_instant_activation_from_the_app_needs_funds_and_the_sms(
    client: TokensimClient, harness: Harness
) -> None:
    client.create_user("nina", PASSWORD, phones=[NUMBER, "+15551230021"], start_with_sms=False)
    refused = problem(lambda: client.ib_key_instant_activation("nina", PASSWORD))
    assert (refused.status, refused.code) == (403, "not-eligible")
    wrong = problem(lambda: client.ib_key_instant_activation("nina", "not the password"))
    assert wrong.code == "invalid-credentials"
    client.mark_funded("nina")
    unknown = problem(lambda: client.ib_key_instant_activation("nina", PASSWORD, number="+15559999999"))
    assert unknown.code == "unverified-number"  # a number not verified on the account
    started = client.ib_key_instant_activation("nina", PASSWORD, number="+15551230021", os="ios")
    assert (started.activation, started.sent_to, started.device.status) == (
        "sms-token",
        "+*******0021",
        "pending",
    )
    app = _ios_app(harness, "iphone")
    serial = _activate_on(harness, app, "nina", "+15551230021", pin="2580")
    assert serial == started.device.serial
    assert _statuses(client, "nina") == [("ib-key", "active")]
    assert client.ib_key_recovery("nina", PASSWORD, serial).method == "app"  # the OS it gave is kept
