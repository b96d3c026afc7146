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

from sqlalchemy import and_, func, or_, select, update
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
from tokensim.server.errors import (
    AlreadyExists,
    ConsecutiveTemporary,
    DeviceUnavailable,
    IdentityCheckRequired,
    NotEligible,
    NotFound,
    UnverifiedNumber,
    WrongAnswer,
)
from tokensim.server.lifecycle import activate, charge_unreturned, hold_reserve, mark_funded, promote_due
from tokensim.server.login import end_sessions
from tokensim.server.rules import LEGACY_KINDS, PHYSICAL_KINDS, identity_digest
from tokensim.server.storage.db import changed
from tokensim.server.storage.models import Challenge, Device, IdentityCheck, PhoneNumber, Reserve, User
from tokensim.server.verify import (
    POLICIES,
    TEMPORARY_KIND,
    DeviceSecrets,
    load_public_key,
    oob_mac,
    policy_for,
)
from tokensim.server.views import (
    AuditRecord,
    Card,
    ChallengeView,
    DeviceView,
    Enrollment,
    IdentityCheckView,
    UserView,
)

__all__ = ["CONDITIONS", "IDENTITY_FIELDS", "Accounts"]

#: What support may report about a device, and what it does to the device's reserve.
CONDITIONS = {
    "lost": "charged",
    "stolen": "charged",
    "damaged": "charged",
    "not-returned": "charged",
    "battery": "released",
    "returned": "released",
}
#: The identification data compared for device sharing (KB2481 a).
IDENTITY_FIELDS = ("date_of_birth", "citizenship", "residence", "id_type", "id_number")

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
        start_with_sms: bool | None = None,
    ) -> UserView:
        """Create a user with verified phone numbers.

        With ``start_with_sms`` (``signup_sms`` of the configuration when ``None``) and a phone, the
        user starts with an active SMS device on the first number, removed once an IB Key is active.
        A user created with a positive ``equity`` has received funds: the account is funded now.

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
            funded_at=now if equity > 0 else None,
        )
        try:
            with core.db.write() as session:
                if session.scalar(select(User.id).where(User.username == username)) is not None:
                    raise AlreadyExists(f"username {username!r} is taken")
                session.add(user)
                session.flush()
                session.add_all(PhoneNumber(user_id=user.id, number=n, verified_at=now) for n in phones)
                sms = core.config.signup_sms if start_with_sms is None else start_with_sms
                if sms and phones:
                    self._signup_sms(session, user, phones[0], now)
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

    def mark_funded(self, username: str) -> UserView:
        """Record that the account received funds (support); a new account's online card lasts from now.

        Raises:
            NotFound: no such user.
        """
        core = self._core
        now = core.clock.now()
        with core.db.write() as session:
            mark_funded(core, session, self._user(session, username), now, actor="support")
        return self.get_user(username)

    def _signup_sms(self, session: Session, user: User, number: str, now: float) -> None:
        core = self._core
        device_id = core.new_id()
        policy = policy_for(DeviceKind.PHONE.value)
        session.add(
            Device(
                id=device_id,
                user_id=user.id,
                kind=DeviceKind.PHONE.value,
                serial=f"{policy.serial_prefix}{core.rng.randrange(10**9, 10**10)}",
                label="SMS",
                status="active",
                secrets=core.keys.seal(DeviceSecrets().to_bytes(), "devices", device_id, "secrets"),
                digits=6,
                step=30,
                algorithm="SHA1",
                firmware="current",
                number=number,
                failures=0,
                lockouts=0,
                issued_at=now,
                created_at=now,
                activated_at=now,
            )
        )
        core.audit.record(
            session,
            now,
            "device.enrolled",
            actor="system",
            outcome="ok",
            user_id=user.id,
            username=user.username,
            device_id=device_id,
            detail={"kind": DeviceKind.PHONE.value, "reason": "new account starts with SMS"},
        )

    def get_user(self, username: str) -> UserView:
        """A user with their phones, devices and reserves (replacements past their window are active).

        Raises:
            NotFound: no such user.
        """
        now = self._core.clock.now()
        with self._core.db.read() as session:
            due = session.scalar(
                select(Device.id)
                .join(User, User.id == Device.user_id)
                .where(
                    User.username == username,
                    Device.status == "pending",
                    Device.activate_by.is_not(None),
                    Device.activate_by <= now,
                    Device.deactivated_at.is_(None),
                )
                .limit(1)
            )
            closed = session.scalar(
                select(User.id).where(
                    User.username == username,
                    User.closed_at.is_not(None),
                    User.closed_at <= now - self._core.config.device_return_window,
                )
            )
            unreturned = closed is not None and (
                session.scalar(
                    select(Reserve.device_id)
                    .where(Reserve.user_id == closed, Reserve.status == "held")
                    .limit(1)
                )
                is not None
            )
        if due is not None or unreturned:  # a write only when a window has ended
            with self._core.db.write() as session:
                user = self._user(session, username)
                promote_due(self._core, session, user, now)
                charge_unreturned(self._core, session, user, now)
        with self._core.db.read() as session:
            user = self._user(session, username)
            phones = tuple(session.scalars(select(PhoneNumber.number).where(PhoneNumber.user_id == user.id)))
            devices = session.scalars(
                select(Device).where(Device.user_id == user.id).order_by(Device.created_at)
            )
            sums: dict[str, object] = {}
            for status, total in session.execute(
                select(Reserve.status, func.coalesce(func.sum(Reserve.amount_usd), 0))
                .where(Reserve.user_id == user.id)
                .group_by(Reserve.status)
            ):
                sums[status] = total
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
                sls_opted_out=user.sls_opted_out_at is not None,
                reserved_usd=_usd(sums.get("held", 0)),
                fees_charged_usd=_usd(sums.get("charged", 0)),
                identity_on_file=user.identity_digest is not None,
                funded_at=user.funded_at,
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
        replaces: str | None = None,
        text_token: bool = True,
        check_eligibility: bool = False,
        os: str | None = None,
    ) -> Enrollment:
        """Enroll a new device for a user; it is ``pending`` until activated.

        A DSC, DSC+, Gold or Platinum holds its reserve from now on. A mailed device (code card, DSC,
        DSC+, Gold, Platinum; new or a replacement, ``replaces``) must be activated within
        ``replacement_activation_window`` or becomes active by itself; the device a replacement
        replaces is revoked, and activating a permanent device ends temporary access. An online card
        of an account not yet funded lasts ``online_card_ttl`` from the funding.

        Args:
            username: whose device.
            kind: a :class:`DeviceKind` value.
            pin: the 4-digit PIN for DSC, DSC+, Gold and Platinum.
            number: the verified number for a phone or IB Key (the user's first when ``None``).
            label: a name for people.
            firmware: ``current`` or ``legacy`` DSC+ firmware.
            replaces: the id of the user's lost, damaged or broken device this one replaces.
            text_token: text an IB Key's activation token (off when migration hands it over instead).
            os: an IB Key phone's operating system, when known (``android`` or ``ios``).
            check_eligibility: apply the DSC+ equity threshold (a user's own request does; support
                may issue a DSC+ to anyone, as when it replaces a returned Gold or Platinum device).

        Raises:
            NotFound: no such user, or ``replaces`` is not one of the user's devices.
            InvalidParameter: unknown kind, a missing or malformed PIN, an unverified number.
            NotEligible: with ``check_eligibility``, a DSC+ for an account below
                ``dsc_plus_min_equity_usd``.
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
            threshold = core.config.dsc_plus_min_equity_usd
            if check_eligibility and device_kind is DeviceKind.DSC_PLUS and user.equity < threshold:
                raise NotEligible(f"a DSC+ needs account equity of at least {threshold} USD")
            if replaces is not None:
                old = session.get(Device, replaces)
                if old is None or old.user_id != user.id:
                    raise NotFound("the device to replace is not one of this user's")
            funded_at = user.funded_at
            phones = list(
                session.scalars(
                    select(PhoneNumber.number).where(PhoneNumber.user_id == user.id).order_by(PhoneNumber.id)
                )
            )
        if policy.needs_number:
            if number is None and phones:
                number = phones[0]
            if number is None or number not in phones:
                raise UnverifiedNumber(f"a {kind} needs one of the user's verified phone numbers")
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
            if device_kind is DeviceKind.ONLINE_SCC and funded_at is not None:
                # A new account's card lasts from the funding (mark_funded sets it then).
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
            replaces=replaces,
            os=os if device_kind is DeviceKind.IB_KEY else None,
            # Mailed devices, new or replacements, become active by themselves after the window.
            activate_by=now + core.config.replacement_activation_window if kind in PHYSICAL_KINDS else None,
        )
        token: str | None = None
        with core.db.write() as session:
            session.add(device)
            session.flush()
            hold_reserve(core, session, device, now)
            if replaces is not None:
                changed(
                    session,
                    update(Device)
                    .where(Device.id == replaces, Device.status != "revoked")
                    .values(status="revoked", revoked_at=now),
                )
                end_sessions(
                    core, session, now, user_id=user.id, device_id=replaces, reason="device-replaced"
                )
            if device_kind is DeviceKind.IB_KEY and text_token:
                token = self.activation_token(session, device, now)
            core.audit.record(
                session,
                now,
                "device.enrolled",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device_id,
                detail={"kind": kind, "serial": serial}
                | ({"replaces": replaces} if replaces else {})
                | ({"legacy": True} if kind in LEGACY_KINDS else {}),
            )
        if device_kind is DeviceKind.IB_KEY and not text_token:
            return Enrollment(device=device_view(device), activation="device-answer")
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
            issued_at=now if device_kind is DeviceKind.ONLINE_SCC else None,
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

    def close_tokens(self, session: Session, device: Device) -> None:
        """End the device's open texted tokens in the caller's transaction (before a new one is sent)."""
        changed(
            session,
            update(Challenge)
            .where(Challenge.device_id == device.id, Challenge.mode == "token", Challenge.status == "open")
            .values(status="closed"),
        )

    def activation_token(
        self, session: Session, device: Device, now: float, *, purpose: str = "activation"
    ) -> str:
        """Store a new 6-digit token for ``device`` (as a MAC) in the caller's transaction; return it.

        ``activation`` tokens activate a pending IB Key, ``recovery`` ones re-key an active one, and
        ``ib-key-pin`` ones allow a PIN change.
        """
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
                purpose=purpose,
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
            self.close_tokens(session, device)
            token = self.activation_token(session, device, now)
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
        if device.kind == DeviceKind.IB_KEY.value:
            if device.deactivated_at is None:
                raise DeviceUnavailable("an IB Key is activated by its app with the token sent by SMS")
            # A deactivated IB Key still holds its keys: it reactivates by answering, like a card.
            mode = "numeric" if mode is None else mode
        return self._challenges.issue(device_id, purpose="activation", mode=mode).view

    def finish_activation(self, device_id: str, challenge_id: str, answer: str) -> DeviceView:
        """Answer the activation challenge; the device becomes active.

        Raises:
            NotFound: no such challenge for this device.
            WrongAnswer, ExpiredChallenge, ReplayedCode, DeviceLocked: as for a login answer.
            DeviceUnavailable: an IB Key (activated by its app, which must send its public key).
        """
        with self._core.db.read() as session:
            found = session.get(Device, device_id)
        if found is None:
            raise NotFound("no such device")
        if found.kind == DeviceKind.IB_KEY.value and found.deactivated_at is None:
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
        activate(self._core, session, device, user, now, actor=actor)

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
                            or_(
                                and_(Device.status == "pending", Challenge.purpose == "activation"),
                                and_(Device.status == "active", Challenge.purpose == "recovery"),
                            ),
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
        # Read after the token check (a schema cannot say a point is on the curve); the token stays open.
        load_public_key(activation.public_key)
        suite = DEFAULT_SUITES[DeviceKind.IB_KEY]
        secrets = DeviceSecrets(
            secret=core.rng.randbytes(_key_bytes(OcraSuite.parse(suite).algorithm)),
            totp_secret=core.rng.randbytes(_key_bytes(HashAlgorithm.SHA1)),
        )
        with core.db.write() as session:
            still_open = update(Challenge).where(Challenge.id == challenge.id, Challenge.status == "open")
            if changed(session, still_open.values(status="answered", answered_at=now)) != 1:
                raise ReplayedCode("this activation token was used already")
            changed(
                session,
                update(Device)
                .where(Device.id == device.id)
                .values(
                    public_key=activation.public_key,
                    secrets=core.keys.seal(secrets.to_bytes(), "devices", device.id, "secrets"),
                    suite=suite,
                    label=activation.device_name[:64] or "phone",
                    request_time=None,  # a new key starts a new sequence of signed requests
                    failures=0,
                    lockouts=0,
                    locked_until=None,
                ),
            )
            if challenge.purpose == "recovery":
                core.audit.record(
                    session,
                    now,
                    "ib-key.recovered",
                    actor="device",
                    outcome="ok",
                    user_id=user.id,
                    username=user.username,
                    device_id=device.id,
                    detail={"serial": device.serial},
                )
            else:
                self._set_active(session, device, user, now, actor="device")
            self._one_phone(session, device, user, now)
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

    def _one_phone(self, session: Session, device: Device, user: User, now: float) -> None:
        # IB Key is active on one phone only, and SMS goes once it is (``ib_key_removes_sms``): both
        # in the activation's transaction, so no moment has two phones (or a phone and SMS) active.
        # Physical devices stay active beside it (M2FS).
        kinds = [DeviceKind.IB_KEY.value]
        if self._core.config.ib_key_removes_sms:
            kinds.append(DeviceKind.PHONE.value)
        others = session.scalars(
            select(Device).where(
                Device.user_id == user.id,
                Device.id != device.id,
                Device.kind.in_(kinds),
                Device.status != "revoked",
            )
        ).all()
        for other in others:
            changed(
                session, update(Device).where(Device.id == other.id).values(status="revoked", revoked_at=now)
            )
            reason = "another phone activated IB Key" if other.kind == device.kind else "IB Key is active"
            self._core.audit.record(
                session,
                now,
                "device.revoked",
                actor="system",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=other.id,
                detail={"kind": other.kind, "reason": reason},
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

    def record_identity(self, username: str, fields: dict[str, str]) -> UserView:
        """Keep the user's identification data, as an HMAC only (it decides who may share a device).

        Args:
            username: whose data.
            fields: every one of :data:`IDENTITY_FIELDS`.

        Raises:
            NotFound: no such user.
            InvalidParameter: a field is missing, unknown or empty.
        """
        core = self._core
        if set(fields) != set(IDENTITY_FIELDS):
            raise InvalidParameter(f"identity: give exactly {', '.join(IDENTITY_FIELDS)}")
        digest = identity_digest(core.keys.derive("identity"), fields)
        now = core.clock.now()
        with core.db.write() as session:
            user = self._user(session, username)
            user.identity_digest = digest
            core.audit.record(
                session,
                now,
                "user.identity",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=username,
            )
        return self.get_user(username)

    def verify_identity(self, username: str, *, method: str, agent: str) -> IdentityCheckView:
        """Record that support verified the caller's identity; it allows one temporary passcode.

        Raises:
            NotFound: no such user.
            InvalidParameter: an empty method or agent.
        """
        core = self._core
        if not method.strip() or not agent.strip():
            raise InvalidParameter("an identity check names its method and the agent")
        now = core.clock.now()
        check_id = core.new_id()
        expires_at = now + core.config.identity_check_ttl
        with core.db.write() as session:
            user = self._user(session, username)
            session.add(
                IdentityCheck(
                    id=check_id,
                    user_id=user.id,
                    method=method[:32],
                    agent=agent[:64],
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            core.audit.record(
                session,
                now,
                "identity.verified",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=username,
                detail={"method": method[:32], "agent": agent[:64]},
            )
        return IdentityCheckView(check_id, username, method[:32], agent[:64], now, expires_at)

    def issue_temporary_passcode(
        self, username: str, *, verification_id: str, length: int | None = None
    ) -> Enrollment:
        """Issue a static temporary passcode (uppercase letters and digits), active at once.

        Only after a recorded identity verification (:meth:`verify_identity`, unused and recent), and
        never twice in a row: a permanent device must have been reactivated (or a replacement
        activated) since the last one. The user's active permanent devices go back to ``pending``
        (the device is misplaced); each reactivates by answering a challenge, which ends the passcode.
        The passcode gives full access for ``temporary_full_access`` seconds, then only prints the
        online card for ``temporary_card_printing`` seconds. It is shown in the returned value only;
        the server keeps its argon2id hash.

        Raises:
            NotFound: no such user.
            InvalidParameter: ``length`` below 10.
            IdentityCheckRequired: no such verification for this user, or it expired or was used.
            ConsecutiveTemporary: a temporary passcode was issued since the last reactivation.
        """
        core = self._core
        length = core.config.temporary_passcode_length if length is None else length
        if length < 10:
            raise InvalidParameter("a temporary passcode has at least 10 characters")
        now = core.clock.now()
        passcode = "".join(core.rng.choice(_PASSCODE_ALPHABET) for _ in range(length))
        secrets = DeviceSecrets(static_hash=core.hasher.hash(passcode))
        device_id = core.new_id()
        with core.db.write() as session:
            user = self._user(session, username)
            unused = update(IdentityCheck).where(
                IdentityCheck.id == verification_id,
                IdentityCheck.user_id == user.id,
                IdentityCheck.used_at.is_(None),
                IdentityCheck.expires_at > now,
            )
            if changed(session, unused.values(used_at=now)) != 1:
                raise IdentityCheckRequired("record an identity verification first (it is used once)")
            earlier = select(Device.id).where(Device.user_id == user.id, Device.kind == TEMPORARY_KIND)
            if user.last_reactivated_at is not None:
                earlier = earlier.where(Device.issued_at >= user.last_reactivated_at)
            if session.scalar(earlier.limit(1)) is not None:
                raise ConsecutiveTemporary(
                    "a temporary passcode was issued already; a physical security device must be "
                    "activated before the next one"
                )
            permanent = [kind for kind, policy in POLICIES.items() if policy.permanent]
            changed(
                session,
                update(Device)
                .where(Device.user_id == user.id, Device.status == "active", Device.kind.in_(permanent))
                .values(status="pending", deactivated_at=now),
            )
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
                expires_at=now + core.config.temporary_full_access + core.config.temporary_card_printing,
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
                detail={"kind": TEMPORARY_KIND, "verification": verification_id},
            )
        return Enrollment(device=device_view(device), activation="none", passcode=passcode)

    def reset_pin(self, device_id: str, *, verification_id: str, new_pin: str) -> DeviceView:
        """Reset the PIN of a DSC+, Gold or Platinum whose holder forgot it, after an identity check.

        Raises:
            NotFound: no such device.
            InvalidParameter: the PIN is not 4 digits, or the server checks no PIN of this kind.
            IdentityCheckRequired: no such verification for the device's user, or it expired or was used.
        """
        core = self._core
        if not _PIN.fullmatch(new_pin):
            raise InvalidParameter("a PIN has 4 digits")
        now = core.clock.now()
        with core.db.write() as session:
            device = session.get(Device, device_id)
            if device is None:
                raise NotFound("no such device")
            secrets = device_secrets(core, device)
            if secrets.pin is None:
                raise InvalidParameter(f"a {device.kind} has no PIN the server keeps")
            unused = update(IdentityCheck).where(
                IdentityCheck.id == verification_id,
                IdentityCheck.user_id == device.user_id,
                IdentityCheck.used_at.is_(None),
                IdentityCheck.expires_at > now,
            )
            if changed(session, unused.values(used_at=now)) != 1:
                raise IdentityCheckRequired("record an identity verification first (it is used once)")
            fresh = DeviceSecrets(secret=secrets.secret, totp_secret=secrets.totp_secret, pin=new_pin)
            sealed = core.keys.seal(fresh.to_bytes(), "devices", device.id, "secrets")
            changed(session, update(Device).where(Device.id == device.id).values(secrets=sealed))
            user = session.get(User, device.user_id)
            assert user is not None
            core.audit.record(
                session,
                now,
                "device.pin-reset",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device.id,
                detail={"kind": device.kind, "verification": verification_id},
            )
            return device_view(device)

    def close_account(self, username: str) -> UserView:
        """Close an account: from now on a password alone reaches statements, and nothing else.

        Its devices must come back within ``device_return_window``: each one support has not
        reported ``returned`` by then has its device fee charged.

        Raises:
            NotFound: no such user.
        """
        core = self._core
        now = core.clock.now()
        with core.db.write() as session:
            user = self._user(session, username)
            user.status = "closed"
            user.closed_at = now
            end_sessions(core, session, now, user_id=user.id, reason="account-closed")
            core.audit.record(
                session,
                now,
                "account.closed",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=username,
            )
        return self.get_user(username)

    def report(self, device_id: str, condition: str) -> DeviceView:
        """Record what happened to a device: it is revoked, and its reserve charged or released.

        ``lost``, ``stolen``, ``damaged`` and ``not-returned`` charge the reserve (the replacement
        fee); ``battery`` (a battery failure, never charged) and ``returned`` release it.

        Raises:
            NotFound: no such device.
            InvalidParameter: an unknown condition.
        """
        core = self._core
        if condition not in CONDITIONS:
            raise InvalidParameter(f"condition must be one of {', '.join(CONDITIONS)}")
        reserve_status = CONDITIONS[condition]
        now = core.clock.now()
        with core.db.write() as session:
            device = session.get(Device, device_id)
            if device is None:
                raise NotFound("no such device")
            device.condition = condition
            if device.status != "revoked":
                device.status = "revoked"
                device.revoked_at = now
            end_sessions(
                core, session, now, user_id=device.user_id, device_id=device_id, reason="device-reported"
            )
            held = update(Reserve).where(Reserve.device_id == device_id, Reserve.status == "held")
            settled = changed(session, held.values(status=reserve_status, settled_at=now))
            user = session.get(User, device.user_id)
            assert user is not None
            core.audit.record(
                session,
                now,
                "device.reported",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device_id,
                detail={
                    "kind": device.kind,
                    "condition": condition,
                    "reserve": reserve_status if settled else "none",
                },
            )
            session.flush()
            return device_view(device)

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
            changed(session, update(Device).where(Device.id == device_id).values(**values))
            user = session.get(User, device.user_id)
            assert user is not None
            if "revoked_at" in values:
                end_sessions(
                    core, session, now, user_id=user.id, device_id=device_id, reason="device-revoked"
                )
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


def _usd(value: object) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
