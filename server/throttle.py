"""Throttling of wrong answers and wrong passwords, per device, per account and per client address.

Second factors (only people who know the password reach them):

* per challenge: ``challenge_max_attempts`` answers, then it closes;
* per device: ``device_max_failures`` consecutive wrong answers lock that device for
  ``device_lockout`` seconds, doubling with each further lockout up to ``device_lockout_max``. The
  user's other devices stay usable, so someone who knows the password cannot lock the user out of
  every device by hammering one.
* per account: ``account_max_failures`` (at most 100, NIST SP 800-63B §5.2.2) consecutive
  second-factor failures over all devices lock the account until support unlocks it.

Passwords (anyone who knows a username can fail its password, so no counter an outsider fills from
one address may keep the user out):

* per (username, client address): ``password_max_failures`` consecutive failures pause that pair
  for ``password_lockout`` seconds, doubling up to ``password_lockout_max``; the same username from
  any other address is not paused;
* per client address: ``password_address_max_failures`` failures over all usernames per
  ``password_address_window`` seconds (spraying one password over many users);
* per username: ``password_account_max_failures`` (at most 100) consecutive failures from every
  address stop its password checks until support unlocks it: only an attacker with many
  addresses gets there, and NIST SP 800-63B §5.2.2 asks for exactly this cap.

The password counters live in ``password_throttle``, keyed by keyed digests of the username and
address (an unknown username has counters too, so it is refused exactly like a known one).

Every limit is tested by the statement that counts: one conditional ``UPDATE ... WHERE failures <
limit`` (``RETURNING`` the new count), never a read and then a write. Of N parallel guesses, on one
process or several, at most the limit are counted and answered; the others are refused.

* A password attempt is *taken* from its three counters (committed) before argon2 runs, so refused
  attempts cost no hashing and a right password gives its attempt back (the counters reset).
* A second-factor answer is checked (HMACs, microseconds) and then applied in one transaction
  whose conditional UPDATEs take the challenge's attempt and the device's failure (a wrong answer)
  or move the challenge to answered while it has attempts left and the device is unlocked (a right
  one). Whatever loses that race is refused as ``challenge-closed`` or ``device-locked``, the same
  answer a wrong guess gets at that moment, so a right answer is never told "replayed" by a burst.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tokensim.protocol.errors import DeviceLocked
from tokensim.server.config import ServerConfig
from tokensim.server.errors import (
    AccountLocked,
    InvalidCredentials,
    StorageUnavailable,
    TooManyAttempts,
)
from tokensim.server.storage.models import Device, PasswordThrottle, User
from tokensim.server.storage.prepared import changed

if TYPE_CHECKING:
    from tokensim.server.core import Core

__all__ = [
    "CLIENT_ADDRESS",
    "FailureOutcome",
    "PasswordKeys",
    "Throttle",
    "lockout_seconds",
    "storage_unavailable",
    "verify_password",
]

_log = logging.getLogger(__name__)

#: The client address of the request being served (set by the API's middleware; "" outside one).
CLIENT_ADDRESS: ContextVar[str] = ContextVar("tokensim_client_address", default="")


def lockout_seconds(previous_lockouts: int, base: float, maximum: float) -> float:
    """Length of the next lockout: ``base`` doubled once per earlier lockout, capped at ``maximum``.

    >>> [lockout_seconds(n, 60, 3600) for n in range(8)]
    [60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0, 3600.0]
    """
    return float(min(base * 2.0 ** min(previous_lockouts, 32), maximum))


@dataclass(frozen=True, slots=True)
class FailureOutcome:
    """What one wrong answer did to the counters.

    Attributes:
        attempts_remaining: wrong answers the device takes before it locks (0 if it just locked).
        device_locked_for: seconds the device is now locked, or ``None``.
        account_locked: whether this failure locked the account.
    """

    attempts_remaining: int
    device_locked_for: float | None
    account_locked: bool


@dataclass(frozen=True, slots=True)
class PasswordKeys:
    """The keys of the three password counters one attempt takes from.

    Attributes:
        pair: the username from this client address.
        address: the client address, over all usernames.
        user: the username, from every address (also the ``subject`` of its pair counters).
    """

    pair: str
    address: str
    user: str


_PT = PasswordThrottle


class Throttle:
    """Reads and updates the throttling counters inside the caller's transaction.

    Args:
        config: the limits and lockout times.
        key: the key of the digests that name the password counters (derived from the master key).
    """

    __slots__ = ("_config", "_key")

    def __init__(self, config: ServerConfig, key: bytes) -> None:
        self._config = config
        self._key = key

    def _digest(self, *parts: str) -> str:
        message = "\x00".join(parts).encode("utf-8", "replace")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def password_keys(self, username: str, address: str | None = None) -> PasswordKeys:
        """The counters of ``username`` typed from ``address`` (the request's own when ``None``)."""
        where = CLIENT_ADDRESS.get() if address is None else address
        return PasswordKeys(
            pair=self._digest("pair", username, where),
            address=self._digest("address", where),
            user=self._digest("user", username),
        )

    def check_device(self, device: Device, now: float) -> None:
        """Refuse a locked device.

        Raises:
            DeviceLocked: with ``retry_after`` until the lock ends.
        """
        if device.locked_until is not None and device.locked_until > now:
            raise DeviceLocked(
                f"device {device.serial} is locked after repeated wrong answers",
                retry_after=device.locked_until - now,
            )

    def check_account(self, user: User) -> None:
        """Refuse a locked account.

        Raises:
            AccountLocked: the account hit its failure limit; support must unlock it.
        """
        if user.account_locked_at is not None:
            raise AccountLocked(
                "the account is locked after too many consecutive second-factor failures; contact support"
            )

    def device_failed(self, session: Session, device_id: str, now: float) -> FailureOutcome:
        """Count one wrong answer against the device, if the device may still take one.

        One conditional UPDATE: the failures go up only while the device is unlocked and below
        ``device_max_failures``, so of N parallel wrong answers, on one process or several, at most
        that many are counted (and told apart). The one that reaches the limit locks the device.
        ``account_locked`` is left false (see :meth:`answer_failed`).

        Raises:
            DeviceLocked: the device is locked; nothing was counted (``retry_after``).
        """
        config = self._config
        taken = session.execute(
            update(Device)
            .where(
                Device.id == device_id,
                or_(Device.locked_until.is_(None), Device.locked_until <= now),
                Device.failures < config.device_max_failures,
            )
            .values(failures=Device.failures + 1)
            .returning(Device.failures, Device.lockouts)
            .execution_options(synchronize_session=False)
        ).one_or_none()
        if taken is None:
            until = session.scalar(select(Device.locked_until).where(Device.id == device_id))
            wait = until - now if until is not None and until > now else 1.0
            raise DeviceLocked("the device is locked after repeated wrong answers", retry_after=wait)
        failures, lockouts = taken
        if failures < config.device_max_failures:
            return FailureOutcome(config.device_max_failures - failures, None, False)
        locked_for = lockout_seconds(lockouts, config.device_lockout, config.device_lockout_max)
        changed(
            session,
            update(Device)
            .where(Device.id == device_id)
            .values(failures=0, lockouts=Device.lockouts + 1, locked_until=now + locked_for),
        )
        return FailureOutcome(0, locked_for, False)

    def answer_failed(self, session: Session, user_id: str, now: float) -> bool:
        """Count a wrong answer (already taken from its device) against the account; whether it locked."""
        (account_failures,) = session.execute(
            update(User)
            .where(User.id == user_id)
            .values(factor_failures=User.factor_failures + 1)
            .returning(User.factor_failures)
            .execution_options(synchronize_session=False)
        ).one()
        if account_failures < self._config.account_max_failures:
            return False
        unlocked = update(User).where(User.id == user_id, User.account_locked_at.is_(None))
        return changed(session, unlocked.values(account_locked_at=now)) == 1

    def second_factor_failed(
        self, session: Session, device_id: str, user_id: str, now: float
    ) -> FailureOutcome:
        """Count one wrong answer against the device and the account."""
        config = self._config
        failures, lockouts = session.execute(
            update(Device)
            .where(Device.id == device_id)
            .values(failures=Device.failures + 1)
            .returning(Device.failures, Device.lockouts)
            .execution_options(synchronize_session=False)
        ).one()
        locked_for: float | None = None
        if failures >= config.device_max_failures:
            locked_for = lockout_seconds(lockouts, config.device_lockout, config.device_lockout_max)
            changed(
                session,
                update(Device)
                .where(Device.id == device_id)
                .values(failures=0, lockouts=Device.lockouts + 1, locked_until=now + locked_for),
            )
        (account_failures,) = session.execute(
            update(User)
            .where(User.id == user_id)
            .values(factor_failures=User.factor_failures + 1)
            .returning(User.factor_failures)
            .execution_options(synchronize_session=False)
        ).one()
        account_locked = False
        if account_failures >= config.account_max_failures:
            unlocked = update(User).where(User.id == user_id, User.account_locked_at.is_(None))
            account_locked = changed(session, unlocked.values(account_locked_at=now)) == 1
        remaining = 0 if locked_for is not None else config.device_max_failures - failures
        return FailureOutcome(remaining, locked_for, account_locked)

    def take_password(self, session: Session, keys: PasswordKeys, now: float) -> None:
        """Take one password check from each of its three counters, or refuse it.

        Each counter is one conditional UPDATE in the caller's transaction, which the caller commits
        before the password is checked; a refusal raises, so the caller's transaction rolls back and
        takes nothing. Concurrent attempts queue on the counters' rows, so at most the limit pass.

        Raises:
            AccountLocked: ``password_account_max_failures`` consecutive failures for this username.
            TooManyAttempts: the address's budget is spent, or the pair is paused (``retry_after``).
        """
        config = self._config
        self._ensure(session, keys)
        user_taken = session.execute(
            update(_PT)
            .where(_PT.key == keys.user, _PT.failures < config.password_account_max_failures)
            .values(failures=_PT.failures + 1)
            .returning(_PT.failures)
            .execution_options(synchronize_session=False)
        ).scalar()
        if user_taken is None:
            raise AccountLocked(
                "too many consecutive wrong passwords for this username; support must unlock it"
            )
        window = config.password_address_window
        fresh = or_(_PT.window_start.is_(None), _PT.window_start <= now - window)
        address_taken = session.execute(
            update(_PT)
            .where(_PT.key == keys.address, or_(fresh, _PT.failures < config.password_address_max_failures))
            .values(
                failures=case((fresh, 1), else_=_PT.failures + 1),
                window_start=case((fresh, now), else_=_PT.window_start),
            )
            .returning(_PT.failures)
            .execution_options(synchronize_session=False)
        ).scalar()
        if address_taken is None:
            started = session.scalar(select(_PT.window_start).where(_PT.key == keys.address))
            raise TooManyAttempts(
                "too many wrong passwords from this address; try again later",
                retry_after=max(1.0, (started or now) + window - now),
            )
        pair_taken = session.execute(
            update(_PT)
            .where(
                _PT.key == keys.pair,
                or_(_PT.locked_until.is_(None), _PT.locked_until <= now),
                _PT.failures < config.password_max_failures,
            )
            .values(failures=_PT.failures + 1)
            .returning(_PT.failures, _PT.lockouts)
            .execution_options(synchronize_session=False)
        ).one_or_none()
        if pair_taken is None:
            until = session.scalar(select(_PT.locked_until).where(_PT.key == keys.pair))
            raise TooManyAttempts(
                "too many wrong passwords; try again later", retry_after=max(1.0, (until or now) - now)
            )
        failures, lockouts = pair_taken
        if failures >= config.password_max_failures:
            # The last check before the pause: if it turns out wrong, the pair pauses from now; a
            # right password ends the pause again (password_succeeded).
            pause = lockout_seconds(lockouts, config.password_lockout, config.password_lockout_max)
            changed(
                session,
                update(_PT)
                .where(_PT.key == keys.pair)
                .values(failures=0, lockouts=_PT.lockouts + 1, locked_until=now + pause),
            )

    def _ensure(self, session: Session, keys: PasswordKeys) -> None:
        """Make the three counter rows exist (a row another transaction is making is waited for)."""
        rows = [
            {"key": keys.pair, "scope": "pair", "subject": keys.user, "failures": 0, "lockouts": 0},
            {"key": keys.address, "scope": "address", "subject": None, "failures": 0, "lockouts": 0},
            {"key": keys.user, "scope": "user", "subject": keys.user, "failures": 0, "lockouts": 0},
        ]
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(insert(_PT).values(rows).on_conflict_do_nothing(index_elements=[_PT.key]))

    def password_succeeded(self, session: Session, keys: PasswordKeys) -> None:
        """A right password: the pair and username counters reset; the address gets its check back."""
        changed(
            session,
            update(_PT)
            .where(_PT.key.in_((keys.pair, keys.user)))
            .values(failures=0, lockouts=0, locked_until=None),
        )
        changed(
            session,
            update(_PT).where(_PT.key == keys.address, _PT.failures > 0).values(failures=_PT.failures - 1),
        )

    def unlock_account(self, session: Session, user_id: str) -> None:
        """Support action: clear the account lock and every counter of the account."""
        changed(
            session,
            update(User)
            .where(User.id == user_id)
            .values(
                factor_failures=0,
                account_locked_at=None,
                password_failures=0,
                password_lockouts=0,
                password_locked_until=None,
            ),
        )
        username = session.scalar(select(User.username).where(User.id == user_id))
        if username is not None:
            subject = self.password_keys(username, "").user
            changed(
                session,
                update(_PT).where(_PT.subject == subject).values(failures=0, lockouts=0, locked_until=None),
            )


def storage_unavailable(error: DBAPIError) -> StorageUnavailable:
    """The refusal of an attempt whose counter or audit row the database would not take."""
    _log.error("a throttle counter or audit row could not be written: %s", type(error.orig).__name__)
    return StorageUnavailable(
        "the server could not record this attempt, so it was not checked; try again later"
    )


def verify_password(
    core: Core,
    username: str,
    password: str,
    *,
    event: str,
    detail: Mapping[str, Any] | None = None,
    address: str | None = None,
) -> tuple[User, PasswordKeys]:
    """Check a username and password under the password throttle; return the user and its counters.

    The attempt is first taken from its counters (and committed), then the password is checked, so
    parallel guesses are checked at most up to the limits. An unknown username takes the same
    counters, is checked against a dummy argon2 hash and gets the same answers, status and
    ``Retry-After`` included. A failed or refused attempt is audited, the username stored only as
    a keyed digest when it names no user. The caller resets the counters after a success
    (:meth:`Throttle.password_succeeded`) once its own checks pass.

    Raises:
        InvalidCredentials: unknown username or wrong password (never said which).
        TooManyAttempts: the pair is paused or the address's budget is spent (``retry_after``).
        AccountLocked: the username's 100 consecutive failures are reached.
        StorageUnavailable: the attempt could not be recorded; it was not checked.
    """
    now = core.clock.now()
    keys = core.throttle.password_keys(username, address)
    facts = dict(detail or {})
    with core.db.read() as session:
        user = session.scalar(select(User).where(User.username == username))
    try:
        with core.db.write() as session:
            core.throttle.take_password(session, keys, now)
    except (TooManyAttempts, AccountLocked) as refused:
        facts["reason"] = refused.code
        if refused.retry_after is not None:
            facts["retry_after"] = round(refused.retry_after, 3)
        _audit_password(core, now, event, "throttled", user, username, facts)
        _log.info("password attempt refused unchecked (%s)", refused.code)
        raise
    except DBAPIError as e:
        raise storage_unavailable(e) from e
    # The hash is checked even for an unknown user, so the time taken does not tell them apart.
    ok = core.hasher.verify(None if user is None else user.password_hash, password)
    if user is None or not ok:
        _audit_password(core, now, event, "failed", user, username, facts)
        raise InvalidCredentials("username or password is wrong")
    return user, keys


def _audit_password(
    core: Core, now: float, event: str, outcome: str, user: User | None, username: str, detail: dict[str, Any]
) -> None:
    try:
        with core.db.write() as session:
            core.audit.record(
                session,
                now,
                event,
                actor="user",
                outcome=outcome,
                user_id=None if user is None else user.id,
                username=core.audit.masked(username) if user is None else user.username,
                detail=detail,
            )
    except DBAPIError as e:
        raise storage_unavailable(e) from e
