"""Verification per algorithm, and the policy of each device kind.

Two layers, kept apart so a new kind is a new table row and not new branches everywhere:

* the **algorithms** (code card, TOTP, OCRA, one-time code sent out of band, static passcode, signed
  push decision) check one answer against the device's secrets, in constant time, and either raise
  :class:`~tokensim.protocol.errors.InvalidCode` or return an :class:`Accepted` saying which replay
  state to move forward (a TOTP step, an OCRA counter);
* the **policy** (:data:`POLICIES`) says, per device kind, which challenge modes it answers, what a
  login with it may do (its scope), and what enrollment needs (a PIN, a phone number).

Nothing here touches the database, the clock or the network: callers pass ``now``, the random
source and the secrets in, and apply what comes back atomically.

==============  ==================  ==============================================  ================
kind            modes (first=default)  algorithm                                   replay guard
==============  ==================  ==============================================  ================
scc             grid                code card, 3-character cells                    one answer per challenge
online-scc      grid                code card, 3-digit cells; expires               one answer per challenge
dsc             code                TOTP-SHA1-6, 30 s                               each step once
dsc-plus        numeric             OCRA ``QN06-PSHA1`` (PIN checked here)          one answer per challenge
gold            numeric             OCRA ``C-QN08-PSHA1``                           counter moves forward
platinum        numeric             OCRA ``QN08-PSHA256-T1M``                       one answer per challenge
ib-key          push, qr,           ECDSA P-256 signed decision; OCRA ``QN06``;     one decision per request;
                numeric, code       TOTP                                            each step once
phone           sms, voice          6 random digits sent by the carrier             one answer per challenge
temporary       static              argon2id hash of a static passcode              (issue 5 rules)
==============  ==================  ==============================================  ================
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tokensim.protocol.cards import CardKind, CodeCard
from tokensim.protocol.errors import InvalidCode, InvalidParameter
from tokensim.protocol.messages import ChallengeForm, PushDecision, PushRequest, qr_payload
from tokensim.protocol.ocra import OcraSuite, verify_ocra
from tokensim.protocol.otp import HashAlgorithm, verify_totp
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind
from tokensim.server.config import ServerConfig
from tokensim.server.hashing import SecretHasher

__all__ = [
    "FULL_SCOPE",
    "POLICIES",
    "SCOPES",
    "TEMPORARY_KIND",
    "Accepted",
    "DeviceSecrets",
    "DeviceState",
    "KindPolicy",
    "Question",
    "check_answer",
    "check_push_decision",
    "load_public_key",
    "make_question",
    "oob_mac",
    "policy_for",
    "qr_text",
]

#: Every scope a session may carry: trading platforms, the full portal, the portal limited to
#: printing the online card, and statements (closed accounts).
SCOPES = ("card-printing", "portal", "statements", "trading")
#: What a login with an active permanent device may do.
FULL_SCOPE: tuple[str, ...] = SCOPES
#: The server-side kind of a temporary passcode: support issues it, no device holds it.
TEMPORARY_KIND = "temporary"


@dataclass(frozen=True, slots=True)
class KindPolicy:
    """What one device kind answers and what a login with it may do.

    Attributes:
        kind: the wire name (``DeviceKind`` value, or ``temporary``).
        modes: challenge modes it answers; the first is used when a login names none.
        scope: what a session after a login with it may do.
        permanent: a device the user keeps (not a temporary passcode or online card).
        needs_pin: enrollment needs a PIN (the DSC shows it; the OCRA kinds fold it into answers).
        needs_number: enrollment needs a verified phone number.
        serial_prefix: how its serial numbers start.
    """

    kind: str
    modes: tuple[str, ...]
    scope: tuple[str, ...]
    permanent: bool
    needs_pin: bool = False
    needs_number: bool = False
    serial_prefix: str = "TS"


#: The policy of every kind, by wire name.
POLICIES: Mapping[str, KindPolicy] = {
    p.kind: p
    for p in (
        KindPolicy(DeviceKind.SCC.value, ("grid",), FULL_SCOPE, True, serial_prefix="SCC"),
        KindPolicy(DeviceKind.ONLINE_SCC.value, ("grid",), FULL_SCOPE, False, serial_prefix="OSC"),
        KindPolicy(DeviceKind.DSC.value, ("code",), FULL_SCOPE, True, needs_pin=True, serial_prefix="DSC"),
        KindPolicy(
            DeviceKind.DSC_PLUS.value, ("numeric",), FULL_SCOPE, True, needs_pin=True, serial_prefix="DSP"
        ),
        KindPolicy(
            DeviceKind.GOLD.value, ("numeric",), FULL_SCOPE, True, needs_pin=True, serial_prefix="GLD"
        ),
        KindPolicy(
            DeviceKind.PLATINUM.value, ("numeric",), FULL_SCOPE, True, needs_pin=True, serial_prefix="PLT"
        ),
        KindPolicy(
            DeviceKind.IB_KEY.value,
            ("push", "qr", "numeric", "code"),
            FULL_SCOPE,
            True,
            needs_number=True,
            serial_prefix="IBK",
        ),
        KindPolicy(
            DeviceKind.PHONE.value, ("sms", "voice"), FULL_SCOPE, True, needs_number=True, serial_prefix="SMS"
        ),
        KindPolicy(TEMPORARY_KIND, ("static",), FULL_SCOPE, False, serial_prefix="TMP"),
    )
}

_FORMS = {
    "grid": ChallengeForm.GRID,
    "code": ChallengeForm.CODE,
    "numeric": ChallengeForm.NUMERIC,
    "push": ChallengeForm.PUSH,
    "qr": ChallengeForm.PUSH,
    "sms": ChallengeForm.OOB,
    "voice": ChallengeForm.OOB,
    "static": ChallengeForm.STATIC,
}


def policy_for(kind: str) -> KindPolicy:
    """The policy of ``kind``.

    Raises:
        InvalidParameter: no such kind.
    """
    try:
        return POLICIES[kind]
    except KeyError:
        raise InvalidParameter(f"unknown device kind {kind!r}; known: {', '.join(POLICIES)}") from None


@dataclass(frozen=True, slots=True)
class DeviceSecrets:
    """The secret material of one device, sealed as a whole into ``devices.secrets``.

    Attributes:
        secret: the card secret, TOTP key or OCRA key.
        totp_secret: the IB Key's time-code key.
        pin: the PIN the OCRA suites fold into answers (the server must know it to check them).
        static_hash: argon2id hash of a temporary passcode.
    """

    secret: bytes = b""
    totp_secret: bytes | None = None
    pin: str | None = None
    static_hash: str | None = None

    def to_bytes(self) -> bytes:
        """The JSON bytes that get sealed."""
        data: dict[str, Any] = {"secret": self.secret.hex()}
        if self.totp_secret is not None:
            data["totp_secret"] = self.totp_secret.hex()
        if self.pin is not None:
            data["pin"] = self.pin
        if self.static_hash is not None:
            data["static_hash"] = self.static_hash
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> DeviceSecrets:
        """Read what :meth:`to_bytes` wrote."""
        data = json.loads(raw)
        totp = data.get("totp_secret")
        return cls(
            secret=bytes.fromhex(data.get("secret", "")),
            totp_secret=None if totp is None else bytes.fromhex(totp),
            pin=data.get("pin"),
            static_hash=data.get("static_hash"),
        )

    def __repr__(self) -> str:
        return "DeviceSecrets(<sealed>)"


@dataclass(frozen=True, slots=True)
class DeviceState:
    """The non-secret parameters and replay state of a device, as the verifier needs them.

    Attributes:
        kind: the wire name.
        suite: the OCRA suite, if any.
        digits: TOTP code length.
        step: TOTP step.
        algorithm: TOTP hash name.
        counter: the next OCRA counter, for counter suites.
        last_step: the last TOTP step accepted.
    """

    kind: str
    suite: str | None
    digits: int
    step: int
    algorithm: str
    counter: int | None
    last_step: int | None


@dataclass(frozen=True, slots=True)
class Question:
    """A challenge as made for one device, before it is stored.

    Attributes:
        form: what the user does.
        mode: how the device answers.
        question: digits to type into the device (``numeric``).
        indices: card cells asked for (``grid``).
        code: the one-time code to send (``sms``/``voice``); never stored, only its MAC.
    """

    form: ChallengeForm
    mode: str
    question: str | None = None
    indices: tuple[int, ...] = ()
    code: str | None = None

    def __repr__(self) -> str:
        return f"Question(form={self.form.value!r}, mode={self.mode!r})"


@dataclass(frozen=True, slots=True)
class Accepted:
    """A correct answer, with the replay state to move forward atomically.

    Attributes:
        step: the TOTP step used; store it only if it is newer than the stored one.
        counter: the OCRA counter matched; store ``counter + 1`` only if the stored one is not past it.
    """

    step: int | None = None
    counter: int | None = None


def _card_kind(kind: str) -> CardKind:
    return CardKind.ONLINE if kind == DeviceKind.ONLINE_SCC.value else CardKind.SECURITY_CODE_CARD


def make_question(
    state: DeviceState,
    mode: str,
    rng: random.Random,
    *,
    secrets: DeviceSecrets | None = None,
    used_cells: frozenset[int] = frozenset(),
) -> Question:
    """Make a challenge for one device in one mode.

    Args:
        state: the device.
        mode: one of the kind's modes.
        rng: the random source.
        secrets: needed for code cards (the card decides its size).
        used_cells: cells never to ask again (strict card mode).

    Raises:
        InvalidParameter: the kind does not answer in ``mode``, or a card has no two unused cells left.
    """
    policy = policy_for(state.kind)
    if mode not in policy.modes:
        raise InvalidParameter(f"a {state.kind} answers {', '.join(policy.modes)}, not {mode!r}")
    form = _FORMS[mode]
    if form is ChallengeForm.GRID:
        assert secrets is not None
        card = CodeCard(secrets.secret, _card_kind(state.kind))
        free = [cell for cell in range(1, card.cells + 1) if cell not in used_cells]
        if len(free) < 2:
            raise InvalidParameter("every cell of this card has been used; issue a new card")
        return Question(form, mode, indices=tuple(rng.sample(free, 2)))
    if form is ChallengeForm.NUMERIC:
        suite = OcraSuite.parse(_suite(state))
        digits = suite.question_length if suite.question_length <= 10 else 8
        return Question(form, mode, question=_digits(rng, digits))
    if form is ChallengeForm.OOB:
        return Question(form, mode, code=_digits(rng, 6))
    return Question(form, mode)


def _digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(count))


def _suite(state: DeviceState) -> str:
    if state.suite is not None:
        return state.suite
    try:
        return DEFAULT_SUITES[DeviceKind(state.kind)]
    except (KeyError, ValueError):
        raise InvalidParameter(f"a {state.kind} has no OCRA suite") from None


def oob_mac(key: bytes, challenge_id: str, code: str) -> str:
    """The MAC stored instead of a one-time code: HMAC-SHA256(key, challenge id || code), hex."""
    message = challenge_id.encode() + b"\x00" + code.strip().encode("utf-8", "replace")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def check_answer(
    state: DeviceState,
    secrets: DeviceSecrets,
    *,
    mode: str,
    answer: str,
    now: float,
    config: ServerConfig,
    question: str | None = None,
    indices: tuple[int, ...] = (),
    challenge_id: str = "",
    code_mac: str | None = None,
    mac_key: bytes = b"",
    hasher: SecretHasher | None = None,
) -> Accepted:
    """Check one typed answer in constant time.

    Args:
        state: the device and its replay state.
        secrets: its secrets.
        mode: the challenge's mode.
        answer: what the user typed.
        now: the current Unix time.
        config: windows for TOTP and OCRA.
        question: the numeric challenge.
        indices: the card cells asked for.
        challenge_id: the challenge (bound into one-time code MACs).
        code_mac: the stored MAC of the one-time code sent.
        mac_key: the key of ``code_mac``.
        hasher: checks static passcodes.

    Raises:
        InvalidCode: the answer is wrong.
        ReplayedCode: a TOTP code for a step already used.
    """
    if mode == "grid":
        CodeCard(secrets.secret, _card_kind(state.kind)).check_answer(indices, answer)
        return Accepted()
    if mode == "code":
        key = secrets.totp_secret if state.kind == DeviceKind.IB_KEY.value else secrets.secret
        if key is None:
            raise InvalidCode("device has no time-code key")
        match = verify_totp(
            key,
            answer,
            now,
            step=state.step,
            digits=state.digits,
            algorithm=HashAlgorithm.parse(state.algorithm),
            window=config.totp_window,
            last_used_step=state.last_step,
        )
        return Accepted(step=match.step)
    if mode == "numeric":
        if question is None:
            raise InvalidCode("challenge has no question")
        suite = OcraSuite.parse(_suite(state))
        if not answer.strip().isdigit():
            raise InvalidCode("response must be digits")
        result = verify_ocra(
            suite,
            secrets.secret,
            answer,
            question,
            counter=(state.counter or 0) if suite.counter else None,
            counter_window=config.ocra_counter_window,
            pin=secrets.pin if suite.pin_algorithm is not None else None,
            timestamp=now if suite.time_step is not None else None,
            time_window=config.ocra_time_window,
        )
        return Accepted(counter=result.counter)
    if mode in ("sms", "voice", "token"):
        if code_mac is None:
            raise InvalidCode("no code was sent for this challenge")
        presented = oob_mac(mac_key, challenge_id, answer)
        if not hmac.compare_digest(presented.encode(), code_mac.encode()):
            raise InvalidCode("code does not match")
        return Accepted()
    if mode == "static":
        # Temporary passcodes are upper case and must be typed so (no case folding).
        if hasher is None or not hasher.verify(secrets.static_hash, "".join(answer.split())):
            raise InvalidCode("passcode does not match")
        return Accepted()
    raise InvalidCode(f"a {mode} challenge is not answered by typing")


def load_public_key(pem: str) -> ec.EllipticCurvePublicKey:
    """Read an IB Key registration's public key, refusing anything but ECDSA P-256.

    Raises:
        InvalidParameter: not a PEM public key on P-256.
    """
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as e:
        raise InvalidParameter("public_key is not a PEM SubjectPublicKeyInfo") from e
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidParameter("public_key must be an ECDSA P-256 key")
    return key


def check_push_decision(public_key_pem: str, request: PushRequest, decision: PushDecision) -> None:
    """Check a phone's signature over the request and its decision (ECDSA P-256, SHA-256, DER).

    Raises:
        InvalidCode: the signature does not verify, or names another request.
    """
    if not hmac.compare_digest(decision.request_id.encode(), request.id.encode()):
        raise InvalidCode("decision is for another request")
    key = load_public_key(public_key_pem)
    try:
        key.verify(decision.signature, request.signing_bytes(decision.approved), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as e:
        raise InvalidCode("push decision signature does not verify") from e


def qr_text(request: PushRequest) -> str:
    """The text of the QR code shown for a QR login (:func:`tokensim.protocol.messages.qr_payload`)."""
    return qr_payload(request)
