"""The login: password, choice of device (M2FS), a challenge in that device's form, the answer, a session.

A login is a short-lived record between the password and the second factor. It finishes once: the
winning answer marks it done in the same transaction that creates the session, so two right answers
to two challenges of one login still make one session.
"""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session as DbSession

from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.provisioning import DeviceKind
from tokensim.server.challenges import Challenges, device_view
from tokensim.server.config import ServerConfig
from tokensim.server.core import Core
from tokensim.server.db import Prepared, changed
from tokensim.server.errors import (
    DeviceUnavailable,
    InvalidCredentials,
    IpRestricted,
    LoginExpired,
    NotFound,
    Unauthorized,
)
from tokensim.server.hashing import token_digest
from tokensim.server.lifecycle import (
    activate,
    is_usable_by,
    login_devices,
    promote_due,
    reactivatable,
    temporary_stages,
)
from tokensim.server.models import Challenge, Device, Login, Session, User
from tokensim.server.rules import TRADING_PLATFORMS, temporary_stage
from tokensim.server.verify import TEMPORARY_KIND, policy_for
from tokensim.server.views import ChallengeView, LoginStarted, SessionGrant, SessionInfo

__all__ = ["PLATFORMS", "Logins", "scope_for"]

_log = logging.getLogger(__name__)

#: Where a login comes from: the Client Portal, a trading platform, or the mobile app.
PLATFORMS = ("portal", "trading", "mobile")

# Built once (the answer path runs them on every verification; see challenges.py).
#: The winning answer finishes the login, once, before it expires.
_FINISH = Prepared(
    update(Login)
    .where(Login.id == bindparam("login_id"), Login.status == "open", Login.expires_at > bindparam("now"))
    .values(status="done")
)
_NEW_SESSION = Prepared(insert(Session))


def scope_for(
    user: User, device: Device | None, now: float, *, config: ServerConfig | None = None
) -> tuple[str, ...]:
    """What a session after a login with ``device`` (``None``: the password alone) may do.

    * a closed account: ``statements`` only, whatever the device;
    * the password alone: ``trading`` for a user opted out of the Secure Login System (the
      portal still asks for a second factor), nothing otherwise;
    * a temporary passcode: everything for ``temporary_full_access`` seconds after it was issued,
      then only ``card-printing`` until it expires;
    * any other device: its kind's policy (the online card's 21 days are its expiry).
    """
    if user.status == "closed":
        return ("statements",)
    if device is None:
        return ("trading",) if user.sls_opted_out_at is not None else ()
    if device.kind == TEMPORARY_KIND:
        stage = temporary_stage(device.issued_at, now, ServerConfig() if config is None else config)
        if stage == "full":
            return policy_for(device.kind).scope
        return ("card-printing",) if stage == "card-printing" else ()
    return policy_for(device.kind).scope


class Logins:
    """Runs logins and answers session questions.

    Args:
        core: the shared parts.
        challenges: issues and checks challenges.
    """

    __slots__ = ("_challenges", "_core")

    def __init__(self, core: Core, challenges: Challenges) -> None:
        self._core = core
        self._challenges = challenges

    def start(
        self, username: str, password: str, *, platform: str = "portal", origin: str = ""
    ) -> LoginStarted:
        """Check the password and open a login.

        Two logins end here, with ``session`` set: a closed account gets a ``statements`` session
        with the password alone, and a user opted out of the Secure Login System gets a ``trading``
        session on a trading platform. A trading-platform login from outside the user's IP
        restrictions is refused.

        Raises:
            InvalidCredentials: unknown username or wrong password (never said which).
            TooManyAttempts: password checks for this user are paused.
            AccountLocked: the account is locked.
            IpRestricted: a trading platform, from an address the user's IP restrictions do not list.
        """
        core = self._core
        if platform not in PLATFORMS:
            raise InvalidParameter(f"platform must be one of {', '.join(PLATFORMS)}")
        now = core.clock.now()
        with core.db.read() as session:
            user = session.scalar(select(User).where(User.username == username))
        if user is not None:
            core.throttle.check_password(user, now)
        # The hash is checked even for an unknown user, so the time taken does not tell them apart.
        ok = core.hasher.verify(None if user is None else user.password_hash, password)
        if user is None or not ok:
            with core.db.write() as session:
                pause = None if user is None else core.throttle.password_failed(session, user.id, now)
                core.audit.record(
                    session,
                    now,
                    "login.password",
                    actor="user",
                    outcome="failed",
                    user_id=None if user is None else user.id,
                    username=username[:64],
                    detail={"platform": platform, "origin": origin} | ({"paused": pause} if pause else {}),
                )
            raise InvalidCredentials("username or password is wrong")
        core.throttle.check_account(user)
        trading = platform in TRADING_PLATFORMS
        if trading and user.ip_restrictions and origin not in user.ip_restrictions.split():
            with core.db.write() as session:
                core.audit.record(
                    session,
                    now,
                    "login.password",
                    actor="user",
                    outcome="refused",
                    user_id=user.id,
                    username=user.username,
                    detail={"platform": platform, "origin": origin, "reason": "ip-restrictions"},
                )
            raise IpRestricted("trading logins for this user are allowed only from its listed addresses")
        without_factor = user.status == "closed" or (trading and user.sls_opted_out_at is not None)
        new_hash = core.hasher.hash(password) if core.hasher.needs_rehash(user.password_hash) else None
        login_id = core.new_token()
        expires_at = now + core.config.login_ttl
        with core.db.write() as session:
            core.throttle.password_succeeded(session, user.id)
            if new_hash is not None:
                changed(session, update(User).where(User.id == user.id).values(password_hash=new_hash))
            session.add(
                Login(
                    id=login_id,
                    user_id=user.id,
                    platform=platform,
                    origin=origin[:64],
                    status="done" if without_factor else "open",
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            core.audit.record(
                session,
                now,
                "login.password",
                actor="user",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                detail={"platform": platform, "origin": origin},
            )
            if without_factor:
                grant = self._grant(session, user, None, now)
                _log.info("password alone accepted (closed account or opted out on a trading platform)")
                return LoginStarted(login_id, user.username, expires_at, (), session=grant)
            promote_due(core, session, user, now)
            devices = login_devices(session, user.id, now)
            stages = temporary_stages(session, user.id, now, core.config)
        _log.info("password accepted; %d device(s) to choose from", len(devices))
        return LoginStarted(
            login_id=login_id,
            username=user.username,
            expires_at=expires_at,
            devices=tuple(device_view(d, owner=owner) for d, owner in devices),
            temporary=stages,
        )

    def _grant(self, session: DbSession, user: User, device: Device | None, now: float) -> SessionGrant:
        core = self._core
        token = core.new_token()
        scope = scope_for(user, device, now, config=core.config)
        expires_at = now + core.config.session_ttl
        _NEW_SESSION.run(
            session,
            {
                "token_digest": token_digest(token),
                "user_id": user.id,
                "device_id": None if device is None else device.id,
                "scope": " ".join(scope),
                "created_at": now,
                "expires_at": expires_at,
            },
        )
        core.audit.record(
            session,
            now,
            "session.created",
            actor="user",
            outcome="ok",
            user_id=user.id,
            username=user.username,
            device_id=None if device is None else device.id,
            detail={"scope": list(scope), "kind": "none" if device is None else device.kind},
        )
        return SessionGrant(
            token=token,
            username=user.username,
            scope=scope,
            device_kind=None if device is None else device.kind,
            expires_at=expires_at,
        )

    def _open_login(self, login_id: str) -> Login:
        now = self._core.clock.now()
        with self._core.db.read() as session:
            login = session.get(Login, login_id)
        if login is None:
            raise NotFound("no such login")
        if login.status != "open" or login.expires_at <= now:
            raise LoginExpired("this login is finished or expired; start again with the password")
        return login

    def challenge(self, login_id: str, device_id: str, *, mode: str | None = None) -> ChallengeView:
        """Ask the chosen device for an answer (a device waiting for reactivation: to reactivate it).

        Raises:
            NotFound: no such login.
            LoginExpired: the login is finished or expired.
            DeviceUnavailable: not one of the user's active devices.
            DeviceLocked, AccountLocked: locked.
            InvalidParameter: the device does not answer in ``mode``.
        """
        login = self._open_login(login_id)
        with self._core.db.read() as session:
            device = session.get(Device, device_id)
            usable = device is not None and is_usable_by(session, device, login.user_id)
        if device is None or not usable:
            raise DeviceUnavailable("not one of this user's devices")
        # A permanent device waiting for reactivation answers an activation challenge instead.
        purpose = "activation" if device.user_id == login.user_id and reactivatable(device) else "login"
        if purpose == "activation" and mode is None and device.kind == DeviceKind.IB_KEY.value:
            mode = "numeric"  # the deactivated app answers with its keys; no push to a pending device
        issued = self._challenges.issue(
            device_id,
            purpose=purpose,
            mode=mode,
            login_id=login.id,
            origin=login.origin,
            platform=login.platform,
            user_id=login.user_id,
        )
        return issued.view

    def answer(self, login_id: str, challenge_id: str, answer: str | None) -> SessionGrant:
        """Answer the login's challenge; a right answer finishes the login with a session.

        A right answer to a reactivation challenge also reactivates the device (ending temporary
        access) in the same transaction.

        ``answer`` is ``None`` for a push or QR challenge, whose answer is the phone's decision.

        Raises:
            NotFound: no such login or challenge (a challenge of another login included).
            LoginExpired: the login is finished or expired.
            WrongAnswer, ReplayedCode, ExpiredChallenge, ChallengeClosed, PushPending, PushDenied,
            DeviceLocked, AccountLocked: see :meth:`Challenges.answer`.
        """

        def finish(
            session: DbSession, challenge: Challenge, device: Device, user: User, now: float
        ) -> SessionGrant:
            if changed(session, _FINISH, {"login_id": login_id, "now": now}) != 1:
                raise LoginExpired("this login is finished or expired; start again with the password")
            return self._grant(session, user, device, now)

        def reactivate_and_finish(
            session: DbSession, challenge: Challenge, device: Device, user: User, now: float
        ) -> SessionGrant:
            activate(self._core, session, device, user, now, actor="user")
            return finish(session, challenge, device, user, now)

        try:
            return self._challenges.answer(
                challenge_id, answer, purpose="login", login_id=login_id, complete=finish
            )
        except NotFound:  # the login's challenge to reactivate a device (see :meth:`challenge`)
            return self._challenges.answer(
                challenge_id, answer, purpose="activation", login_id=login_id, complete=reactivate_and_finish
            )

    def session_info(self, token: str) -> SessionInfo:
        """What a session token may do.

        Raises:
            Unauthorized: unknown, ended or expired token.
        """
        now = self._core.clock.now()
        with self._core.db.read() as session:
            row = session.get(Session, token_digest(token))
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                raise Unauthorized("no such session, or it ended")
            user = session.get(User, row.user_id)
            device = None if row.device_id is None else session.get(Device, row.device_id)
            assert user is not None
            return SessionInfo(
                username=user.username,
                scope=tuple(row.scope.split()),
                device_kind=None if device is None else device.kind,
                created_at=row.created_at,
                expires_at=row.expires_at,
            )

    def logout(self, token: str) -> None:
        """End a session.

        Raises:
            Unauthorized: unknown or ended token.
        """
        core = self._core
        now = core.clock.now()
        with core.db.write() as session:
            row = session.get(Session, token_digest(token))
            if row is None or row.revoked_at is not None:
                raise Unauthorized("no such session, or it ended")
            row.revoked_at = now
            core.audit.record(session, now, "session.ended", actor="user", outcome="ok", user_id=row.user_id)
