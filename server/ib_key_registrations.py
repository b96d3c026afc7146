"""The IB Key app's operations on an active registration: migration, recovery and PIN change.

Each starts from the username and password (no login), and proves possession by an SMS to the
registration's number or, when the user has an active physical device, by that device's answer
(a recovery on iOS: by the app's own answer). A migration's or recovery's token activates the app
(``POST /v1/ib-key/activations``, :mod:`.ib_key_activation`); a PIN change's texted code is checked
by :meth:`IbKeyRegistrations.finish_ib_key_pin_change`.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.provisioning import DeviceKind
from tokensim.server.carrier import Message, mask_number
from tokensim.server.challenges import Challenges
from tokensim.server.core import Core
from tokensim.server.delivery import SENDER, deliver
from tokensim.server.device_rows import device_view
from tokensim.server.enrollment import DeviceEnrollment
from tokensim.server.errors import DeviceUnavailable, NotFound
from tokensim.server.lifecycle import check_password, usable_devices
from tokensim.server.rules import PHONE_OSES, PHYSICAL_KINDS
from tokensim.server.storage.models import Challenge, Device, User
from tokensim.server.storage.prepared import changed
from tokensim.server.views import DeviceView, Enrollment, MigrationStarted

__all__ = ["IbKeyRegistrations"]


class IbKeyRegistrations:
    """Migrating, recovering and re-securing IB Key registrations.

    Args:
        core: the shared parts.
        challenges: issues and checks challenges.
        enrollment: enrolls a migration's new registration and makes the texted tokens.
    """

    __slots__ = ("_challenges", "_core", "_enrollment")

    def __init__(self, core: Core, challenges: Challenges, enrollment: DeviceEnrollment) -> None:
        self._core = core
        self._challenges = challenges
        self._enrollment = enrollment

    def _active_ib_key(self, user: User, registration: str | None = None) -> Device:
        with self._core.db.read() as session:
            query = select(Device).where(
                Device.user_id == user.id, Device.kind == DeviceKind.IB_KEY.value, Device.status == "active"
            )
            if registration is not None:
                query = query.where(Device.serial == registration)
            device = session.scalars(query.order_by(Device.activated_at.desc())).first()
        if device is None or device.number is None:
            raise DeviceUnavailable("no such active IB Key for this user")
        return device

    def start_ib_key_migration(
        self, username: str, password: str, *, os: str = "android"
    ) -> MigrationStarted:
        """Move IB Key to a new phone: a new registration, activated with a token.

        The token goes by SMS to the number of the active IB Key, unless the user has an active
        physical device: then that device answers a challenge instead and the answer returns the token.
        On either OS the new phone's app is secured locally (the IB Key PIN on Android, the phone's
        PIN or biometric on iOS); ``os`` is recorded on the new registration for its recovery.

        Raises:
            InvalidCredentials: wrong username or password.
            DeviceUnavailable: the user has no active IB Key to migrate.
            InvalidParameter: an unknown OS.
        """
        core = self._core
        if os not in PHONE_OSES:
            raise InvalidParameter(f"os must be one of {', '.join(PHONE_OSES)}")
        user = check_password(core, username, password, event="ib-key.migration")
        original = self._active_ib_key(user)
        physical = self._physical(user)
        enrollment = self._enrollment.enroll(
            user.username, DeviceKind.IB_KEY.value, number=original.number, text_token=physical is None, os=os
        )
        if physical is None:
            return MigrationStarted(enrollment.device, "sms", sent_to=enrollment.sent_to)
        challenge = self._challenges.issue(physical.id, purpose="migration")
        return MigrationStarted(enrollment.device, "device", challenge=challenge.view)

    def answer_ib_key_migration(self, device_id: str, challenge_id: str, answer: str | None) -> str:
        """Answer the physical device's migration challenge; returns the new registration's token.

        Raises:
            NotFound: no such migration challenge for that registration's user.
            WrongAnswer, ReplayedCode, ExpiredChallenge, ...: as for any answer.
        """
        core = self._core
        self._registration_challenge(device_id, challenge_id, status="pending", what="migration")

        def complete(session: DbSession, _c: Challenge, device: Device, user: User, now: float) -> str:
            fresh = session.get(Device, device_id)
            assert fresh is not None
            activation = self._enrollment.activation_token(session, fresh, now)
            core.audit.record(
                session,
                now,
                "ib-key.migration",
                actor="user",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device_id,
                detail={"proved_by": device.kind},
            )
            return activation

        return self._challenges.answer(challenge_id, answer, purpose="migration", complete=complete)

    def start_ib_key_recovery(
        self, username: str, password: str, registration: str, *, os: str | None = None
    ) -> MigrationStarted:
        """Recover IB Key on the same phone (the app was reinstalled, or the phone's OS updated).

        * ``ios`` (the phone's OS; the registration's recorded one when ``None``, else ``android``):
          the keys survived in the keychain, so no SMS: the app answers a numeric challenge after the
          phone's PIN or biometric (:meth:`answer_ib_key_recovery`), method ``app``
          (with ``ib_key_ios_recovery_sms`` iOS goes the Android way);
        * with an active physical device: that device answers a challenge instead of an SMS, and the
          answer returns the recovery token, method ``device``;
        * otherwise the token goes by SMS to the registration's number, method ``sms``.

        With a token, the reinstalled app chooses its PIN again and activates
        (``POST /v1/ib-key/activations``); the registration keeps its serial.

        Raises:
            InvalidCredentials: wrong username or password.
            DeviceUnavailable: no such active IB Key of the user.
            InvalidParameter: an unknown OS.
        """
        core = self._core
        if os is not None and os not in PHONE_OSES:
            raise InvalidParameter(f"os must be one of {', '.join(PHONE_OSES)}")
        user = check_password(core, username, password, event="ib-key.recovery")
        device = self._active_ib_key(user, registration)
        os = os or device.os or "android"
        with core.db.write() as session:
            changed(session, update(Device).where(Device.id == device.id).values(os=os))
        if os == "ios" and not core.config.ib_key_ios_recovery_sms:
            challenge = self._challenges.issue(device.id, purpose="recovery", mode="numeric")
            return MigrationStarted(device_view(device), "app", challenge=challenge.view)
        physical = self._physical(user)
        if physical is not None:
            challenge = self._challenges.issue(physical.id, purpose="recovery")
            return MigrationStarted(device_view(device), "device", challenge=challenge.view)
        sent = self._text_token(
            username,
            password,
            registration,
            event="ib-key.recovery",
            purpose="recovery",
            activation="sms-token",
            text="tokensim: your IB Key recovery token is {}. It expires in 10 minutes.",
            user=user,
        )
        return MigrationStarted(sent.device, "sms", sent_to=sent.sent_to)

    def answer_ib_key_recovery(self, device_id: str, challenge_id: str, answer: str) -> str | None:
        """Answer a recovery challenge of the registration ``device_id``.

        Returns:
            The recovery token when a physical device answered (the app activates with it), or
            ``None`` when the iOS app answered itself: the registration is recovered.

        Raises:
            NotFound: no such recovery challenge for that registration's user.
            WrongAnswer, ReplayedCode, ExpiredChallenge, ...: as for any answer.
        """
        core = self._core
        challenge = self._registration_challenge(device_id, challenge_id, status="active", what="recovery")
        if challenge.mode == "token":  # a texted token goes to the app's activation instead
            raise NotFound("no such recovery")

        def complete(session: DbSession, _c: Challenge, device: Device, user: User, now: float) -> str | None:
            fresh = session.get(Device, device_id)
            assert fresh is not None
            token = None
            if device.id != device_id:  # a physical device answered for the registration
                self._enrollment.close_tokens(session, fresh)
                token = self._enrollment.activation_token(session, fresh, now, purpose="recovery")
            core.audit.record(
                session,
                now,
                "ib-key.recovered" if token is None else "ib-key.recovery",
                actor="user",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device_id,
                detail={"proved_by": device.kind, "os": fresh.os},
            )
            return token

        return self._challenges.answer(challenge_id, answer, purpose="recovery", complete=complete)

    def _registration_challenge(
        self, device_id: str, challenge_id: str, *, status: str, what: str
    ) -> Challenge:
        """The challenge of the IB Key registration ``device_id`` (in ``status``): its user's, or NotFound."""
        with self._core.db.read() as session:
            target = session.get(Device, device_id)
            challenge = session.get(Challenge, challenge_id)
        if (
            target is None
            or challenge is None
            or target.kind != DeviceKind.IB_KEY.value
            or target.status != status
            or challenge.user_id != target.user_id
        ):
            raise NotFound(f"no such {what}")
        return challenge

    def _physical(self, user: User) -> Device | None:
        # The user's own active physical device, which IB Key migration and recovery ask instead of SMS.
        now = self._core.clock.now()
        with self._core.db.read() as session:
            for device, owner in usable_devices(session, user.id, now):
                if owner is None and device.kind in PHYSICAL_KINDS:
                    return device
        return None

    def start_ib_key_pin_change(self, username: str, password: str, registration: str) -> Enrollment:
        """Allow an IB Key PIN change: the password, then a code by SMS to the registration's number.

        The PIN itself never leaves the phone: the app checks the current one and keeps the new one.
        The returned ``device.id`` and the texted code go to :meth:`finish_ib_key_pin_change`.

        Raises:
            InvalidCredentials: wrong username or password.
            DeviceUnavailable: no such active IB Key of the user.
        """
        return self._text_token(
            username,
            password,
            registration,
            event="ib-key.pin-change",
            purpose="ib-key-pin",
            activation="sms-code",
            text="tokensim: your security code is {}. It expires in 10 minutes. Never share it.",
        )

    def _text_token(
        self,
        username: str,
        password: str,
        registration: str,
        *,
        event: str,
        purpose: str,
        activation: str,
        text: str,
        user: User | None = None,
    ) -> Enrollment:
        # The password (unless ``user`` passed it already), then a one-time token for ``purpose`` by
        # SMS to the registration's number (``text`` with ``{}`` for the token); the registration's
        # earlier tokens close first.
        core = self._core
        if user is None:
            user = check_password(core, username, password, event=event)
        device = self._active_ib_key(user, registration)
        assert device.number is not None
        now = core.clock.now()
        with core.db.write() as session:
            self._enrollment.close_tokens(session, device)
            token = self._enrollment.activation_token(session, device, now, purpose=purpose)
        deliver(
            core,
            Message(device.number, "sms", SENDER, text.format(token)),
            user_id=user.id,
            username=user.username,
            device_id=device.id,
        )
        return Enrollment(
            device=device_view(device), activation=activation, sent_to=mask_number(device.number)
        )

    def finish_ib_key_pin_change(self, device_id: str, code: str) -> DeviceView:
        """Check the texted code; the app may then change its PIN.

        Raises:
            NotFound: no open PIN-change code for that registration.
            WrongAnswer, ExpiredChallenge, ...: as for any answer.
        """
        core = self._core
        now = core.clock.now()
        with core.db.read() as session:
            challenge_id = session.scalar(
                select(Challenge.id)
                .where(
                    Challenge.device_id == device_id,
                    Challenge.purpose == "ib-key-pin",
                    Challenge.status == "open",
                    Challenge.expires_at > now,
                )
                .order_by(Challenge.created_at.desc())
                .limit(1)
            )
        if challenge_id is None:
            raise NotFound("no PIN change was asked for this registration")

        def complete(
            session: DbSession, _c: Challenge, device: Device, user: User, when: float
        ) -> DeviceView:
            core.audit.record(
                session,
                when,
                "ib-key.pin-changed",
                actor="user",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device.id,
            )
            return device_view(device)

        return self._challenges.answer(challenge_id, code, purpose="ib-key-pin", complete=complete)
