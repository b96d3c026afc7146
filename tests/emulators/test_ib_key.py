"""The IB Key app: activation, signed push and QR approvals, codes, PIN limits, reinstall, the keypad."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from tokensim.emulators import load
from tokensim.emulators.devices.ib_key import IbKeyApp
from tokensim.protocol import (
    DEFAULT_SUITES,
    DeviceError,
    DeviceKind,
    DeviceLocked,
    ExpiredChallenge,
    FixedClock,
    IbKeyActivation,
    InvalidParameter,
    InvalidPin,
    Provisioning,
    PushDecision,
    PushRequest,
    ocra,
    qr_payload,
    totp,
    verify_ocra,
)
from tokensim.protocol.phone_auth import DECISIONS_PATH, RequestAuth, request_signing_bytes, requests_path

START = 1_700_000_000.0
OCRA_KEY = bytes(range(32))
TOTP_KEY = bytes(range(100, 120))
SUITE = DEFAULT_SUITES[DeviceKind.IB_KEY]
PIN = "2468"


def make(clock: FixedClock, seed: int = 1) -> IbKeyApp:
    return IbKeyApp(
        Provisioning(kind=DeviceKind.IB_KEY, serial="phone-A"), clock=clock, rng=random.Random(seed)
    )


def reply(serial: str = "reg-alice", **fields: object) -> Provisioning:
    values: dict[str, object] = {
        "kind": DeviceKind.IB_KEY,
        "serial": serial,
        "secret": OCRA_KEY,
        "suite": SUITE,
        "totp_secret": TOTP_KEY,
    }
    values.update(fields)
    return Provisioning(**values)  # type: ignore[arg-type]


def activate(
    app: IbKeyApp, user: str = "alice", *, pin: str | None = PIN, biometric: bool = False
) -> IbKeyActivation:
    activation = app.begin_activation(user, "TOKEN-123", pin=pin, biometric=biometric)
    app.complete_activation(user, reply(f"reg-{user}"))
    return activation


def push(request_id: str = "req-1", user: str = "alice", expires_at: float = START + 120) -> PushRequest:
    return PushRequest(
        id=request_id,
        username=user,
        action="login",
        origin="203.0.113.7",
        nonce="n-" + request_id,
        expires_at=expires_at,
        details={"platform": "Client Portal"},
    )


def verify(pem: str, request: PushRequest, decision: PushDecision) -> None:
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(decision.signature, request.signing_bytes(decision.approved), ec.ECDSA(hashes.SHA256()))


# Activation.


def test_activation_sends_a_p256_public_key_and_the_phone_name(clock: FixedClock) -> None:
    app = make(clock)
    activation = app.begin_activation("alice", "TOKEN-123", pin=PIN)
    assert (activation.username, activation.token, activation.device_name) == (
        "alice",
        "TOKEN-123",
        "phone-A",
    )
    assert activation.public_key.startswith("-----BEGIN PUBLIC KEY-----")
    key = serialization.load_pem_public_key(activation.public_key.encode())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert IbKeyActivation.from_json(activation.to_json()) == activation
    assert app.users() == []  # not a user until the server replies
    app.complete_activation("alice", reply())
    assert app.users() == ["alice"]
    assert app.public_key_pem("alice") == activation.public_key
    assert app.key_id("alice") == "reg-alice"


def test_several_users_each_with_their_own_key(clock: FixedClock) -> None:
    app = make(clock)
    keys = {user: activate(app, user).public_key for user in ["carol", "alice", "bob"]}
    assert app.users() == ["alice", "bob", "carol"]
    assert len(set(keys.values())) == 3
    assert {user: app.key_id(user) for user in app.users()} == {
        u: f"reg-{u}" for u in ["alice", "bob", "carol"]
    }


def test_the_injected_rng_makes_keys_reproducible(clock: FixedClock) -> None:
    same = [activate(make(clock, seed=5)).public_key for _ in range(2)]
    assert same[0] == same[1]
    assert activate(make(clock, seed=6)).public_key != same[0]


@pytest.mark.parametrize("pin", ["1234", "a1!@", "Zz9$%^", "ÄÖü1"])
def test_pins_of_four_to_six_letters_digits_and_specials(clock: FixedClock, pin: str) -> None:
    app = make(clock)
    activate(app, pin=pin)
    app.receive_push(push())
    verify(app.public_key_pem("alice"), push(), app.approve("req-1", pin=pin))


@pytest.mark.parametrize(
    ("username", "token", "pin", "biometric"),
    [
        ("alice", "T", "123", False),
        ("alice", "T", "1234567", False),
        ("alice", "T", "12 34", False),
        ("alice", "T", "12\n34", False),
        ("alice", "T", None, False),
        ("", "T", "1234", False),
        ("alice", "", "1234", False),
    ],
)
def test_bad_activation_input_is_refused(
    clock: FixedClock, username: str, token: str, pin: str | None, biometric: bool
) -> None:
    with pytest.raises(InvalidParameter):
        make(clock).begin_activation(username, token, pin=pin, biometric=biometric)


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": DeviceKind.DSC_PLUS},
        {"totp_secret": None},
        {"totp_secret": bytes(8)},
        {"secret": bytes(8)},
        {"suite": "OCRA-1:HOTP-SHA1-8:QA06"},
        {"digits": 5},
    ],
)
def test_a_bad_server_reply_is_refused_and_the_activation_stays_open(
    clock: FixedClock, bad: dict[str, object]
) -> None:
    app = make(clock)
    activation = app.begin_activation("alice", "T", pin=PIN)
    with pytest.raises(InvalidParameter):
        app.complete_activation("alice", reply(**bad))
    assert app.users() == []
    app.complete_activation("alice", reply())
    assert app.public_key_pem("alice") == activation.public_key


def test_completing_without_beginning_is_refused(clock: FixedClock) -> None:
    with pytest.raises(InvalidParameter, match="no activation"):
        make(clock).complete_activation("alice", reply())


# Push approvals.


def test_an_approval_is_signed_and_verifies_with_the_public_key(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    request = push()
    app.receive_push(request)
    assert app.pending() == [request]
    assert app.pending("alice") == [request]
    assert app.pending("bob") == []
    decision = app.approve("req-1", pin=PIN)
    assert (decision.request_id, decision.approved, decision.key_id) == ("req-1", True, "reg-alice")
    verify(app.public_key_pem("alice"), request, decision)
    assert PushDecision.from_json(decision.to_json()) == decision
    assert app.pending() == []
    with pytest.raises(InvalidParameter, match="no pending push request"):
        app.approve("req-1", pin=PIN)


def test_a_denial_is_signed_as_a_denial(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    app.receive_push(push())
    decision = app.deny("req-1", pin=PIN)
    assert decision.approved is False
    verify(app.public_key_pem("alice"), push(), decision)
    with pytest.raises(InvalidSignature):
        verify(app.public_key_pem("alice"), push(), dataclasses.replace(decision, approved=True))


CHANGES: dict[str, object] = {
    "id": "req-2",
    "username": "mallory",
    "action": "withdrawal",
    "origin": "198.51.100.1",
    "nonce": "other",
    "expires_at": START + 121,
    "details": {"platform": "TWS"},
}


@pytest.mark.parametrize("field", list(CHANGES))
def test_the_signature_fails_for_any_change_to_the_request(clock: FixedClock, field: str) -> None:
    app = make(clock)
    activate(app)
    request = push()
    app.receive_push(request)
    decision = app.approve("req-1", pin=PIN)
    changed = dataclasses.replace(request, **{field: CHANGES[field]})  # type: ignore[arg-type]
    with pytest.raises(InvalidSignature):
        verify(app.public_key_pem("alice"), changed, decision)


def test_another_users_key_does_not_verify(clock: FixedClock) -> None:
    app = make(clock)
    activate(app, "alice")
    activate(app, "bob")
    app.receive_push(push())
    decision = app.approve("req-1", pin=PIN)
    with pytest.raises(InvalidSignature):
        verify(app.public_key_pem("bob"), push(), decision)


@settings(max_examples=25, deadline=None)
@given(
    origin=st.text(max_size=20),
    nonce=st.text(min_size=1, max_size=20),
    details=st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
    approved=st.booleans(),
    tamper=st.text(min_size=1, max_size=5),
)
def test_random_requests_verify_and_tampered_ones_do_not(
    origin: str, nonce: str, details: dict[str, str], approved: bool, tamper: str
) -> None:
    clock = FixedClock(START)
    app = make(clock)
    activate(app)
    request = PushRequest("r", "alice", "login", origin, nonce, START + 60, details)
    app.receive_push(request)
    decision = app.approve("r", pin=PIN) if approved else app.deny("r", pin=PIN)
    verify(app.public_key_pem("alice"), request, decision)
    with pytest.raises(InvalidSignature):
        verify(app.public_key_pem("alice"), dataclasses.replace(request, nonce=nonce + tamper), decision)
    with pytest.raises(InvalidSignature):
        verify(app.public_key_pem("alice"), request, dataclasses.replace(decision, approved=not approved))


def test_an_expired_request_is_refused_and_dropped(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    app.receive_push(push(expires_at=START + 30))
    clock.advance(30)
    assert app.pending() == [push(expires_at=START + 30)]  # still open at its expiry time
    clock.advance(0.5)
    assert app.pending() == []
    with pytest.raises(ExpiredChallenge):
        app.approve("req-1", pin=PIN)
    with pytest.raises(InvalidParameter):
        app.approve("req-1", pin=PIN)
    assert app.attempts_remaining("alice") == IbKeyApp.PIN_ATTEMPTS


def test_a_push_for_a_user_not_in_the_app_is_refused(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    with pytest.raises(InvalidParameter):
        app.receive_push(push(user="bob"))


# PIN and biometric.


def test_wrong_pins_count_down_then_lock(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    app.receive_push(push())
    remaining = []
    for _ in range(IbKeyApp.PIN_ATTEMPTS):
        with pytest.raises(InvalidPin) as wrong:
            app.approve("req-1", pin="0000")
        remaining.append(wrong.value.attempts_remaining)
    assert remaining == list(range(IbKeyApp.PIN_ATTEMPTS - 1, -1, -1))
    assert app.pending() == [push()]  # a wrong PIN does not use up the request
    with pytest.raises(DeviceLocked):
        app.approve("req-1", pin=PIN)
    with pytest.raises(DeviceLocked):
        app.time_code("alice", pin=PIN)
    with pytest.raises(DeviceLocked):
        app.respond("alice", "123456", pin=PIN)
    activate(app)  # activating again replaces the locked registration
    assert app.attempts_remaining("alice") == IbKeyApp.PIN_ATTEMPTS
    app.approve("req-1", pin=PIN)


def test_a_right_pin_resets_the_count(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    for _ in range(IbKeyApp.PIN_ATTEMPTS - 1):
        with pytest.raises(InvalidPin):
            app.time_code("alice", pin="9999")
    app.time_code("alice", pin=PIN)
    assert app.attempts_remaining("alice") == IbKeyApp.PIN_ATTEMPTS


def test_users_lock_separately(clock: FixedClock) -> None:
    app = make(clock)
    activate(app, "alice")
    activate(app, "bob")
    for _ in range(IbKeyApp.PIN_ATTEMPTS):
        with pytest.raises(InvalidPin):
            app.time_code("alice", pin="0000")
    assert app.time_code("bob", pin=PIN) == totp(TOTP_KEY, START)


def test_biometric_unlock(clock: FixedClock) -> None:
    app = make(clock)
    activate(app, "bio", pin=None, biometric=True)
    activate(app, "pin")
    activate(app, "both", pin=PIN, biometric=True)
    assert app.time_code("bio", biometric=True) == totp(TOTP_KEY, START)
    assert app.time_code("both", biometric=True) == app.time_code("both", pin=PIN)
    with pytest.raises(DeviceError):
        app.time_code("bio", pin=PIN)
    with pytest.raises(DeviceError):
        app.time_code("pin", biometric=True)
    with pytest.raises(InvalidParameter):
        app.time_code("pin")
    assert app.attempts_remaining("pin") == IbKeyApp.PIN_ATTEMPTS


# QR login.


def test_a_scanned_qr_code_gives_a_signed_approval(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    request = push("qr-1")
    decision = app.scan_qr(qr_payload(request), pin=PIN)
    assert decision.approved
    verify(app.public_key_pem("alice"), request, decision)
    assert app.pending() == []


def test_bad_or_expired_qr_codes_are_refused(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    with pytest.raises(InvalidParameter, match="tokensim-qr"):
        app.scan_qr("https://example.com", pin=PIN)
    with pytest.raises(InvalidParameter):
        app.scan_qr(qr_payload(push(user="bob")), pin=PIN)
    with pytest.raises(ExpiredChallenge):
        app.scan_qr(qr_payload(push(expires_at=START - 1)), pin=PIN)
    with pytest.raises(InvalidPin):
        app.scan_qr(qr_payload(push()), pin="1111")


# Challenge/response and the time-based code.


def test_challenge_response_is_ocra_with_the_registration_suite(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    response = app.respond("alice", "123456", pin=PIN)
    assert len(response) == 8
    assert response == ocra(SUITE, OCRA_KEY, "123456")
    verify_ocra(SUITE, OCRA_KEY, response, "123456")


@pytest.mark.parametrize("challenge", ["12345", "1234567", "12a456", ""])
def test_a_malformed_challenge_is_refused_without_using_an_attempt(clock: FixedClock, challenge: str) -> None:
    app = make(clock)
    activate(app)
    with pytest.raises(InvalidParameter):
        app.respond("alice", challenge, pin="0000")
    assert app.attempts_remaining("alice") == IbKeyApp.PIN_ATTEMPTS


def test_a_counter_suite_from_the_server_advances(clock: FixedClock) -> None:
    app = make(clock)
    suite = "OCRA-1:HOTP-SHA256-8:C-QN06"
    app.begin_activation("alice", "T", pin=PIN)
    app.complete_activation("alice", reply(suite=suite))
    assert [app.respond("alice", "000001", pin=PIN) for _ in range(2)] == [
        ocra(suite, OCRA_KEY, "000001", counter=0),
        ocra(suite, OCRA_KEY, "000001", counter=1),
    ]


def test_the_time_code_follows_the_clock(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    first = app.time_code("alice", pin=PIN)
    assert first == totp(TOTP_KEY, START)
    clock.advance(30)
    assert app.time_code("alice", pin=PIN) == totp(TOTP_KEY, START + 30)


@settings(max_examples=40, deadline=None)
@given(
    secret=st.binary(min_size=16, max_size=64),
    totp_secret=st.binary(min_size=16, max_size=64),
    challenge=st.text("0123456789", min_size=6, max_size=6),
    when=st.floats(min_value=0, max_value=4e9),
)
def test_codes_equal_the_protocol_functions(
    secret: bytes, totp_secret: bytes, challenge: str, when: float
) -> None:
    clock = FixedClock(when)
    app = make(clock)
    app.begin_activation("u", "T", biometric=True)
    app.complete_activation("u", reply(secret=secret, totp_secret=totp_secret))
    assert app.respond("u", challenge, biometric=True) == ocra(SUITE, secret, challenge)
    assert app.time_code("u", biometric=True) == totp(totp_secret, when)


# Reinstall and saved state.


def test_reinstall_wipes_everything(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    app.begin_activation("bob", "T", pin=PIN)
    app.receive_push(push())
    app.reinstall()
    assert app.users() == []
    assert app.pending() == []
    assert app.take_outbox() == []
    with pytest.raises(InvalidParameter):
        app.public_key_pem("alice")
    with pytest.raises(InvalidParameter):
        app.complete_activation("bob", reply())
    assert app.save()["state"] == make(clock).save()["state"]


def test_save_and_load_keep_keys_pins_pending_work_and_counts(clock: FixedClock) -> None:
    app = make(clock)
    activate(app, "alice")
    bob = app.begin_activation("bob", "T", pin="b0b!")
    app.receive_push(push())
    with pytest.raises(InvalidPin):
        app.time_code("alice", pin="0000")
    app.press("1")
    copy = load(json.loads(json.dumps(app.save())), clock=clock, rng=random.Random(9))
    assert isinstance(copy, IbKeyApp)
    assert copy.save() == app.save()
    assert copy.screen == app.screen
    assert copy.attempts_remaining("alice") == IbKeyApp.PIN_ATTEMPTS - 1
    verify(app.public_key_pem("alice"), push(), copy.approve("req-1", pin=PIN))
    copy.complete_activation("bob", reply("reg-bob"))
    assert copy.public_key_pem("bob") == bob.public_key
    assert PIN not in json.dumps(app.save())  # the PIN is kept only as a salted hash


# Signed requests to the server.


def test_requests_are_signed_with_the_registration_key_and_their_times_always_rise(clock: FixedClock) -> None:
    app = make(clock)
    activate(app, "alice")
    activate(app, "bob")
    first = app.listing_auth("reg-alice")
    second = app.listing_auth("reg-alice")  # the clock has not moved: one millisecond later
    assert (first.registration, first.time_ms, second.time_ms) == (
        "reg-alice",
        int(START * 1000),
        int(START * 1000) + 1,
    )
    key = serialization.load_pem_public_key(app.public_key_pem("alice").encode())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    signed = request_signing_bytes("GET", requests_path("reg-alice"), "reg-alice", first.time_ms)
    key.verify(first.signature, signed, ec.ECDSA(hashes.SHA256()))
    decision = app.decision_auth("reg-alice")
    key.verify(
        decision.signature,
        request_signing_bytes("POST", DECISIONS_PATH, "reg-alice", decision.time_ms),
        ec.ECDSA(hashes.SHA256()),
    )
    bob = serialization.load_pem_public_key(app.public_key_pem("bob").encode())
    assert isinstance(bob, ec.EllipticCurvePublicKey)
    with pytest.raises(InvalidSignature):  # bob's key does not sign alice's requests
        bob.verify(first.signature, signed, ec.ECDSA(hashes.SHA256()))
    assert app.listing_auth("reg-bob").time_ms == int(START * 1000)  # each registration has its own times
    clock.advance(5)
    assert app.listing_auth("reg-alice").time_ms == int((START + 5) * 1000)
    with pytest.raises(InvalidParameter, match="no registration"):
        app.listing_auth("reg-carol")
    assert RequestAuth.parse(first.header()) == first


def test_the_last_request_time_survives_save_and_load_and_older_files_load(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    last = app.listing_auth("reg-alice").time_ms
    copy = load(json.loads(json.dumps(app.save())), clock=clock)
    assert isinstance(copy, IbKeyApp)
    assert copy.listing_auth("reg-alice").time_ms == last + 1
    older = app.save()
    del older["state"]["registrations"][0]["request_time"]  # saved before requests were signed
    old = load(older, clock=clock)
    assert isinstance(old, IbKeyApp)
    assert old.listing_auth("reg-alice").time_ms == int(START * 1000)


def test_a_damaged_private_key_is_refused(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    saved = app.save()
    saved["state"]["registrations"][0]["private_key"] = "not a key"
    with pytest.raises(InvalidParameter, match="private_key"):
        load(saved)


def test_repr_and_activation_hold_no_secret(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    assert OCRA_KEY.hex() not in repr(app)
    assert "PRIVATE" not in json.dumps(app.begin_activation("x", "T", pin=PIN).to_json())


# The keypad.


def test_the_screen_lists_users_then_shows_a_request(clock: FixedClock) -> None:
    app = make(clock)
    assert app.screen == "IB Key\nNo users: activate IB Key"
    activate(app, "bob")
    activate(app, "alice")
    assert app.screen == "IB Key\nUsers: alice, bob"
    app.receive_push(push())
    assert app.screen.splitlines() == [
        "IB Key",
        "Approve login for alice?",
        "From 203.0.113.7",
        "platform: Client Portal",
        "PIN:",
        "OK approve   PRESS deny",
    ]


def test_approving_on_the_keypad(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    app.receive_push(push())
    for key in "24681":  # one digit too many, then deleted
        app.press(key)
    assert "PIN: *****" in app.screen
    app.press("BACK")
    assert "PIN: ****" in app.screen
    app.press("OK")
    assert app.screen == "IB Key\nApproved\nUsers: alice"
    app.press("5")  # any key clears the notice
    assert app.screen == "IB Key\nUsers: alice"
    [decision] = app.take_outbox()
    assert decision.approved
    verify(app.public_key_pem("alice"), push(), decision)
    assert app.take_outbox() == []


def test_denying_on_the_keypad(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    app.receive_push(push())
    for key in [*PIN, "PRESS"]:
        app.press(key)
    assert app.screen.splitlines()[1] == "Denied"
    [decision] = app.take_outbox()
    assert decision.approved is False
    verify(app.public_key_pem("alice"), push(), decision)


def test_a_wrong_pin_on_the_keypad_keeps_the_request(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    app.receive_push(push())
    for key in "1111":
        app.press(key)
    app.press("OK")
    assert app.screen.splitlines()[1] == f"Wrong PIN: {IbKeyApp.PIN_ATTEMPTS - 1} attempts left"
    assert "Approve login for alice?" in app.screen
    app.press("OK")  # nothing typed and no biometric
    assert app.screen.splitlines()[1] == "Enter your PIN"
    assert app.take_outbox() == []


def test_a_locked_user_on_the_keypad(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    app.receive_push(push())
    for _ in range(IbKeyApp.PIN_ATTEMPTS):
        for key in [*"1111", "OK"]:
            app.press(key)
    for key in [*PIN, "OK"]:
        app.press(key)
    assert app.screen.splitlines()[1] == "Locked: activate IB Key again"


def test_biometric_approval_on_the_keypad(clock: FixedClock) -> None:
    app = make(clock)
    activate(app, pin=None, biometric=True)
    app.receive_push(push())
    assert "Touch the sensor, or type your PIN" in app.screen
    app.press("OK")
    [decision] = app.take_outbox()
    verify(app.public_key_pem("alice"), push(), decision)


def test_an_expiring_request_leaves_the_screen(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    app.receive_push(push(expires_at=START + 30))
    app.press("2")
    clock.advance(31)
    assert app.screen == "IB Key\nUsers: alice"
    app.press("OK")
    assert app.take_outbox() == []


def test_keys_with_nothing_to_approve_do_nothing(clock: FixedClock) -> None:
    app = make(clock)
    activate(app)
    before = app.save()
    for key in ["1", "OK", "BACK", "PRESS"]:
        app.press(key)
    assert app.save() == before
