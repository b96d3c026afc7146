"""Verification per algorithm and the policy of each kind, without a database."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tokensim.protocol.cards import CardKind, CodeCard
from tokensim.protocol.errors import InvalidCode, InvalidParameter, ReplayedCode
from tokensim.protocol.messages import ChallengeForm, PushDecision, PushRequest, parse_qr_payload
from tokensim.protocol.ocra import ocra
from tokensim.protocol.otp import totp
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind
from tokensim.server.config import ServerConfig
from tokensim.server.hashing import SecretHasher
from tokensim.server.verify import (
    POLICIES,
    TEMPORARY_KIND,
    DeviceSecrets,
    DeviceState,
    check_answer,
    check_push_decision,
    load_public_key,
    make_question,
    oob_mac,
    policy_for,
    qr_text,
)

from .conftest import FAST_ARGON2

CONFIG = ServerConfig()
KEY20 = bytes(range(20))
KEY32 = bytes(range(32))
NOW = 1_700_000_000.0


def state(kind: str, **changes: object) -> DeviceState:
    base = DeviceState(
        kind=kind, suite=None, digits=6, step=30, algorithm="SHA1", counter=None, last_step=None
    )
    return DeviceState(**({f: getattr(base, f) for f in DeviceState.__dataclass_fields__} | changes))  # type: ignore[arg-type]


def test_every_device_kind_and_the_temporary_passcode_have_a_policy() -> None:
    assert set(POLICIES) == {k.value for k in DeviceKind} | {TEMPORARY_KIND}
    assert policy_for("ib-key").modes[0] == "push"
    with pytest.raises(InvalidParameter, match="unknown device kind"):
        policy_for("toaster")


def test_grid_questions_name_two_distinct_unused_cells() -> None:
    secrets = DeviceSecrets(secret=KEY32)
    rng = random.Random(7)
    for _ in range(50):
        question = make_question(state("scc"), "grid", rng, secrets=secrets)
        assert question.form is ChallengeForm.GRID
        assert len(set(question.indices)) == 2
    used = frozenset(range(1, 223))
    assert set(make_question(state("scc"), "grid", rng, secrets=secrets, used_cells=used).indices) == {
        223,
        224,
    }
    with pytest.raises(InvalidParameter, match="every cell"):
        make_question(state("scc"), "grid", rng, secrets=secrets, used_cells=frozenset(range(1, 224)))


def test_grid_answers_are_checked_forgivingly_but_exactly() -> None:
    secrets = DeviceSecrets(secret=KEY32)
    card = CodeCard(KEY32, CardKind.ONLINE)
    right = card.expected_answer((5, 9))
    assert (
        check_answer(
            state("online-scc"),
            secrets,
            mode="grid",
            answer=f" {right[:3]} {right[3:]} ",
            now=NOW,
            config=CONFIG,
            indices=(5, 9),
        ).step
        is None
    )
    with pytest.raises(InvalidCode):
        check_answer(
            state("online-scc"),
            secrets,
            mode="grid",
            answer=right[::-1] if right != right[::-1] else "x",
            now=NOW,
            config=CONFIG,
            indices=(5, 9),
        )


def test_numeric_questions_have_the_suites_length() -> None:
    rng = random.Random(1)
    assert len(make_question(state("dsc-plus"), "numeric", rng).question or "") == 6
    assert len(make_question(state("gold"), "numeric", rng).question or "") == 8
    assert make_question(state("ib-key"), "numeric", rng).question.isdigit()  # type: ignore[union-attr]


def test_totp_matches_once_per_step_within_the_window() -> None:
    secrets = DeviceSecrets(secret=KEY20)
    code = totp(KEY20, NOW - 30)
    accepted = check_answer(state("dsc"), secrets, mode="code", answer=code, now=NOW, config=CONFIG)
    assert accepted.step == int(NOW // 30) - 1
    with pytest.raises(ReplayedCode):
        check_answer(
            state("dsc", last_step=accepted.step), secrets, mode="code", answer=code, now=NOW, config=CONFIG
        )
    with pytest.raises(InvalidCode):
        check_answer(state("dsc"), secrets, mode="code", answer=totp(KEY20, NOW - 90), now=NOW, config=CONFIG)


def test_ib_key_time_codes_use_their_own_key() -> None:
    secrets = DeviceSecrets(secret=KEY32, totp_secret=KEY20)
    check_answer(state("ib-key"), secrets, mode="code", answer=totp(KEY20, NOW), now=NOW, config=CONFIG)
    with pytest.raises(InvalidCode):
        check_answer(state("ib-key"), secrets, mode="code", answer=totp(KEY32, NOW), now=NOW, config=CONFIG)


def test_dsc_plus_response_folds_in_the_pin() -> None:
    suite = DEFAULT_SUITES[DeviceKind.DSC_PLUS]
    secrets = DeviceSecrets(secret=KEY20, pin="1234")
    right = ocra(suite, KEY20, "123456", pin="1234")
    check_answer(
        state("dsc-plus"), secrets, mode="numeric", answer=right, now=NOW, config=CONFIG, question="123456"
    )
    wrong_pin = ocra(suite, KEY20, "123456", pin="4321")
    with pytest.raises(InvalidCode):
        check_answer(
            state("dsc-plus"),
            secrets,
            mode="numeric",
            answer=wrong_pin,
            now=NOW,
            config=CONFIG,
            question="123456",
        )
    with pytest.raises(InvalidCode, match="digits"):
        check_answer(
            state("dsc-plus"),
            secrets,
            mode="numeric",
            answer="abc",
            now=NOW,
            config=CONFIG,
            question="123456",
        )


def test_gold_counter_look_ahead_is_bounded_by_the_window() -> None:
    suite = DEFAULT_SUITES[DeviceKind.GOLD]
    secrets = DeviceSecrets(secret=KEY32, pin="1234")
    ahead = ocra(suite, KEY32, "12345678", counter=13, pin="1234")
    accepted = check_answer(
        state("gold", counter=3),
        secrets,
        mode="numeric",
        answer=ahead,
        now=NOW,
        config=CONFIG,
        question="12345678",
    )
    assert accepted.counter == 13
    too_far = ocra(suite, KEY32, "12345678", counter=14, pin="1234")
    with pytest.raises(InvalidCode):
        check_answer(
            state("gold", counter=3),
            secrets,
            mode="numeric",
            answer=too_far,
            now=NOW,
            config=CONFIG,
            question="12345678",
        )


def test_platinum_accepts_one_minute_of_drift() -> None:
    suite = DEFAULT_SUITES[DeviceKind.PLATINUM]
    key = bytes(range(64))
    secrets = DeviceSecrets(secret=key, pin="1234")
    drifted = ocra(suite, key, "12345678", pin="1234", timestamp=NOW - 60)
    check_answer(
        state("platinum"),
        secrets,
        mode="numeric",
        answer=drifted,
        now=NOW,
        config=CONFIG,
        question="12345678",
    )
    stale = ocra(suite, key, "12345678", pin="1234", timestamp=NOW - 180)
    with pytest.raises(InvalidCode):
        check_answer(
            state("platinum"),
            secrets,
            mode="numeric",
            answer=stale,
            now=NOW,
            config=CONFIG,
            question="12345678",
        )


def test_out_of_band_codes_are_bound_to_their_challenge() -> None:
    key = bytes(32)
    mac = oob_mac(key, "c1", "123456")
    assert mac != oob_mac(key, "c2", "123456")
    check_answer(
        state("phone"),
        DeviceSecrets(),
        mode="sms",
        answer=" 123456 ",
        now=NOW,
        config=CONFIG,
        challenge_id="c1",
        code_mac=mac,
        mac_key=key,
    )
    with pytest.raises(InvalidCode):
        check_answer(
            state("phone"),
            DeviceSecrets(),
            mode="sms",
            answer="123456",
            now=NOW,
            config=CONFIG,
            challenge_id="c2",
            code_mac=mac,
            mac_key=key,
        )


def test_static_passcodes_are_case_sensitive() -> None:
    hasher = SecretHasher(FAST_ARGON2)
    secrets = DeviceSecrets(static_hash=hasher.hash("ABCD2345EFGH"))
    check_answer(
        state(TEMPORARY_KIND),
        secrets,
        mode="static",
        answer="ABCD 2345 EFGH",
        now=NOW,
        config=CONFIG,
        hasher=hasher,
    )
    with pytest.raises(InvalidCode):
        check_answer(
            state(TEMPORARY_KIND),
            secrets,
            mode="static",
            answer="abcd2345efgh",
            now=NOW,
            config=CONFIG,
            hasher=hasher,
        )


def test_push_signatures_cover_the_request_and_the_decision() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    request = PushRequest("r1", "alice", "login", "203.0.113.7", "n1", NOW + 60)
    signature = private.sign(request.signing_bytes(True), ec.ECDSA(hashes.SHA256()))
    check_push_decision(pem, request, PushDecision("r1", True, signature, "IBK1"))
    with pytest.raises(InvalidCode):
        check_push_decision(pem, request, PushDecision("r1", False, signature, "IBK1"))
    changed = PushRequest("r1", "alice", "login", "198.51.100.1", "n1", NOW + 60)
    with pytest.raises(InvalidCode):
        check_push_decision(pem, changed, PushDecision("r1", True, signature, "IBK1"))
    with pytest.raises(InvalidCode, match="another request"):
        check_push_decision(pem, request, PushDecision("r2", True, signature, "IBK1"))
    assert parse_qr_payload(qr_text(request)) == request


def test_only_p256_public_keys_are_accepted() -> None:
    rsa_pem = (
        rsa.generate_private_key(65537, 2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    p384 = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    for pem in (rsa_pem, p384, "not a key"):
        with pytest.raises(InvalidParameter):
            load_public_key(pem)


def test_secrets_round_trip_and_never_show_in_a_repr() -> None:
    secrets = DeviceSecrets(secret=KEY20, totp_secret=KEY32, pin="1234", static_hash="$argon2id$x")
    assert DeviceSecrets.from_bytes(secrets.to_bytes()) == secrets
    assert "1234" not in repr(secrets)
    assert KEY20.hex() not in repr(secrets)


def test_a_mode_outside_the_kind_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="answers"):
        make_question(state("dsc"), "push", random.Random())
