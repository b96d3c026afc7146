"""The outcome of an answer to a challenge, written once: right, wrong, or refused.

The expensive and secret-touching part of an answer (the HMACs, the card lookup) runs outside any
write transaction (:meth:`tokensim.server.challenges.Challenges.answer`); then one write transaction
here applies the outcome with conditional UPDATEs:

* the challenge moves ``open`` (or ``approved``, for a push) to ``answered`` only if it is still so;
* the device's TOTP step moves forward only if the new step is newer, its OCRA counter only if it
  has not passed the matched value, and only while the device is not locked;
* the account's failure counter resets only while the account is not locked;
* the caller's own change (a session, an activated device) commits with them, or not at all.

Of several concurrent submissions of one right answer, on one process or several, exactly one sees
all of its UPDATEs match; the others roll back and get "replayed".

Every limit is part of the UPDATE that counts against it, so N parallel guesses get at most
``challenge_max_attempts`` answers per challenge and ``device_max_failures`` per device, whatever
process each came to: a wrong answer counts only while the challenge has attempts left and the
device is unlocked (:meth:`Throttle.device_failed`), a right one is applied only then too. An answer
that loses that race is refused as ``challenge-closed`` or ``device-locked`` (audited as
``refused``), which is what every guess gets at that moment: a right answer inside a burst of
wrong ones is accepted or refused like them, never told "replayed".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import TypeVar

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tokensim.protocol.errors import DeviceLocked, ExpiredChallenge, ReplayedCode, TokensimError
from tokensim.server.core import Core
from tokensim.server.errors import AccountLocked, ChallengeClosed, PushDenied, WrongAnswer
from tokensim.server.storage.models import Challenge, Device, Login, User
from tokensim.server.storage.prepared import Prepared, PreparedLoad, changed
from tokensim.server.throttle import FailureOutcome, storage_unavailable
from tokensim.server.verify import Accepted

__all__ = ["Outcomes"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

# The statements of the answer path, built once: on SQLite, building an SQLAlchemy statement costs
# more than running it, and every verification runs these. The updates go to the session's connection
# (plain SQL, no ORM bookkeeping) with their conditions as described in the module docstring. A bound
# parameter never takes a column's name: Core would read it as a value to SET.

#: A challenge with its device, the user who answers and (for a login) its login, in one read.
_LOAD = PreparedLoad(
    select(Challenge, Device, User, Login)
    .join(Device, Device.id == Challenge.device_id)
    .join(User, User.id == Challenge.user_id)
    .outerjoin(Login, Login.id == Challenge.login_id)
    .where(Challenge.id == bindparam("id"))
)
#: The challenge moves to ``answered`` once: only from the status the answer expects, before it expires.
#: (The wrong answer that takes a challenge's last attempt closes it in the same transaction.)
_ANSWERED = Prepared(
    update(Challenge)
    .where(
        Challenge.id == bindparam("challenge_id"),
        Challenge.status == bindparam("expected"),
        Challenge.expires_at > bindparam("now"),
    )
    .values(status="answered", answered_at=bindparam("now"))
)
#: A right answer resets the account's failure counter, unless the account was locked meanwhile.
_ACCOUNT_SUCCESS = Prepared(
    update(User)
    .where(User.id == bindparam("user_id"), User.account_locked_at.is_(None))
    .values(factor_failures=0)
)


@cache
def _device_success(step: bool, counter: bool) -> Prepared:
    """A right answer resets the device's counters; its TOTP step and OCRA counter only move forward."""
    conditions = [
        Device.id == bindparam("device_id"),
        or_(Device.locked_until.is_(None), Device.locked_until <= bindparam("now")),
    ]
    values: dict[str, object] = {"failures": 0, "lockouts": 0, "locked_until": None}
    if step:
        conditions.append(or_(Device.last_step.is_(None), Device.last_step < bindparam("new_step")))
        values["last_step"] = bindparam("new_step")
    if counter:
        conditions.append(or_(Device.counter.is_(None), Device.counter <= bindparam("matched")))
        values["counter"] = bindparam("next_counter")
    return Prepared(update(Device).where(*conditions).values(**values))


class Outcomes:
    """Reads a challenge for its answer and writes what the answer came to, audited.

    Args:
        core: the shared parts.
    """

    __slots__ = ("_core",)

    def __init__(self, core: Core) -> None:
        self._core = core

    def load(self, challenge_id: str) -> tuple[Challenge, Device, User, Login | None] | None:
        """A challenge with its device, the user who answers and its login (``None``: none), in one read."""
        row = _LOAD.one_or_none(self._core.db, {"id": challenge_id})
        return None if row is None else (row[0], row[1], row[2], row[3])

    def check_state(self, challenge: Challenge, device: Device, user: User, now: float) -> None:
        """Refuse an answer or decision the challenge's state or a lock rules out (audited, counts nothing).

        Raises:
            ReplayedCode: the challenge was answered already.
            ChallengeClosed: too many wrong answers to this challenge.
            PushDenied: the phone denied.
            ExpiredChallenge: too late.
            AccountLocked: the account is locked.
            DeviceLocked: the device is locked.
        """
        if challenge.status == "answered":
            self._record(challenge, user, now, "challenge.answer", "replayed", {"reason": "answered"})
            raise ReplayedCode("this challenge was answered already")
        if challenge.status == "closed":
            self._record(challenge, user, now, "challenge.answer", "refused", {"reason": "challenge-closed"})
            raise ChallengeClosed("too many wrong answers to this challenge; ask for a new one")
        if challenge.status == "denied":
            raise PushDenied("the request was denied on the phone")
        if challenge.expires_at <= now:
            self._record(challenge, user, now, "challenge.answer", "expired", {})
            raise ExpiredChallenge("the challenge expired; ask for a new one")
        try:
            self._core.throttle.check_account(user)
            self._core.throttle.check_device(device, now)
        except (AccountLocked, DeviceLocked) as refused:
            reason = "account-locked" if isinstance(refused, AccountLocked) else "device-locked"
            self._record(challenge, user, now, "challenge.answer", "refused", {"reason": reason})
            raise

    def _record(
        self,
        challenge: Challenge,
        user: User,
        now: float,
        event: str,
        outcome: str,
        detail: dict[str, object],
    ) -> None:
        try:
            with self._core.db.write() as session:
                self._core.audit.record(
                    session,
                    now,
                    event,
                    actor="user",
                    outcome=outcome,
                    user_id=user.id,
                    username=user.username,
                    device_id=challenge.device_id,
                    detail={"purpose": challenge.purpose, "mode": challenge.mode} | detail,
                )
        except DBAPIError as e:
            raise storage_unavailable(e) from e

    def failed(
        self, challenge: Challenge, device: Device, user: User, now: float, *, count: bool, reason: str
    ) -> TokensimError | None:
        """Record a failed answer; return the error to raise (``None`` when nothing was counted).

        A wrong answer (``count``) is counted only while the challenge has an attempt left and the
        device is unlocked; otherwise it is refused, audited as ``refused``, and counts nothing.

        Raises:
            ChallengeClosed: the challenge had no attempt left (a wrong answer).
            DeviceLocked: the device is locked (a wrong answer).
            StorageUnavailable: the failure could not be recorded.
        """
        try:
            return self._record_failure(challenge, device, user, now, count=count, reason=reason)
        except (ChallengeClosed, DeviceLocked) as refused:
            self._record(challenge, user, now, "challenge.answer", "refused", {"reason": _reason(refused)})
            if isinstance(refused, DeviceLocked):
                raise DeviceLocked(
                    f"device {device.serial} is locked after repeated wrong answers",
                    retry_after=refused.retry_after,
                ) from None
            raise
        except DBAPIError as e:
            raise storage_unavailable(e) from e

    def _record_failure(
        self, challenge: Challenge, device: Device, user: User, now: float, *, count: bool, reason: str
    ) -> TokensimError | None:
        core = self._core
        max_attempts = core.config.challenge_max_attempts
        with core.db.write() as session:
            attempts = session.execute(
                update(Challenge)
                .where(
                    Challenge.id == challenge.id,
                    Challenge.status == "open",
                    Challenge.attempts < max_attempts,
                )
                .values(attempts=Challenge.attempts + 1)
                .returning(Challenge.attempts)
                .execution_options(synchronize_session=False)
            ).scalar()
            if attempts is None and count:
                # Every attempt was taken (by a burst, maybe): this one is not answered at all.
                raise ChallengeClosed("too many wrong answers to this challenge; ask for a new one")
            if attempts is not None and attempts >= max_attempts:
                still_open = update(Challenge).where(Challenge.id == challenge.id, Challenge.status == "open")
                changed(session, still_open.values(status="closed"))
            outcome = None
            if count:
                counted = core.throttle.device_failed(session, device.id, now)
                locked = core.throttle.answer_failed(session, user.id, now)
                outcome = FailureOutcome(counted.attempts_remaining, counted.device_locked_for, locked)
            detail: dict[str, object] = {
                "purpose": challenge.purpose,
                "mode": challenge.mode,
                "reason": reason,
            }
            if outcome is not None:
                detail["attempts_remaining"] = outcome.attempts_remaining
            core.audit.record(
                session,
                now,
                "challenge.answer",
                actor="user",
                outcome="failed",
                user_id=user.id,
                username=user.username,
                device_id=device.id,
                detail=detail,
            )
            if outcome is not None and outcome.device_locked_for is not None:
                core.audit.record(
                    session,
                    now,
                    "device.locked",
                    actor="system",
                    outcome="locked",
                    user_id=user.id,
                    username=user.username,
                    device_id=device.id,
                    detail={"seconds": outcome.device_locked_for, "serial": device.serial},
                )
            if outcome is not None and outcome.account_locked:
                core.audit.record(
                    session,
                    now,
                    "account.locked",
                    actor="system",
                    outcome="locked",
                    user_id=user.id,
                    username=user.username,
                    detail={"limit": core.config.account_max_failures},
                )
        _log.info("failed answer for a %s (%s)", device.kind, reason)
        if outcome is None:
            return None
        if outcome.account_locked:
            return AccountLocked("too many consecutive second-factor failures; the account is locked")
        if outcome.device_locked_for is not None:
            return DeviceLocked(
                f"device {device.serial} is locked after repeated wrong answers",
                retry_after=outcome.device_locked_for,
            )
        return WrongAnswer("the answer is wrong", attempts_remaining=outcome.attempts_remaining)

    def apply(
        self,
        challenge: Challenge,
        device: Device,
        user: User,
        accepted: Accepted,
        expected_status: str,
        now: float,
        complete: Callable[[Session, Challenge, Device, User, float], _T],
    ) -> _T:
        """Apply a right answer and ``complete`` in one transaction; return what ``complete`` returns.

        Args:
            challenge: the challenge answered.
            device: its device.
            user: who answered.
            accepted: what the verifier accepted (the TOTP step or OCRA counter to move to).
            expected_status: the status the challenge must still have (``open``, or ``approved`` for a push).
            now: the time of the answer.
            complete: the caller's own change, committed with the answer or not at all.

        Raises:
            ReplayedCode: another submission won (audited as ``replayed``).
            ExpiredChallenge: the challenge expired meanwhile.
            PushDenied: the phone denied meanwhile.
            ChallengeClosed: wrong answers of the same burst closed it (audited as ``refused``).
            DeviceLocked: wrong answers of the same burst locked the device (audited as ``refused``).
            AccountLocked: the account was locked meanwhile.
            StorageUnavailable: the outcome could not be stored.
        """
        try:
            return self._apply(challenge, device, user, accepted, expected_status, now, complete)
        except ReplayedCode:
            self._record(challenge, user, now, "challenge.answer", "replayed", {})
            raise
        except (ChallengeClosed, DeviceLocked) as refused:
            self._record(challenge, user, now, "challenge.answer", "refused", {"reason": _reason(refused)})
            raise
        except DBAPIError as e:
            # Right or wrong, an answer whose outcome cannot be stored is not answered.
            raise storage_unavailable(e) from e

    def _apply(
        self,
        challenge: Challenge,
        device: Device,
        user: User,
        accepted: Accepted,
        expected_status: str,
        now: float,
        complete: Callable[[Session, Challenge, Device, User, float], _T],
    ) -> _T:
        core = self._core
        with core.db.write() as session:
            answered = {"challenge_id": challenge.id, "expected": expected_status, "now": now}
            if changed(session, _ANSWERED, answered) != 1:
                raise _not_answered(session, challenge.id, now)
            moved = changed(
                session,
                _device_success(accepted.step is not None, accepted.counter is not None),
                {
                    "device_id": device.id,
                    "now": now,
                    "new_step": accepted.step,
                    "matched": accepted.counter,
                    "next_counter": None if accepted.counter is None else accepted.counter + 1,
                },
            )
            if moved != 1:
                until = session.scalar(select(Device.locked_until).where(Device.id == device.id))
                if until is not None and until > now:
                    # Wrong answers of the same burst locked it: refused as they are, not "replayed".
                    raise DeviceLocked(
                        f"device {device.serial} is locked after repeated wrong answers",
                        retry_after=until - now,
                    )
                raise ReplayedCode("this code was used already")
            if changed(session, _ACCOUNT_SUCCESS, {"user_id": user.id}) != 1:
                raise AccountLocked("the account is locked; contact support")
            core.audit.record(
                session,
                now,
                "challenge.answer",
                actor="user",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device.id,
                detail={"purpose": challenge.purpose, "mode": challenge.mode, "kind": device.kind},
            )
            result = complete(session, challenge, device, user, now)
        return result


def _not_answered(session: Session, challenge_id: str, now: float) -> TokensimError:
    """Why a right answer could not move its challenge to answered (read after the UPDATE matched nothing)."""
    status, expires_at = session.execute(
        select(Challenge.status, Challenge.expires_at).where(Challenge.id == challenge_id)
    ).one()
    if status == "answered":
        return ReplayedCode("this challenge was answered already")
    if status == "denied":
        return PushDenied("the request was denied on the phone")
    if expires_at <= now:
        return ExpiredChallenge("the challenge expired; ask for a new one")
    # Closed, or its attempts taken by wrong answers of the same burst: refused as they are.
    return ChallengeClosed("too many wrong answers to this challenge; ask for a new one")


def _reason(refused: TokensimError) -> str:
    """The audit reason of an answer refused before it counted."""
    return "challenge-closed" if isinstance(refused, ChallengeClosed) else "device-locked"
