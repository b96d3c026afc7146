"""Device enrollment and activation: what support issues, and how a device proves it holds it.

Enrollment decides everything a device needs (its secrets, suite and serial) and returns it as
:class:`~tokensim.protocol.provisioning.Provisioning`, the same value an emulator or a board is
created from. A device starts ``pending`` and becomes ``active`` only when it proves it holds that
material: by answering an activation challenge, or, for IB Key, by the app sending back the
activation token texted to the user's verified number together with its new public key
(:mod:`.ib_key_activation`). The texted tokens (activation, recovery, IB Key PIN change) are made
here too, for the IB Key modules to send.
"""

from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tokensim.protocol.cards import CardKind, CodeCard
from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.ocra import OcraSuite
from tokensim.protocol.otp import HashAlgorithm
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind, Provisioning
from tokensim.server.carrier import Message, mask_number
from tokensim.server.challenges import Challenges
from tokensim.server.core import Core
from tokensim.server.delivery import SENDER, deliver
from tokensim.server.device_rows import device_provisioning, device_view
from tokensim.server.errors import DeviceUnavailable, NotEligible, NotFound, UnverifiedNumber
from tokensim.server.lifecycle import activate, hold_reserve
from tokensim.server.login import end_sessions
from tokensim.server.rules import LEGACY_KINDS, PHYSICAL_KINDS
from tokensim.server.storage.models import Challenge, Device, PhoneNumber, User
from tokensim.server.storage.prepared import changed
from tokensim.server.users import user_by_name
from tokensim.server.verify import TEMPORARY_KIND, DeviceSecrets, oob_mac, policy_for
from tokensim.server.views import Card, ChallengeView, DeviceView, Enrollment

__all__ = ["PIN_FORMAT", "DeviceEnrollment", "key_bytes"]

#: A device PIN: four digits.
PIN_FORMAT = re.compile(r"[0-9]{4}")


def key_bytes(algorithm: HashAlgorithm) -> int:
    """How many bytes a new device key for ``algorithm`` has: as many as its hash output."""
    # RFC 6287 §7.1 and the RFC 6238 vectors: a key as long as the hash output.
    return algorithm.digest_size


class DeviceEnrollment:
    """Enrolling devices and activating them (support's API; the user's own requests come here too).

    Args:
        core: the shared parts.
        challenges: issues and checks activation challenges.
    """

    __slots__ = ("_challenges", "_core")

    def __init__(self, core: Core, challenges: Challenges) -> None:
        self._core = core
        self._challenges = challenges

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
            if pin is None or not PIN_FORMAT.fullmatch(pin):
                raise InvalidParameter(f"a {kind} needs a PIN of 4 digits")
        elif pin is not None:
            raise InvalidParameter(f"a {kind} takes no PIN")
        if firmware not in ("current", "legacy"):
            raise InvalidParameter("firmware must be 'current' or 'legacy'")
        now = core.clock.now()
        with core.db.read() as session:
            user = user_by_name(session, username)
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
            secret = core.rng.randbytes(key_bytes(algorithm))
        elif suite is not None:
            secret = core.rng.randbytes(key_bytes(OcraSuite.parse(suite).algorithm))
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
        return device_provisioning(core, device)
