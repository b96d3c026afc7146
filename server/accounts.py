"""Support operations: users, device enrollment and activation, IB Key activation, unlocks, audit.

Enrollment decides everything a device needs (its secrets, suite and serial) and returns it as
:class:`~tokensim.protocol.provisioning.Provisioning`, the same value an emulator or a board is
created from. A device starts ``pending`` and becomes ``active`` only when it proves it holds that
material: by answering an activation challenge, or, for IB Key, by the app sending back the
activation token texted to the user's verified number together with its new public key.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tokensim.protocol.cards import CardKind, CodeCard
from tokensim.protocol.errors import DeviceLocked, InvalidCode, InvalidParameter, ReplayedCode
from tokensim.protocol.ocra import OcraSuite
from tokensim.protocol.otp import HashAlgorithm
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind, IbKeyActivation, Provisioning
from tokensim.server.carrier import Message, mask_number
from tokensim.server.challenges import SENDER, Challenges, deliver, device_secrets, device_view
from tokensim.server.core import Core
from tokensim.server.db import rowcount
from tokensim.server.errors import AlreadyExists, DeviceUnavailable, NotFound, WrongAnswer
from tokensim.server.models import Challenge, Device, PhoneNumber, User
from tokensim.server.verify import TEMPORARY_KIND, DeviceSecrets, load_public_key, oob_mac, policy_for
from tokensim.server.views import AuditRecord, Card, ChallengeView, DeviceView, Enrollment, UserView

__all__ = ["Accounts"]

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
_PIN = re.compile(r"[0-9]{4}")
_JURISDICTION = re.compile(r"[A-Z]{2}")
_PASSCODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _key_bytes(algorithm: HashAlgorithm) -> int:
    # RFC 6287 §7.1 and the RFC 6238 vectors: a key as long as the hash output.
    return algorithm.digest_size


class Accounts:
    """What the support API does.

    Args:
        core: the shared parts.
        challenges: issues and checks activation challenges.
    """

    __slots__ = ("_challenges", "_core")

    def __init__(self, core: Core, challenges: Challenges) -> None:
        self._core = core
        self._challenges = challenges

    # -- users ---------------------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        password: str,
        *,
        phones: Sequence[str] = (),
        jurisdiction: str = "US",
        primary_user: bool = True,
        equity: Decimal = Decimal(0),
        entity: str | None = None,
    ) -> UserView:
        """Create a user with verified phone numbers.

        Raises:
            InvalidParameter: a value is badly formed (username, password length, phone, jurisdiction).
            AlreadyExists: the username is taken.
        """
        core = self._core
        if not _USERNAME.fullmatch(username):
            raise InvalidParameter("username: 2 to 64 of a-z 0-9 . _ -, starting with a letter or digit")
        if not 8 <= len(password) <= 256:
            raise InvalidParameter("password: 8 to 256 characters (NIST SP 800-63B §5.1.1.2)")
        for number in phones:
            if not _PHONE.fullmatch(number):
                raise InvalidParameter(
                    f"phone {mask_number(number)!r} is not an E.164 number such as +15551234567"
                )
        if len(set(phones)) != len(phones):
            raise InvalidParameter("phones: a number is listed twice")
        if not _JURISDICTION.fullmatch(jurisdiction):
            raise InvalidParameter("jurisdiction: a two-letter country code such as US, HK or IN")
        if equity < 0 or not equity.is_finite():
            raise InvalidParameter("equity must be a non-negative amount")
        now = core.clock.now()
        password_hash = core.hasher.hash(password)
        user = User(
            id=core.new_id(),
            username=username,
            password_hash=password_hash,
            jurisdiction=jurisdiction,
            primary_user=primary_user,
            equity=equity,
            entity=entity,
            status="open",
            created_at=now,
            password_failures=0,
            password_lockouts=0,
            factor_failures=0,
        )
        try:
            with core.db.write() as session:
                if session.scalar(select(User.id).where(User.username == username)) is not None:
                    raise AlreadyExists(f"username {username!r} is taken")
                session.add(user)
                session.flush()
                session.add_all(PhoneNumber(user_id=user.id, number=n, verified_at=now) for n in phones)
                core.audit.record(
                    session,
                    now,
                    "user.created",
                    actor="support",
                    outcome="ok",
                    user_id=user.id,
                    username=username,
                    detail={"jurisdiction": jurisdiction, "phones": len(phones)},
                )
        except IntegrityError as e:  # two creations of one username at once
            raise AlreadyExists(f"username {username!r} is taken") from e
        return self.get_user(username)

    def get_user(self, username: str) -> UserView:
        """A user with their phones and devices.

        Raises:
            NotFound: no such user.
        """
        with self._core.db.read() as session:
            user = self._user(session, username)
            phones = tuple(session.scalars(select(PhoneNumber.number).where(PhoneNumber.user_id == user.id)))
            devices = session.scalars(
                select(Device).where(Device.user_id == user.id).order_by(Device.created_at)
            )
            return UserView(
                username=user.username,
                jurisdiction=user.jurisdiction,
                primary_user=user.primary_user,
                equity=str(user.equity),
                entity=user.entity,
                status=user.status,
                phones=phones,
                account_locked=user.account_locked_at is not None,
                devices=tuple(device_view(d) for d in devices),
            )

    def _user(self, session: Session, username: str) -> User:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no user {username!r}")
        return user

    # -- enrollment ----------------------------------------------------------------------------

    def enroll(
        self,
        username: str,
        kind: str,
        *,
        pin: str | None = None,
        number: str | None = None,
        label: str | None = None,
        firmware: str = "current",
    ) -> Enrollment:
        """Enroll a new device for a user; it is ``pending`` until activated.

        Args:
            username: whose device.
            kind: a :class:`DeviceKind` value.
            pin: the 4-digit PIN for DSC, DSC+, Gold and Platinum.
            number: the verified number for a phone or IB Key (the user's first when ``None``).
            label: a name for people.
            firmware: ``current`` or ``legacy`` DSC+ firmware.

        Raises:
            NotFound: no such user.
            InvalidParameter: unknown kind, a missing or malformed PIN, an unverified number.
        """
        core = self._core
        if kind == TEMPORARY_KIND:
            raise InvalidParameter("temporary passcodes are issued with issue_temporary_passcode")
        policy = policy_for(kind)
        device_kind = DeviceKind(kind)
        if policy.needs_pin:
            if pin is None or not _PIN.fullmatch(pin):
                raise InvalidParameter(f"a {kind} needs a PIN of 4 digits")
        elif pin is not None:
            raise InvalidParameter(f"a {kind} takes no PIN")
        if firmware not in ("current", "legacy"):
            raise InvalidParameter("firmware must be 'current' or 'legacy'")
        now = core.clock.now()
        with core.db.read() as session:
            user = self._user(session, username)
            phones = list(
                session.scalars(
                    select(PhoneNumber.number).where(PhoneNumber.user_id == user.id).order_by(PhoneNumber.id)
                )
            )
        if policy.needs_number:
            if number is None and phones:
                number = phones[0]
            if number is None or number not in phones:
                raise InvalidParameter(f"a {kind} needs one of the user's verified phone numbers")
        elif number is not None:
            raise InvalidParameter(f"a {kind} takes no phone number")

        device_id = core.new_id()
        serial = f"{policy.serial_prefix}{core.rng.randrange(10**9, 10**10)}"
        suite = DEFAULT_SUITES.get(device_kind) if device_kind is not DeviceKind.IB_KEY else None
        algorithm = HashAlgorithm.SHA1
        secret = b""
        expires_at: float | None = None
        if device_kind in (DeviceKind.SCC, DeviceKind.ONLINE_SCC):
            secret = core.rng.randbytes(32)
            if device_kind is DeviceKind.ONLINE_SCC:
                expires_at = now + core.config.online_card_ttl
        elif device_kind is DeviceKind.DSC:
            secret = core.rng.randbytes(_key_bytes(algorithm))
        elif suite is not None:
            secret = core.rng.randbytes(_key_bytes(OcraSuite.parse(suite).algorithm))
        # The DSC checks its PIN itself, so the server never needs it; the OCRA kinds fold it into
        # every answer, so the server must keep it (sealed) to check them.
        secrets = DeviceSecrets(secret=secret, pin=pin if suite is not None else None)
        device = Device(
            id=device_id,
            user_id=user.id,
            kind=kind,
            serial=serial,
            label=label or kind,
            status="pending",
            secrets=core.keys.seal(secrets.to_bytes(), "devices", device_id, "secrets"),
            suite=suite,
            digits=6,
            step=30,
            algorithm=algorithm.value,
            firmware=firmware,
            number=number,
            counter=0 if suite is not None and OcraSuite.parse(suite).counter else None,
            failures=0,
            lockouts=0,
            issued_at=now,
            expires_at=expires_at,
            created_at=now,
        )
        token: str | None = None
        with core.db.write() as session:
            session.add(device)
            session.flush()
            if device_kind is DeviceKind.IB_KEY:
                token = self._activation_token(session, device, now)
            core.audit.record(
                session,
                now,
                "device.enrolled",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device_id,
                detail={"kind": kind, "serial": serial},
            )
        if token is not None:
            assert number is not None
            text = f"tokensim: your IB Key activation token is {token}. It expires in 10 minutes."
            deliver(
                core,
                Message(number, "sms", SENDER, text),
                user_id=user.id,
                username=user.username,
                device_id=device_id,
            )
            return Enrollment(device=device_view(device), activation="sms-token", sent_to=mask_number(number))
        provisioning = Provisioning(
            kind=device_kind,
            serial=serial,
            secret=secret,
            suite=suite,
            pin=pin if device_kind is DeviceKind.DSC else None,
            digits=6,
            step=30,
            algorithm=algorithm,
            issued_at=now if expires_at is not None else None,
            expires_at=expires_at,
            firmware=firmware,
            number=number,
        )
        card = None
        if device_kind in (DeviceKind.SCC, DeviceKind.ONLINE_SCC):
            card_kind = (
                CardKind.ONLINE if device_kind is DeviceKind.ONLINE_SCC else CardKind.SECURITY_CODE_CARD
            )
            card = Card(
                serial=serial,
                kind=kind,
                cells=tuple(CodeCard(secret, card_kind).table()),
                issued_at=now,
                expires_at=expires_at,
            )
        return Enrollment(
            device=device_view(device), activation="challenge", provisioning=provisioning, card=card
        )

    def _activation_token(self, session: Session, device: Device, now: float) -> str:
        core = self._core
        # Six digits, like every texted code, so the phone finds it the same way (NIST SP 800-63B §5.1.3.2).
        token = "".join(str(core.rng.randrange(10)) for _ in range(6))
        challenge_id = core.new_id()
        session.add(
            Challenge(
                id=challenge_id,
                user_id=device.user_id,
                device_id=device.id,
                login_id=None,
                purpose="activation",
                form="oob",
                mode="token",
                code_mac=oob_mac(core.oob_key, challenge_id, token),
                status="open",
                attempts=0,
                created_at=now,
                expires_at=now + core.config.activation_ttl,
            )
        )
        return token

    def resend_activation_token(self, device_id: str) -> Enrollment:
        """Text a new IB Key activation token (the old ones stop working).

        Raises:
            NotFound: no such device.
            DeviceUnavailable: not a pending IB Key.
        """
        core = self._core
        now = core.clock.now()
        with core.db.write() as session:
            device = session.get(Device, device_id)
            if device is None:
                raise NotFound("no such device")
            if device.kind != DeviceKind.IB_KEY.value or device.status != "pending" or device.number is None:
                raise DeviceUnavailable("only a pending IB Key takes an activation token")
            session.execute(
                update(Challenge)
                .where(
                    Challenge.device_id == device.id, Challenge.mode == "token", Challenge.status == "open"
                )
                .values(status="closed")
                .execution_options(synchronize_session=False)
            )
            token = self._activation_token(session, device, now)
            number = device.number
            view = device_view(device)
            user_id = device.user_id
            username = session.scalar(select(User.username).where(User.id == device.user_id)) or ""
        text = f"tokensim: your IB Key activation token is {token}."
        deliver(
            core,
            Message(number, "sms", SENDER, text),
            user_id=user_id,
            username=username,
            device_id=device_id,
        )
        return Enrollment(device=view, activation="sms-token", sent_to=mask_number(number))

    # -- activation ----------------------------------------------------------------------------

    def start_activation(self, device_id: str, *, mode: str | None = None) -> ChallengeView:
        """Issue the challenge a pending device answers to become active.

        Raises:
            NotFound: no such device.
            DeviceUnavailable: the device is not pending, or is an IB Key (activated by its app).
        """
        with self._core.db.read() as session:
            device = session.get(Device, device_id)
            if device is None:
                raise NotFound("no such device")
            kind = device.kind
        if kind == DeviceKind.IB_KEY.value:
            raise DeviceUnavailable("an IB Key is activated by its app with the token sent by SMS")
        return self._challenges.issue(device_id, purpose="activation", mode=mode).view

    def finish_activation(self, device_id: str, challenge_id: str, answer: str) -> DeviceView:
        """Answer the activation challenge; the device becomes active.

        Raises:
            NotFound: no such challenge for this device.
            WrongAnswer, ExpiredChallenge, ReplayedCode, DeviceLocked: as for a login answer.
            DeviceUnavailable: an IB Key (activated by its app, which must send its public key).
        """
        with self._core.db.read() as session:
            kind = session.scalar(select(Device.kind).where(Device.id == device_id))
        if kind is None:
            raise NotFound("no such device")
        if kind == DeviceKind.IB_KEY.value:
            raise DeviceUnavailable("an IB Key is activated by its app with the token sent by SMS")

        def activate(
            session: Session, challenge: Challenge, device: Device, user: User, now: float
        ) -> DeviceView:
            if challenge.device_id != device_id:
                raise NotFound("no such challenge for this device")
            self._set_active(session, device, user, now, actor="user")
            fresh = session.get(Device, device.id)
            assert fresh is not None
            session.refresh(fresh)
            return device_view(fresh)

        return self._challenges.answer(challenge_id, answer, purpose="activation", complete=activate)

    def _set_active(self, session: Session, device: Device, user: User, now: float, *, actor: str) -> None:
        moved = rowcount(
            session.execute(
                update(Device)
                .where(Device.id == device.id, Device.status == "pending")
                .values(status="active", activated_at=now)
                .execution_options(synchronize_session=False)
            )
        )
        if moved != 1:
            raise ReplayedCode("the device was activated already")
        self._core.audit.record(
            session,
            now,
            "device.activated",
            actor=actor,
            outcome="ok",
            user_id=user.id,
            username=user.username,
            device_id=device.id,
            detail={"kind": device.kind, "serial": device.serial},
        )

    def activate_ib_key(self, activation: IbKeyActivation) -> Provisioning:
        """Activate an IB Key registration: check the texted token, keep the app's public key.

        Returns:
            The registration's provisioning: its serial (the key id of every signed decision), the
            OCRA key and suite for challenge/response, and the TOTP key for time codes.

        Raises:
            InvalidParameter: the public key is not ECDSA P-256.
            WrongAnswer: no open activation token of this user matches (counted against the device).
            DeviceLocked: too many wrong tokens.
        """
        core = self._core
        load_public_key(activation.public_key)
        now = core.clock.now()
        with core.db.read() as session:
            user = session.scalar(select(User).where(User.username == activation.username))
            rows = (
                []
                if user is None
                else list(
                    session.execute(
                        select(Challenge, Device)
                        .join(Device, Device.id == Challenge.device_id)
                        .where(
                            Challenge.user_id == user.id,
                            Challenge.mode == "token",
                            Challenge.status == "open",
                            Challenge.expires_at > now,
                            Device.status == "pending",
                        )
                    ).all()
                )
            )
        for _challenge, candidate in rows:
            core.throttle.check_device(candidate, now)
        match = None
        for challenge, candidate in rows:
            # Every candidate is checked, whichever matches, so timing does not tell which did.
            presented = oob_mac(core.oob_key, challenge.id, activation.token)
            if _same(presented, challenge.code_mac or "") and match is None:
                match = (challenge, candidate)
        if user is None or match is None:
            if user is not None and rows:
                _challenge, candidate = rows[0]
                with core.db.write() as session:
                    outcome = core.throttle.second_factor_failed(session, candidate.id, user.id, now)
                    core.audit.record(
                        session,
                        now,
                        "ib-key.activation",
                        actor="device",
                        outcome="failed",
                        user_id=user.id,
                        username=user.username,
                        device_id=candidate.id,
                    )
                if outcome.device_locked_for is not None:
                    raise DeviceLocked(
                        "too many wrong activation tokens", retry_after=outcome.device_locked_for
                    )
                raise WrongAnswer(
                    "the activation token is wrong", attempts_remaining=outcome.attempts_remaining
                )
            raise InvalidCode("the activation token is wrong")
        challenge, device = match
        assert user is not None
        suite = DEFAULT_SUITES[DeviceKind.IB_KEY]
        secrets = DeviceSecrets(
            secret=core.rng.randbytes(_key_bytes(OcraSuite.parse(suite).algorithm)),
            totp_secret=core.rng.randbytes(_key_bytes(HashAlgorithm.SHA1)),
        )
        with core.db.write() as session:
            won = rowcount(
                session.execute(
                    update(Challenge)
                    .where(Challenge.id == challenge.id, Challenge.status == "open")
                    .values(status="answered", answered_at=now)
                    .execution_options(synchronize_session=False)
                )
            )
            if won != 1:
                raise ReplayedCode("this activation token was used already")
            session.execute(
                update(Device)
                .where(Device.id == device.id)
                .values(
                    public_key=activation.public_key,
                    secrets=core.keys.seal(secrets.to_bytes(), "devices", device.id, "secrets"),
                    suite=suite,
                    label=activation.device_name[:64] or "phone",
                    failures=0,
                    lockouts=0,
                    locked_until=None,
                )
                .execution_options(synchronize_session=False)
            )
            self._set_active(session, device, user, now, actor="device")
        return Provisioning(
            kind=DeviceKind.IB_KEY,
            serial=device.serial,
            secret=secrets.secret,
            suite=suite,
            totp_secret=secrets.totp_secret,
            digits=device.digits,
            step=device.step,
            algorithm=HashAlgorithm.parse(device.algorithm),
            number=device.number,
        )

    def activate_without_proof(self, device_id: str) -> DeviceView:
        """Activate a pending device without an answer from it (demo accounts and test fixtures only).

        Not reachable over the API: a real activation proves possession of the device.

        Raises:
            NotFound: no such device.
        """
        core = self._core
        now = core.clock.now()
        with core.db.write() as session:
            device = session.get(Device, device_id)
            if device is None:
                raise NotFound("no such device")
            user = session.get(User, device.user_id)
            assert user is not None
            self._set_active(session, device, user, now, actor="system")
            session.refresh(device)
            return device_view(device)

    # -- temporary passcode --------------------------------------------------------------------

    def issue_temporary_passcode(
        self, username: str, *, length: int = 12, ttl: float = 12 * 86400.0
    ) -> Enrollment:
        """Issue a static temporary passcode (uppercase letters and digits), active at once.

        The passcode is shown in the returned value only; the server keeps its argon2id hash.

        Raises:
            NotFound: no such user.
            InvalidParameter: ``length`` below 10.
        """
        core = self._core
        if length < 10:
            raise InvalidParameter("a temporary passcode has at least 10 characters")
        now = core.clock.now()
        passcode = "".join(core.rng.choice(_PASSCODE_ALPHABET) for _ in range(length))
        secrets = DeviceSecrets(static_hash=core.hasher.hash(passcode))
        device_id = core.new_id()
        with core.db.write() as session:
            user = self._user(session, username)
            device = Device(
                id=device_id,
                user_id=user.id,
                kind=TEMPORARY_KIND,
                serial=f"TMP{core.rng.randrange(10**9, 10**10)}",
                label="temporary passcode",
                status="active",
                secrets=core.keys.seal(secrets.to_bytes(), "devices", device_id, "secrets"),
                digits=length,
                step=30,
                algorithm="SHA1",
                firmware="current",
                failures=0,
                lockouts=0,
                issued_at=now,
                expires_at=now + ttl,
                created_at=now,
                activated_at=now,
            )
            session.add(device)
            core.audit.record(
                session,
                now,
                "device.enrolled",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device_id,
                detail={"kind": TEMPORARY_KIND},
            )
        return Enrollment(device=device_view(device), activation="none", passcode=passcode)

    # -- support actions -----------------------------------------------------------------------

    def revoke(self, device_id: str) -> DeviceView:
        """Revoke a device for good (lost, stolen, replaced).

        Raises:
            NotFound: no such device.
        """
        return self._device_action(device_id, "device.revoked", {"status": "revoked", "revoked_at": None})

    def unlock_device(self, device_id: str) -> DeviceView:
        """Clear a device's lockout and failure counters.

        Raises:
            NotFound: no such device.
        """
        return self._device_action(
            device_id, "device.unlocked", {"failures": 0, "lockouts": 0, "locked_until": None}
        )

    def _device_action(self, device_id: str, event: str, values: dict[str, object]) -> DeviceView:
        core = self._core
        now = core.clock.now()
        if "revoked_at" in values:
            values["revoked_at"] = now
        with core.db.write() as session:
            device = session.get(Device, device_id)
            if device is None:
                raise NotFound("no such device")
            session.execute(
                update(Device)
                .where(Device.id == device_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            user = session.get(User, device.user_id)
            assert user is not None
            core.audit.record(
                session,
                now,
                event,
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device_id,
                detail={"kind": device.kind, "serial": device.serial},
            )
            session.refresh(device)
            return device_view(device)

    def unlock_account(self, username: str) -> UserView:
        """Clear an account lock and its password pause.

        Raises:
            NotFound: no such user.
        """
        core = self._core
        now = core.clock.now()
        with core.db.write() as session:
            user = self._user(session, username)
            core.throttle.unlock_account(session, user.id)
            core.audit.record(
                session,
                now,
                "account.unlocked",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=username,
            )
        return self.get_user(username)

    def audit(
        self, *, username: str | None = None, event: str | None = None, after: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        """Read the audit log, oldest first."""
        with self._core.db.read() as session:
            return self._core.audit.read(session, username=username, event=event, after=after, limit=limit)

    def provisioning(self, device_id: str) -> Provisioning:
        """Rebuild a device's provisioning from its sealed secrets (demo and test harness only).

        Raises:
            NotFound: no such device.
        """
        core = self._core
        with core.db.read() as session:
            device = session.get(Device, device_id)
            if device is None:
                raise NotFound("no such device")
        secrets = device_secrets(core, device)
        return Provisioning(
            kind=DeviceKind(device.kind),
            serial=device.serial,
            secret=secrets.secret,
            suite=device.suite,
            digits=device.digits,
            step=device.step,
            algorithm=HashAlgorithm.parse(device.algorithm),
            totp_secret=secrets.totp_secret,
            issued_at=device.issued_at if device.expires_at is not None else None,
            expires_at=device.expires_at,
            firmware=device.firmware,
            number=device.number,
        )


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
