"""Throttling of wrong answers and wrong passwords, per device and per account.

Three counters, each reset by a success:

* per device: ``device_max_failures`` consecutive wrong answers lock that device for
  ``device_lockout`` seconds, doubling with each further lockout up to ``device_lockout_max``. The
  user's other devices stay usable, so someone who knows the password cannot lock the user out of
  every device by hammering one.
* per account: ``account_max_failures`` (at most 100, NIST SP 800-63B §5.2.2) consecutive
  second-factor failures over all devices lock the account until support unlocks it. Only people
  who know the password can add to this counter.
* per password: ``password_max_failures`` consecutive wrong passwords pause password checks for that
  user, doubling like the device lockout. It never locks for good, since anyone who knows a username
  can fail its password.

Every change is one conditional UPDATE, so concurrent failures are all counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from tokensim.protocol.errors import DeviceLocked
from tokensim.server.config import ServerConfig
from tokensim.server.db import changed
from tokensim.server.errors import AccountLocked, TooManyAttempts
from tokensim.server.models import Device, User

__all__ = ["FailureOutcome", "Throttle", "lockout_seconds"]


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


class Throttle:
    """Reads and updates the throttling counters inside the caller's transaction.

    Args:
        config: the limits and lockout times.
    """

    __slots__ = ("_config",)

    def __init__(self, config: ServerConfig) -> None:
        self._config = config

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

    def check_password(self, user: User, now: float) -> None:
        """Refuse a password check while the user's password checks are paused.

        Raises:
            TooManyAttempts: with ``retry_after`` until checks resume.
        """
        if user.password_locked_until is not None and user.password_locked_until > now:
            raise TooManyAttempts(
                "too many wrong passwords; try again later", retry_after=user.password_locked_until - now
            )

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

    def password_failed(self, session: Session, user_id: str, now: float) -> float | None:
        """Count one wrong password; return the seconds of the pause it started, if any."""
        config = self._config
        failures, lockouts = session.execute(
            update(User)
            .where(User.id == user_id)
            .values(password_failures=User.password_failures + 1)
            .returning(User.password_failures, User.password_lockouts)
            .execution_options(synchronize_session=False)
        ).one()
        if failures < config.password_max_failures:
            return None
        pause = lockout_seconds(lockouts, config.password_lockout, config.password_lockout_max)
        changed(
            session,
            update(User)
            .where(User.id == user_id)
            .values(
                password_failures=0,
                password_lockouts=User.password_lockouts + 1,
                password_locked_until=now + pause,
            ),
        )
        return pause

    def password_succeeded(self, session: Session, user_id: str) -> None:
        """Reset the password counters."""
        changed(
            session,
            update(User)
            .where(User.id == user_id)
            .values(password_failures=0, password_lockouts=0, password_locked_until=None),
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
