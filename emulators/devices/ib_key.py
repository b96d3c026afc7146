"""The IB Key phone app: several users, each with a key pair, an OCRA key and a TOTP key.

Activation, per user, in two steps as on the phone:

1. :meth:`IbKeyApp.begin_activation` takes the activation token from the SMS and the user's choice of
   PIN (4 to 6 characters: letters, digits and specials) or biometric unlock, creates an ECDSA P-256
   key pair for the registration, and returns the :class:`~tokensim.protocol.provisioning.IbKeyActivation`
   to send to the server (its public key as SubjectPublicKeyInfo PEM).
2. :meth:`IbKeyApp.complete_activation` takes the server's reply, a
   :class:`~tokensim.protocol.provisioning.Provisioning` whose serial is the registration (key) id,
   ``secret`` the OCRA key, ``suite`` the OCRA suite, ``totp_secret`` the time-based code key, and
   ``digits``, ``step`` and ``algorithm`` the TOTP parameters.

After that, each needing the user's PIN or biometric: push approval (:meth:`IbKeyApp.approve` or
:meth:`IbKeyApp.deny` of a :class:`~tokensim.protocol.messages.PushRequest` the server pushed),
QR login (:meth:`IbKeyApp.scan_qr`), challenge/response (:meth:`IbKeyApp.respond`, 6 digits in and 8
out with the default suite ``OCRA-1:HOTP-SHA256-8:QN06``), and a time-based code for when the phone is
offline (:meth:`IbKeyApp.time_code`). A decision is an ECDSA-SHA256 signature (DER) over
:meth:`PushRequest.signing_bytes`, with the registration's serial as ``key_id``.

Every request the phone makes to list its pushes or send a decision carries an ``Authorization``
header signed with the registration's key, no PIN needed (:meth:`IbKeyApp.request_auth`, format in
:mod:`tokensim.protocol.phone_auth`); its time is the clock's, in milliseconds, always later than the
registration's previous one, so the server can refuse a recorded request sent again.

Our emulation choices, none of them the vendor's algorithm: the key types and suites above; the PIN is
checked on the phone against a salted PBKDF2-SHA256 hash; :attr:`IbKeyApp.PIN_ATTEMPTS` wrong PINs in
a row lock that user's registration (:class:`~tokensim.protocol.errors.InvalidPin` with the attempts
left, 0 on the one that locks, then :class:`~tokensim.protocol.errors.DeviceLocked`) until it is
activated again or the app is reinstalled; a biometric unlock always succeeds when the user enrolled
it (there is no finger to get wrong). Private keys are derived from the injected RNG, so a seeded
``random.Random`` gives reproducible keys in tests; the default RNG is ``secrets.SystemRandom``.

The app's screen shows the oldest pending push request; the digits type a PIN (digits only, as a
keypad can), ``BACK`` deletes one, ``OK`` approves and ``PRESS`` denies, using the biometric when the
user enrolled it and nothing was typed. Decisions made on the keypad wait in
:meth:`IbKeyApp.take_outbox` for whoever carries them to the server; the high-level calls return
theirs directly.

The provisioning an app is created with names only the installation: its serial is the phone's name
(``device_name`` in every activation); users are added by activation.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass
from typing import Any, ClassVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tokensim.emulators.base import Device, StateReader
from tokensim.emulators.challenge_response import ocra_response
from tokensim.protocol.clock import Clock
from tokensim.protocol.errors import (
    DeviceError,
    DeviceLocked,
    ExpiredChallenge,
    InvalidParameter,
    InvalidPin,
    TokensimError,
)
from tokensim.protocol.messages import PushDecision, PushRequest, parse_qr_payload
from tokensim.protocol.ocra import OcraSuite, QuestionFormat
from tokensim.protocol.otp import HashAlgorithm, check_key, totp
from tokensim.protocol.phone_auth import DECISIONS_PATH, RequestAuth, request_signing_bytes, requests_path
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind, IbKeyActivation, Provisioning

__all__ = ["IbKeyApp"]

# The order of the P-256 group: private keys are drawn from [1, n).
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# A phone-local PIN check, not the server's password KDF: enough to keep the PIN out of a state file.
_PIN_ITERATIONS = 10_000


@dataclass(slots=True)
class _Unlock:
    """How one user unlocks the app: a salted PIN hash, biometrics, or both."""

    pin_salt: bytes | None
    pin_hash: bytes | None
    biometric: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "pin_salt": None if self.pin_salt is None else self.pin_salt.hex(),
            "pin_hash": None if self.pin_hash is None else self.pin_hash.hex(),
            "biometric": self.biometric,
        }

    @classmethod
    def from_state(cls, state: StateReader) -> _Unlock:
        unlock = cls(state.optional_hex("pin_salt"), state.optional_hex("pin_hash"), state.flag("biometric"))
        if (unlock.pin_salt is None) != (unlock.pin_hash is None):
            raise InvalidParameter("ib-key state: a PIN needs both its salt and its hash")
        return unlock


@dataclass(slots=True)
class _Pending:
    """An activation sent to the server and waiting for its reply."""

    username: str
    private_key: ec.EllipticCurvePrivateKey
    unlock: _Unlock


@dataclass(slots=True)
class _Registration:
    """One activated user."""

    username: str
    key_id: str
    private_key: ec.EllipticCurvePrivateKey
    secret: bytes
    suite: OcraSuite
    totp_secret: bytes
    digits: int
    step: int
    algorithm: HashAlgorithm
    counter: int
    unlock: _Unlock
    failures: int
    #: The time (ms) of the last signed request; the next one is later.
    request_time: int = 0


def _pin_hash(pin: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, _PIN_ITERATIONS)


def _private_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def _load_private(state: StateReader) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(state.text("private_key").encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise InvalidParameter("ib-key state: 'private_key' is not a PEM private key") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidParameter("ib-key state: 'private_key' is not a P-256 key")
    return key


class IbKeyApp(Device):
    """The IB Key app on one phone; see the module docstring for the flows and choices.

    Args:
        provisioning: an ``ib-key`` provisioning whose serial names the phone; its other fields are
            not used (each user's registration comes from :meth:`complete_activation`).
        clock: where the app reads the time (push expiry, time-based codes, time-based suites).
        rng: where the app draws private keys and PIN salts.
    """

    kind: ClassVar[str] = "ib-key"
    #: Shortest and longest PIN, in characters (the published Android rule).
    PIN_MIN: ClassVar[int] = 4
    PIN_MAX: ClassVar[int] = 6
    #: Wrong PINs in a row that lock a user's registration (our choice).
    PIN_ATTEMPTS: ClassVar[int] = 5
    #: The phone operating systems: on ``ios`` the registrations' keys survive a reinstall (the
    #: keychain), so IB Key recovery needs no SMS; on ``android`` a reinstall wipes them.
    OPERATING_SYSTEMS: ClassVar[tuple[str, ...]] = ("android", "ios")

    def __init__(
        self,
        provisioning: Provisioning,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        os: str = "android",
    ) -> None:
        super().__init__(provisioning, clock=clock, rng=rng)
        if os not in self.OPERATING_SYSTEMS:
            raise InvalidParameter(f"os must be one of {', '.join(self.OPERATING_SYSTEMS)}")
        #: The phone's operating system (``android`` or ``ios``).
        self.os = os
        self._registrations: dict[str, _Registration] = {}
        self._activations: dict[str, _Pending] = {}
        self._pushes: dict[str, PushRequest] = {}
        self._outbox: list[PushDecision] = []
        self._typed = ""
        self._notice = ""

    # Activation.

    def begin_activation(
        self, username: str, token: str, *, pin: str | None = None, biometric: bool = False
    ) -> IbKeyActivation:
        """Start adding ``username``: choose the unlock method and create the registration's key pair.

        Args:
            username: the user being added.
            token: the activation token the user received by SMS (passed on to the server).
            pin: the PIN to choose, 4 to 6 characters; letters, digits and specials are allowed.
            biometric: unlock with the fingerprint or face instead of (or as well as) the PIN.

        Returns:
            What to send to the server: username, token, the public key (SubjectPublicKeyInfo PEM)
            and this phone's name.

        Raises:
            InvalidParameter: the username or token is empty, the PIN is malformed, or neither a PIN
                nor biometric unlock was chosen.
        """
        if not username or not token:
            raise InvalidParameter("activation needs a username and the activation token")
        if pin is None and not biometric:
            raise InvalidParameter("choose a PIN or biometric unlock")
        salt = hashed = None
        if pin is not None:
            self._check_pin_format(pin)
            salt = self._rng.randbytes(16)
            hashed = _pin_hash(pin, salt)
        key = ec.derive_private_key(self._rng.randrange(1, _P256_ORDER), ec.SECP256R1())
        self._activations[username] = _Pending(username, key, _Unlock(salt, hashed, biometric))
        return IbKeyActivation(
            username=username, token=token, public_key=_public_pem(key), device_name=self.serial
        )

    def complete_activation(self, username: str, provisioning: Provisioning) -> None:
        """Finish adding ``username`` with the server's reply; an earlier registration is replaced.

        Args:
            username: the user whose activation was begun.
            provisioning: the server's reply (``ib-key``): serial = registration id, secret = OCRA key,
                suite, totp_secret, digits, step, algorithm.

        Raises:
            InvalidParameter: no activation was begun for the user, or the reply is not a usable
                ``ib-key`` provisioning (missing keys, a suite that is not numeric-challenge).
        """
        if username not in self._activations:
            raise InvalidParameter(f"no activation in progress for user {username!r}")
        if provisioning.kind is not DeviceKind.IB_KEY:
            raise InvalidParameter(f"activation reply is for a {provisioning.kind.value!r} device")
        suite = OcraSuite.parse(
            DEFAULT_SUITES[DeviceKind.IB_KEY] if provisioning.suite is None else provisioning.suite
        )
        if suite.question_format is not QuestionFormat.NUMERIC or suite.digits == 0:
            raise InvalidParameter(f"{suite.text}: IB Key takes a numeric challenge and shows digits")
        check_key(provisioning.secret)
        if provisioning.totp_secret is None:
            raise InvalidParameter("activation reply has no 'totp_secret'")
        check_key(provisioning.totp_secret)
        if not 6 <= provisioning.digits <= 10 or provisioning.step <= 0:
            raise InvalidParameter("time-based codes have 6 to 10 digits and a positive step")
        pending = self._activations.pop(username)
        self._registrations[username] = _Registration(
            username=username,
            key_id=provisioning.serial,
            private_key=pending.private_key,
            secret=provisioning.secret,
            suite=suite,
            totp_secret=provisioning.totp_secret,
            digits=provisioning.digits,
            step=provisioning.step,
            algorithm=provisioning.algorithm,
            counter=0,
            unlock=pending.unlock,
            failures=0,
        )

    def users(self) -> list[str]:
        """The activated users, sorted."""
        return sorted(self._registrations)

    def public_key_pem(self, username: str) -> str:
        """The user's registration public key, SubjectPublicKeyInfo PEM.

        Raises:
            InvalidParameter: the user is not activated in this app.
        """
        return _public_pem(self._registration(username).private_key)

    def key_id(self, username: str) -> str:
        """The user's registration id (the serial the server gave it).

        Raises:
            InvalidParameter: the user is not activated in this app.
        """
        return self._registration(username).key_id

    def attempts_remaining(self, username: str) -> int:
        """How many more wrong PINs the user's registration takes before it locks.

        Raises:
            InvalidParameter: the user is not activated in this app.
        """
        return max(self.PIN_ATTEMPTS - self._registration(username).failures, 0)

    def change_pin(self, username: str, current: str, new: str) -> None:
        """Change the user's PIN after the server allowed it (password and a texted code).

        The PIN never leaves the phone: the current one unlocks, the new one is hashed in its place.

        Raises:
            InvalidParameter: the user is not activated here, or the new PIN is malformed.
            InvalidPin: the current PIN is wrong.
            DeviceLocked: too many wrong PINs.
        """
        registration = self._registration(username)
        self._check_pin_format(new)
        self._unlock(registration, current, False)
        salt = self._rng.randbytes(16)
        registration.unlock = _Unlock(salt, _pin_hash(new, salt), registration.unlock.biometric)

    def reinstall(self) -> None:
        """Uninstall and install again (on iOS the registrations stay in the keychain).

        Every pending request and setting is wiped; on Android every user and key too.
        """
        if self.os == "android":
            self._registrations.clear()
        self._activations.clear()
        self._pushes.clear()
        self._outbox.clear()
        self._typed = ""
        self._notice = ""

    # Push and QR approvals.

    def receive_push(self, request: PushRequest) -> None:
        """A push notification arrives; it waits in :meth:`pending` until approved, denied or expired.

        Raises:
            InvalidParameter: the request's user is not activated in this app.
        """
        self._registration(request.username)
        now = self._clock.now()
        # Requests that ran out are dropped when new ones arrive, so the list stays short.
        self._pushes = {rid: r for rid, r in self._pushes.items() if now <= r.expires_at}
        self._pushes[request.id] = request

    def pending(self, username: str | None = None) -> list[PushRequest]:
        """Push requests not yet answered and not expired, oldest first, for one user or all."""
        now = self._clock.now()
        return [
            request
            for request in self._pushes.values()
            if now <= request.expires_at and (username is None or request.username == username)
        ]

    def approve(self, request_id: str, *, pin: str | None = None, biometric: bool = False) -> PushDecision:
        """Approve a pending push request after the user's PIN or biometric.

        Raises:
            InvalidParameter: no such pending request, or neither PIN nor biometric given.
            ExpiredChallenge: the request expired (it is dropped).
            InvalidPin: the PIN is wrong (the request stays pending).
            DeviceLocked: the user's registration is locked.
            DeviceError: biometric unlock asked for but not enrolled, or the reverse for a PIN.
        """
        return self._decide(request_id, True, pin, biometric, self._clock.now())

    def deny(self, request_id: str, *, pin: str | None = None, biometric: bool = False) -> PushDecision:
        """Deny a pending push request, signed like an approval; raises as :meth:`approve` does."""
        return self._decide(request_id, False, pin, biometric, self._clock.now())

    def scan_qr(self, payload: str, *, pin: str | None = None, biometric: bool = False) -> PushDecision:
        """Scan a QR login code and approve the request it carries after the user's PIN or biometric.

        Args:
            payload: the QR code's text (see :func:`tokensim.protocol.messages.qr_payload`).

        Raises:
            InvalidParameter: the payload is not a QR login code, its user is not activated here, or
                neither PIN nor biometric given.
            ExpiredChallenge: the request in it expired.
            InvalidPin: the PIN is wrong.
            DeviceLocked: the user's registration is locked.
        """
        request = parse_qr_payload(payload)
        registration = self._registration(request.username)
        if self._clock.now() > request.expires_at:
            raise ExpiredChallenge("the QR login request has expired")
        self._unlock(registration, pin, biometric)
        return self._sign(registration, request, True)

    # Codes.

    def respond(
        self, username: str, challenge: str, *, pin: str | None = None, biometric: bool = False
    ) -> str:
        """Challenge/response: the user types the login page's challenge and reads the response.

        Args:
            username: whose registration answers.
            challenge: the challenge digits (6 with the default suite).

        Returns:
            The response (8 digits with the default suite).

        Raises:
            InvalidParameter: unknown user, a challenge of the wrong length or not digits, or neither
                PIN nor biometric given.
            InvalidPin: the PIN is wrong.
            DeviceLocked: the user's registration is locked.
        """
        registration = self._registration(username)
        length = registration.suite.question_length
        if len(challenge) != length or not all(c in "0123456789" for c in challenge):
            raise InvalidParameter(f"the challenge must be {length} digits")
        self._unlock(registration, pin, biometric)
        response = ocra_response(
            registration.suite,
            registration.secret,
            challenge,
            counter=registration.counter,
            pin=pin,
            now=self._clock.now(),
        )
        if registration.suite.counter:
            registration.counter += 1
        return response

    def time_code(self, username: str, *, pin: str | None = None, biometric: bool = False) -> str:
        """The time-based code (TOTP, RFC 6238) for logging in while the phone is offline.

        Raises:
            InvalidParameter: unknown user, or neither PIN nor biometric given.
            InvalidPin: the PIN is wrong.
            DeviceLocked: the user's registration is locked.
        """
        registration = self._registration(username)
        self._unlock(registration, pin, biometric)
        return totp(
            registration.totp_secret,
            self._clock.now(),
            step=registration.step,
            digits=registration.digits,
            algorithm=registration.algorithm,
        )

    # Signed requests to the server.

    def request_auth(self, key_id: str, method: str, path: str) -> RequestAuth:
        """Sign one request to the server with the registration ``key_id``'s key (no PIN needed).

        Its time is the clock's in milliseconds, or one more than the registration's previous
        request when the clock has not moved past it.

        Raises:
            InvalidParameter: no user of this app has the registration ``key_id``.
        """
        registration = next((r for r in self._registrations.values() if r.key_id == key_id), None)
        if registration is None:
            raise InvalidParameter(f"no registration {key_id!r} in this IB Key app")
        time_ms = max(int(self._clock.now() * 1000), registration.request_time + 1)
        registration.request_time = time_ms
        signature = registration.private_key.sign(
            request_signing_bytes(method, path, key_id, time_ms), ec.ECDSA(hashes.SHA256())
        )
        return RequestAuth(key_id, time_ms, signature)

    def listing_auth(self, key_id: str) -> RequestAuth:
        """The signed header for listing the registration's pending pushes."""
        return self.request_auth(key_id, "GET", requests_path(key_id))

    def decision_auth(self, key_id: str) -> RequestAuth:
        """The signed header for sending a decision made with the registration ``key_id``."""
        return self.request_auth(key_id, "POST", DECISIONS_PATH)

    def take_outbox(self) -> list[PushDecision]:
        """The decisions made on the keypad since the last call, oldest first; the outbox is emptied."""
        decisions, self._outbox = self._outbox, []
        return decisions

    # Internals.

    def _check_pin_format(self, pin: str) -> None:
        if not self.PIN_MIN <= len(pin) <= self.PIN_MAX:
            raise InvalidParameter(f"the PIN must be {self.PIN_MIN} to {self.PIN_MAX} characters")
        if not pin.isprintable() or any(c.isspace() for c in pin):
            raise InvalidParameter("the PIN may hold letters, digits and specials, but no spaces")

    def _registration(self, username: str) -> _Registration:
        registration = self._registrations.get(username)
        if registration is None:
            raise InvalidParameter(f"user {username!r} is not activated in this IB Key app")
        return registration

    def _unlock(self, registration: _Registration, pin: str | None, biometric: bool) -> None:
        if registration.failures >= self.PIN_ATTEMPTS:
            raise DeviceLocked("IB Key is locked for this user after too many wrong PINs; activate it again")
        unlock = registration.unlock
        if biometric:
            if not unlock.biometric:
                raise DeviceError("biometric unlock is not enabled for this user")
            return
        if pin is None:
            raise InvalidParameter("a PIN or biometric unlock is required")
        if unlock.pin_salt is None or unlock.pin_hash is None:
            raise DeviceError("this user unlocks with biometrics, not a PIN")
        if hmac.compare_digest(_pin_hash(pin, unlock.pin_salt), unlock.pin_hash):
            registration.failures = 0
            return
        registration.failures += 1
        raise InvalidPin(max(self.PIN_ATTEMPTS - registration.failures, 0))

    def _sign(self, registration: _Registration, request: PushRequest, approved: bool) -> PushDecision:
        signature = registration.private_key.sign(request.signing_bytes(approved), ec.ECDSA(hashes.SHA256()))
        return PushDecision(
            request_id=request.id, approved=approved, signature=signature, key_id=registration.key_id
        )

    def _decide(
        self, request_id: str, approved: bool, pin: str | None, biometric: bool, now: float
    ) -> PushDecision:
        request = self._pushes.get(request_id)
        if request is None:
            raise InvalidParameter(f"no pending push request {request_id!r}")
        if now > request.expires_at:
            del self._pushes[request_id]
            raise ExpiredChallenge("the push request has expired")
        registration = self._registration(request.username)
        self._unlock(registration, pin, biometric)
        del self._pushes[request_id]
        return self._sign(registration, request, approved)

    def _on_screen(self, now: float) -> PushRequest | None:
        for request in self._pushes.values():
            if now <= request.expires_at:
                return request
        return None

    def _render(self, now: float) -> str:
        lines = ["IB Key"]
        if self._notice:
            lines.append(self._notice)
        request = self._on_screen(now)
        if request is None:
            users = self.users()
            lines.append(f"Users: {', '.join(users)}" if users else "No users: activate IB Key")
            return "\n".join(lines)
        lines.append(f"Approve {request.action} for {request.username}?")
        lines.append(f"From {request.origin}")
        lines.extend(f"{key}: {value}" for key, value in sorted(request.details.items()))
        registration = self._registrations.get(request.username)
        if registration is not None and registration.unlock.biometric and not self._typed:
            lines.append("Touch the sensor, or type your PIN")
        else:
            lines.append(f"PIN: {'*' * len(self._typed)}".rstrip())
        lines.append("OK approve   PRESS deny")
        return "\n".join(lines)

    def _press(self, key: str, now: float) -> None:
        self._notice = ""
        request = self._on_screen(now)
        if request is None:
            self._typed = ""
            return  # nothing to approve: the keypad is not shown
        if key == "BACK":
            self._typed = self._typed[:-1]
        elif key.isdigit():
            if len(self._typed) < self.PIN_MAX:
                self._typed += key
        else:
            self._answer_on_screen(request, key == "OK", now)

    def _answer_on_screen(self, request: PushRequest, approved: bool, now: float) -> None:
        typed, self._typed = self._typed, ""
        registration = self._registrations.get(request.username)
        biometric = not typed and registration is not None and registration.unlock.biometric
        try:
            decision = self._decide(request.id, approved, typed or None, biometric, now)
        except InvalidPin as e:
            self._notice = f"Wrong PIN: {e.attempts_remaining} attempts left"
        except DeviceLocked:
            self._notice = "Locked: activate IB Key again"
        except ExpiredChallenge:
            self._notice = "Request expired"
        except TokensimError:
            self._notice = "Enter your PIN"
        else:
            self._outbox.append(decision)
            self._notice = "Approved" if approved else "Denied"

    def _state(self) -> dict[str, Any]:
        return {
            "registrations": [
                {
                    "username": r.username,
                    "key_id": r.key_id,
                    "private_key": _private_pem(r.private_key),
                    "secret": r.secret.hex(),
                    "suite": r.suite.text,
                    "totp_secret": r.totp_secret.hex(),
                    "digits": r.digits,
                    "step": r.step,
                    "algorithm": r.algorithm.value,
                    "counter": r.counter,
                    "unlock": r.unlock.to_json(),
                    "failures": r.failures,
                    "request_time": r.request_time,
                }
                for r in self._registrations.values()
            ],
            "activations": [
                {
                    "username": a.username,
                    "private_key": _private_pem(a.private_key),
                    "unlock": a.unlock.to_json(),
                }
                for a in self._activations.values()
            ],
            "pushes": [request.to_json() for request in self._pushes.values()],
            "outbox": [decision.to_json() for decision in self._outbox],
            "typed": self._typed,
            "notice": self._notice,
            "os": self.os,
        }

    def _restore(self, state: StateReader) -> None:
        for item in state.readers("registrations"):
            registration = _Registration(
                username=item.text("username"),
                key_id=item.text("key_id"),
                private_key=_load_private(item),
                secret=item.hex("secret"),
                suite=OcraSuite.parse(item.text("suite")),
                totp_secret=item.hex("totp_secret"),
                digits=item.integer("digits"),
                step=item.integer("step"),
                algorithm=HashAlgorithm.parse(item.text("algorithm")),
                counter=item.integer("counter"),
                unlock=_Unlock.from_state(item.reader("unlock")),
                failures=item.integer("failures"),
                # Saved by an older version without signed requests: start from the clock.
                request_time=int(item.optional_number("request_time") or 0),
            )
            self._registrations[registration.username] = registration
        for item in state.readers("activations"):
            pending = _Pending(
                item.text("username"), _load_private(item), _Unlock.from_state(item.reader("unlock"))
            )
            self._activations[pending.username] = pending
        for item in state.readers("pushes"):
            request = PushRequest.from_json(item.data)
            self._pushes[request.id] = request
        self._outbox = [PushDecision.from_json(item.data) for item in state.readers("outbox")]
        self._typed = state.text("typed")
        self._notice = state.text("notice")
        self.os = state.optional_text("os") or "android"
        if self.os not in self.OPERATING_SYSTEMS:
            raise InvalidParameter("ib-key state: unknown os")
        if len(self._typed) > self.PIN_MAX or not all(c in "0123456789" for c in self._typed):
            raise InvalidParameter("ib-key state: typed PIN out of range")
