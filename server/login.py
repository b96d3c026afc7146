"""The login: password, choice of device (M2FS), a challenge in that device's form, the answer, a session.

A login is a short-lived record between the password and the second factor. It finishes once: the
winning answer marks it done in the same transaction that creates the session, so two right answers
to two challenges of one login still make one session.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session as DbSession

from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.provisioning import DeviceKind
from tokensim.server.challenges import Challenges
from tokensim.server.config import ServerConfig
from tokensim.server.core import Core
from tokensim.server.device_rows import device_view
from tokensim.server.errors import (
    DeviceUnavailable,
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
from tokensim.server.rules import TRADING_PLATFORMS, temporary_stage
from tokensim.server.storage.models import Challenge, Device, Login, Session, User
from tokensim.server.storage.prepared import Prepared, PreparedLoad, changed
from tokensim.server.throttle import storage_unavailable, verify_password
from tokensim.server.verify import TEMPORARY_KIND, policy_for
from tokensim.server.views import ChallengeView, LoginStarted, SessionGrant, SessionInfo

__all__ = [
    "PLATFORMS",
    "CurrentSession",
    "Logins",
    "current_session",
    "end_sessions",
    "scope_for",
    "session_scope",
]

_log = logging.getLogger(__name__)

#: Where a login comes from: the Client Portal, a trading platform, or the mobile app.
PLATFORMS = ("portal", "trading", "mobile")

# Built once (the answer path runs them on every verification; see outcomes.py).
#: The winning answer finishes the login, once, before it expires.
_FINISH = Prepared(
    update(Login)
    .where(Login.id == bindparam("login_id"), Login.status == "open", Login.expires_at > bindparam("now"))
    .values(status="done")
)
_NEW_SESSION = Prepared(insert(Session))
#: A session with its user and the device that opened it, in one read: every authenticated request.
_CURRENT = PreparedLoad(
    select(Session, User, Device)
    .join(User, User.id == Session.user_id)
    .outerjoin(Device, Device.id == Session.device_id)
    .where(Session.token_digest == bindparam("digest"))
)


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


def session_scope(
    row: Session, user: User, device: Device | None, now: float, config: ServerConfig
) -> tuple[str, ...]:
    """What a session may do now: what its login granted, narrowed by the current state.

    Nothing (the session has ended) when the account closed after the session opened, or when the
    device that opened it is no longer active (revoked, reported, replaced, put back to pending,
    expired). Otherwise the granted scope narrowed to what :func:`scope_for` gives now, so a
    temporary passcode session loses ``trading`` and ``portal`` when the full stage ends, and ends
    with the passcode. A scope never grows.
    """
    if user.status == "closed" and (user.closed_at is None or row.created_at < user.closed_at):
        return ()
    if row.device_id is not None:
        if device is None or device.status != "active" or device.revoked_at is not None:
            return ()
        if device.expires_at is not None and device.expires_at <= now:
            return ()
    allowed = scope_for(user, device, now, config=config)
    return tuple(name for name in row.scope.split() if name in allowed)


@dataclass(frozen=True, slots=True)
class CurrentSession:
    """A session checked against the current state.

    Attributes:
        row: the session row.
        user: its user, as read with it.
        device: the device that opened it (``None``: the password alone).
        scope: what it may do now (never empty).
    """

    row: Session
    user: User
    device: Device | None
    scope: tuple[str, ...]


def current_session(core: Core, token: str) -> CurrentSession:
    """The session of a bearer token, as it stands now: one read of the session, user and device.

    Raises:
        Unauthorized: unknown, ended or expired token, or the account or device it came from is
            gone (closed, revoked, reported, expired).
    """
    now = core.clock.now()
    found = _CURRENT.one_or_none(core.db, {"digest": token_digest(token)})
    if found is None:
        raise Unauthorized("no such session, or it ended")
    row: Session = found[0]
    user: User = found[1]
    device: Device | None = found[2]
    if row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized("no such session, or it ended")
    scope = session_scope(row, user, device, now, core.config)
    if not scope:
        raise Unauthorized("the session ended: its account or device changed; log in again")
    return CurrentSession(row, user, device, scope)


def end_sessions(
    core: Core,
    session: DbSession,
    now: float,
    *,
    user_id: str,
    device_id: str | None = None,
    reason: str,
    actor: str = "support",
) -> int:
    """End the open sessions of a user (or only those a device opened) in the caller's transaction.

    Returns how many ended; one ``session.ended`` audit row says so when any did.
    """
    where = [Session.user_id == user_id, Session.revoked_at.is_(None), Session.expires_at > now]
    if device_id is not None:
        where.append(Session.device_id == device_id)
    ended = changed(session, update(Session).where(*where).values(revoked_at=now))
    if ended:
        core.audit.record(
            session,
            now,
            "session.ended",
            actor=actor,
            outcome="ok",
            user_id=user_id,
            device_id=device_id,
            detail={"reason": reason, "sessions": ended},
        )
    return ended


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
            TooManyAttempts: password checks of this username from this address, or of this
                address, are paused (the same for a username that names no user).
            AccountLocked: the account is locked (or its username reached 100 wrong passwords).
            StorageUnavailable: the attempt could not be recorded, so it was not checked.
            IpRestricted: a trading platform, from an address the user's IP restrictions do not list.
        """
        core = self._core
        if platform not in PLATFORMS:
            raise InvalidParameter(f"platform must be one of {', '.join(PLATFORMS)}")
        now = core.clock.now()
        user, keys = verify_password(
            core,
            username,
            password,
            event="login.password",
            detail={"platform": platform, "origin": origin},
            address=origin,
        )
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
        # A login the database cannot record is refused, with a clear 503, like a failure it cannot count.
        try:
            with core.db.write() as session:
                core.throttle.password_succeeded(session, keys)
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
        except DBAPIError as e:
            raise storage_unavailable(e) from e
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
        """What a session token may do now.

        Raises:
            Unauthorized: unknown, ended or expired token (or its account or device is gone).
        """
        current = current_session(self._core, token)
        return SessionInfo(
            username=current.user.username,
            scope=current.scope,
            device_kind=None if current.device is None else current.device.kind,
            created_at=current.row.created_at,
            expires_at=current.row.expires_at,
        )

    def logout(self, token: str, *, everywhere: bool = False) -> int:
        """End a session, or (``everywhere``) every session of its user; return how many ended.

        Raises:
            Unauthorized: unknown or ended token.
        """
        core = self._core
        current = current_session(core, token)
        now = core.clock.now()
        with core.db.write() as session:
            if everywhere:
                return end_sessions(
                    core, session, now, user_id=current.user.id, reason="logout-everywhere", actor="user"
                )
            mine = update(Session).where(
                Session.token_digest == current.row.token_digest, Session.revoked_at.is_(None)
            )
            if changed(session, mine.values(revoked_at=now)) != 1:
                raise Unauthorized("no such session, or it ended")
            core.audit.record(
                session, now, "session.ended", actor="user", outcome="ok", user_id=current.user.id
            )
            return 1
