"""IB Key activation: instant activation from the app, and the app's activation with the texted token.

The app asks with the user's password (:meth:`IbKeyActivations.instant_ib_key_activation`); the
server enrolls a registration and texts its activation token to a verified number; the app sends
the token back with its new public key (:meth:`IbKeyActivations.activate_ib_key`), which also takes
the recovery tokens of :mod:`.ib_key_registrations`. IB Key is active on one phone only, and the
SMS device goes once it is (``ib_key_removes_sms``).
"""

from __future__ import annotations

import hmac

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from tokensim.protocol.errors import DeviceLocked, InvalidCode, InvalidParameter, ReplayedCode
from tokensim.protocol.ocra import OcraSuite
from tokensim.protocol.otp import HashAlgorithm
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind, IbKeyActivation, Provisioning
from tokensim.server.core import Core
from tokensim.server.enrollment import DeviceEnrollment, key_bytes
from tokensim.server.errors import NotEligible, WrongAnswer
from tokensim.server.lifecycle import activate, check_password
from tokensim.server.rules import PHONE_OSES
from tokensim.server.storage.models import Challenge, Device, User
from tokensim.server.storage.prepared import changed
from tokensim.server.verify import DeviceSecrets, load_public_key, oob_mac
from tokensim.server.views import Enrollment

__all__ = ["IbKeyActivations"]


class IbKeyActivations:
    """Activating IB Key registrations.

    Args:
        core: the shared parts.
        enrollment: enrolls the registration an instant activation asks for.
    """

    __slots__ = ("_core", "_enrollment")

    def __init__(self, core: Core, enrollment: DeviceEnrollment) -> None:
        self._core = core
        self._enrollment = enrollment

    def instant_ib_key_activation(
        self, username: str, password: str, *, number: str | None = None, os: str = "android"
    ) -> Enrollment:
        """IB Key's instant activation from the app: the password, then an SMS to a verified number.

        The account must have received funds. The token texted to ``number`` (the user's first
        verified number when ``None``) activates the app (``POST /v1/ib-key/activations``); the
        user's other devices stay active (M2FS), SMS aside (``ib_key_removes_sms``).

        Raises:
            InvalidCredentials: wrong username or password.
            NotEligible: the account has not received funds yet.
            InvalidParameter: not one of the user's verified numbers, or an unknown OS.
        """
        if os not in PHONE_OSES:
            raise InvalidParameter(f"os must be one of {', '.join(PHONE_OSES)}")
        user = check_password(self._core, username, password, event="ib-key.instant-activation")
        if user.funded_at is None:
            raise NotEligible("IB Key activates once the account has received funds")
        if user.status == "closed":
            raise NotEligible("the account is closed")
        return self._enrollment.enroll(user.username, DeviceKind.IB_KEY.value, number=number, os=os)

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
            secret=core.rng.randbytes(key_bytes(OcraSuite.parse(suite).algorithm)),
            totp_secret=core.rng.randbytes(key_bytes(HashAlgorithm.SHA1)),
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
                activate(core, session, device, user, now, actor="device")
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


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
