"""Challenges: issued to one device, answered at most once, for a login or an activation.

The expensive and secret-touching part of an answer (the HMACs, the card lookup) runs outside any
write transaction; then one write transaction applies the outcome with conditional UPDATEs:

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

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from tokensim.protocol.cards import CodeCard
from tokensim.protocol.errors import (
    DeviceLocked,
    ExpiredChallenge,
    InvalidCode,
    InvalidParameter,
    ReplayedCode,
    TokensimError,
)
from tokensim.protocol.messages import Challenge as ChallengeMessage
from tokensim.protocol.messages import ChallengeForm, PushDecision, PushRequest
from tokensim.protocol.phone_auth import AUTH_SCHEME, REQUEST_WINDOW, RequestAuth, request_signing_bytes
from tokensim.server.carrier import Message, mask_number
from tokensim.server.core import Core
from tokensim.server.errors import (
    AccountLocked,
    ChallengeClosed,
    DeliveryFailed,
    DeviceUnavailable,
    LoginExpired,
    NotFound,
    PushDenied,
    PushPending,
    TooManyAttempts,
    Unauthorized,
    WrongAnswer,
)
from tokensim.server.rules import LEGACY_KINDS
from tokensim.server.storage.db import Prepared, PreparedLoad, changed
from tokensim.server.storage.models import CardCell, Challenge, Device, Login, User
from tokensim.server.throttle import FailureOutcome, storage_unavailable
from tokensim.server.verify import (
    Accepted,
    DeviceSecrets,
    DeviceState,
    check_answer,
    check_push_decision,
    load_public_key,
    make_question,
    oob_mac,
    policy_for,
    qr_text,
)
from tokensim.server.views import ChallengeView, DeviceView

__all__ = ["SENDER", "Challenges", "Issued", "deliver", "device_secrets", "device_state", "device_view"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Who texts and calls appear to come from.
SENDER = "tokensim"

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
#: A phone's decision moves an open push or QR request to ``approved`` or ``denied``, once, before it expires.
_DECIDED = Prepared(
    update(Challenge)
    .where(
        Challenge.id == bindparam("challenge_id"),
        Challenge.status == "open",
        Challenge.expires_at > bindparam("now"),
    )
    .values(status=bindparam("status"))
)
#: An IB Key registration, found by its serial, to check a phone's signed request.
_PHONE = PreparedLoad(select(Device).where(Device.serial == bindparam("serial")))
#: A phone's signed request is taken once: its time must be later than the last one taken.
_REQUEST_TIME = Prepared(
    update(Device)
    .where(
        Device.id == bindparam("device_id"),
        or_(Device.request_time.is_(None), Device.request_time < bindparam("time_ms")),
    )
    .values(request_time=bindparam("time_ms"))
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


def device_view(device: Device, *, owner: str | None = None) -> DeviceView:
    """The public view of a device row (``owner``: the owner's username, for a shared device)."""
    return DeviceView(
        id=device.id,
        kind=device.kind,
        serial=device.serial,
        label=device.label,
        status=device.status,
        number=device.number,
        issued_at=device.issued_at,
        expires_at=device.expires_at,
        activated_at=device.activated_at,
        locked_until=device.locked_until,
        activate_by=device.activate_by,
        condition=device.condition,
        owner=owner,
        legacy=device.kind in LEGACY_KINDS,
    )


def deliver(core: Core, message: Message, *, user_id: str, username: str, device_id: str) -> None:
    """Hand a text or call to the carrier; a failure is audited and becomes :class:`DeliveryFailed`.

    Raises:
        DeliveryFailed: the carrier raised.
    """
    try:
        core.carrier.send(message)
    except Exception as e:  # any gateway failure: the user must be told, never a 500
        _log.warning("carrier failed to send a %s: %s", message.channel, type(e).__name__)
        with core.db.write() as session:
            core.audit.record(
                session,
                core.clock.now(),
                "carrier.send",
                actor="system",
                outcome="failed",
                user_id=user_id,
                username=username,
                device_id=device_id,
                detail={"channel": message.channel, "error": type(e).__name__},
            )
        raise DeliveryFailed(f"the {message.channel} could not be sent; ask again or use another way") from e


def device_state(device: Device) -> DeviceState:
    """The verifier's view of a device row."""
    return DeviceState(
        kind=device.kind,
        suite=device.suite,
        digits=device.digits,
        step=device.step,
        algorithm=device.algorithm,
        counter=device.counter,
        last_step=device.last_step,
    )


def device_secrets(core: Core, device: Device) -> DeviceSecrets:
    """Open a device's sealed secrets (none for a device that holds none yet)."""
    if device.secrets is None:
        return DeviceSecrets()
    return DeviceSecrets.from_bytes(core.keys.open(device.secrets, "devices", device.id, "secrets"))


@dataclass(frozen=True, slots=True)
class Issued:
    """A challenge that was stored, and what it was for.

    Attributes:
        view: what the caller shows.
        device_id: the device asked.
    """

    view: ChallengeView
    device_id: str


class Challenges:
    """Issues challenges, takes answers and push decisions.

    Args:
        core: the shared parts.
    """

    __slots__ = ("_core",)

    def __init__(self, core: Core) -> None:
        self._core = core

    # -- issuing -------------------------------------------------------------------------------

    def issue(
        self,
        device_id: str,
        *,
        purpose: str,
        mode: str | None = None,
        login_id: str | None = None,
        origin: str = "",
        platform: str = "",
        user_id: str | None = None,
        sealed: DeviceSecrets | None = None,
    ) -> Issued:
        """Make and store a challenge for one device; send its code if it is out of band.

        Args:
            device_id: the device.
            purpose: ``activation`` (the device must be pending) or what the answer is for, such as
                ``login`` or ``withdrawal`` (the device must be active); at most 16 characters.
            mode: how it answers; the kind's default when ``None``.
            login_id: the login it belongs to.
            origin: where the login came from, shown on a push.
            platform: what the login is for, shown on a push.
            user_id: who answers, when not the device's owner (a shared device); their account's
                failure counter counts the wrong answers.
            sealed: secrets to check the answer with instead of the device's (a PIN change).

        Raises:
            NotFound: no such device.
            DeviceUnavailable: the device is in the wrong state or expired.
            DeviceLocked: the device is locked.
            AccountLocked: the account is locked.
            InvalidParameter: the device does not answer in ``mode``.
            TooManyAttempts: an SMS or voice code sent less than ``sms_resend_interval`` ago is still open.
        """
        core = self._core
        now = core.clock.now()
        with core.db.read() as session:
            device = session.get(Device, device_id)
            if device is None:
                raise NotFound("no such device")
            user = session.get(User, device.user_id if user_id is None else user_id)
            if user is None:
                raise NotFound("no such user")
            # A push goes to the registration's own user, even when another user answers with it.
            holder = user if user.id == device.user_id else session.get(User, device.user_id)
            assert holder is not None
            used = frozenset(session.scalars(select(CardCell.cell).where(CardCell.device_id == device_id)))
            chosen_mode = policy_for(device.kind).modes[0] if mode is None else mode
            if chosen_mode in ("sms", "voice"):
                self._check_resend(session, device, now)
        self._check_usable(device, user, purpose, now)
        secrets = device_secrets(core, device)
        strict = core.config.card_strict and chosen_mode == "grid"
        if strict and CodeCard(secrets.secret).cells - len(used) < 2:
            raise DeviceUnavailable(f"every cell of card {device.serial} has been used; issue a new card")
        question = make_question(
            device_state(device),
            chosen_mode,
            core.rng,
            secrets=secrets,
            used_cells=used if strict else frozenset(),
        )
        challenge_id = core.new_id()
        ttl = {
            ChallengeForm.OOB: core.config.oob_ttl,
            ChallengeForm.PUSH: core.config.push_ttl,
        }.get(question.form, core.config.challenge_ttl)
        expires_at = now + ttl
        request: PushRequest | None = None
        if question.form is ChallengeForm.PUSH:
            details = {"platform": platform} if platform else {}
            if holder is not user:
                details["for_user"] = user.username
            request = PushRequest(
                id=challenge_id,
                username=holder.username,
                action=purpose,
                origin=origin or "unknown",
                nonce=core.rng.randbytes(16).hex(),
                expires_at=expires_at,
                details=details,
            )
        row = Challenge(
            id=challenge_id,
            user_id=user.id,
            device_id=device.id,
            login_id=login_id,
            purpose=purpose,
            form=question.form.value,
            mode=question.mode,
            question=question.question,
            indices=",".join(str(i) for i in question.indices) or None,
            push_request=None if request is None else json.dumps(request.to_json(), sort_keys=True),
            code_mac=None if question.code is None else oob_mac(core.oob_key, challenge_id, question.code),
            status="open",
            attempts=0,
            created_at=now,
            expires_at=expires_at,
        )
        if sealed is not None:
            row.sealed = core.keys.seal(sealed.to_bytes(), "challenges", challenge_id, "sealed")
        try:
            self._store(row, question.indices if strict else (), user, device, purpose, now)
        except IntegrityError as e:
            # Strict cards: another login took one of these cells a moment ago.
            raise DeviceUnavailable("a cell of this card was just asked elsewhere; ask again") from e
        sent_to = None
        if question.code is not None:
            assert device.number is not None
            outgoing = Message(device.number, question.mode, SENDER, _code_text(question.mode, question.code))
            deliver(core, outgoing, user_id=user.id, username=user.username, device_id=device.id)
            sent_to = mask_number(device.number)
        message = ChallengeMessage(
            id=challenge_id,
            device=device.id,
            form=question.form,
            expires_at=expires_at,
            question=question.question,
            indices=question.indices,
            channel=question.mode if question.form is ChallengeForm.OOB else None,
            request=request,
        )
        view = ChallengeView(
            challenge=message,
            mode=question.mode,
            qr=qr_text(request) if request is not None and question.mode == "qr" else None,
            sent_to=sent_to,
        )
        return Issued(view, device.id)

    def _store(
        self, row: Challenge, cells: tuple[int, ...], user: User, device: Device, purpose: str, now: float
    ) -> None:
        core = self._core
        with core.db.write() as session:
            session.add(row)
            # The primary key refuses a cell asked twice (strict cards), even by two processes at once.
            session.add_all(CardCell(device_id=device.id, cell=cell) for cell in cells)
            core.audit.record(
                session,
                now,
                "challenge.issued",
                actor="user",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device.id,
                detail={"purpose": purpose, "mode": row.mode, "kind": device.kind},
            )

    def _check_resend(self, session: Session, device: Device, now: float) -> None:
        # A new code only when the last one was used or is two minutes old (SLS: "a new SMS may only be
        # requested every 2 minutes"); voice is the fallback once that time has passed.
        last = session.scalar(
            select(Challenge.created_at)
            .where(
                Challenge.device_id == device.id,
                Challenge.mode.in_(("sms", "voice")),
                Challenge.status == "open",
            )
            .order_by(Challenge.created_at.desc())
            .limit(1)
        )
        interval = self._core.config.sms_resend_interval
        if last is not None and now - last < interval:
            raise TooManyAttempts(
                "a code was sent less than two minutes ago; use it, or ask again later",
                retry_after=last + interval - now,
            )

    def _check_usable(self, device: Device, user: User, purpose: str, now: float) -> None:
        wanted = "pending" if purpose == "activation" else "active"
        if device.status != wanted:
            raise DeviceUnavailable(f"device {device.serial} is {device.status}, not {wanted}")
        if device.expires_at is not None and device.expires_at <= now:
            raise DeviceUnavailable(f"device {device.serial} expired")
        self._core.throttle.check_account(user)
        self._core.throttle.check_device(device, now)

    # -- answering -----------------------------------------------------------------------------

    def answer(
        self,
        challenge_id: str,
        answer: str | None,
        *,
        purpose: str,
        complete: Callable[[Session, Challenge, Device, User, float], _T],
        login_id: str | None = None,
    ) -> _T:
        """Check an answer and, if right, apply it and ``complete`` in one transaction.

        Args:
            challenge_id: the challenge.
            answer: what the user typed; ``None`` for a push, whose answer is the phone's decision.
            purpose: the challenge must be for this.
            complete: called inside the winning transaction; its result is returned.
            login_id: the challenge must belong to this login.

        Raises:
            NotFound: no such challenge (for this login and purpose).
            ExpiredChallenge: too late.
            ReplayedCode: answered already, or a TOTP step used already.
            ChallengeClosed: too many wrong answers to this challenge.
            PushPending: the phone has not decided yet.
            PushDenied: the phone denied.
            WrongAnswer: the answer is wrong (``attempts_remaining`` says how many more the device takes).
            DeviceLocked: the device is locked (or this wrong answer locked it).
            AccountLocked: the account is locked (or this wrong answer locked it).
        """
        core = self._core
        now = core.clock.now()
        row = _LOAD.one_or_none(core.db, {"id": challenge_id})
        if row is None:
            raise NotFound("no such challenge")
        challenge: Challenge = row[0]
        device: Device = row[1]
        user: User = row[2]
        login: Login | None = row[3]
        if challenge.purpose != purpose or challenge.login_id != login_id:
            raise NotFound("no such challenge")
        if login is not None and login.expires_at <= now:
            raise LoginExpired("this login expired; start again with the password")
        # A finished login is refused by ``complete``, after the challenge's own state: a second
        # submission of the winning answer is reported as a replay.
        self._check_state(challenge, device, user, now)
        expected_status = "open"
        accepted = Accepted()
        if challenge.form == ChallengeForm.PUSH.value:
            if challenge.status == "open":
                raise PushPending("waiting for the phone", retry_after=1.0)
            expected_status = "approved"
        else:
            if answer is None:
                raise InvalidParameter("this challenge needs an answer")
            secrets = device_secrets(core, device)
            if challenge.sealed is not None:
                raw = core.keys.open(challenge.sealed, "challenges", challenge.id, "sealed")
                secrets = DeviceSecrets.from_bytes(raw)
            try:
                accepted = check_answer(
                    device_state(device),
                    secrets,
                    mode=challenge.mode,
                    answer=answer,
                    now=now,
                    config=core.config,
                    question=challenge.question,
                    indices=tuple(int(i) for i in challenge.indices.split(",")) if challenge.indices else (),
                    challenge_id=challenge.id,
                    code_mac=challenge.code_mac,
                    mac_key=core.oob_key,
                    hasher=core.hasher,
                )
            except ReplayedCode:
                self._failed(challenge, device, user, now, count=False, reason="replayed")
                raise
            except InvalidCode:
                error = self._failed(challenge, device, user, now, count=True, reason="wrong")
                assert error is not None
                raise error from None
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

    def _check_state(self, challenge: Challenge, device: Device, user: User, now: float) -> None:
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

    def _failed(
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

    # -- push ----------------------------------------------------------------------------------

    def pending_pushes(self, registration: str) -> list[PushRequest]:
        """Open push requests for the IB Key registration whose serial is ``registration``."""
        core = self._core
        now = core.clock.now()
        with core.db.read() as session:
            rows = session.scalars(
                select(Challenge)
                .join(Device, Device.id == Challenge.device_id)
                .where(
                    Device.serial == registration,
                    Device.status == "active",
                    Challenge.mode == "push",
                    Challenge.status == "open",
                    Challenge.expires_at > now,
                )
                .order_by(Challenge.created_at)
            )
            return [PushRequest.from_json(json.loads(row.push_request or "{}")) for row in rows]

    def authenticate_phone(
        self, header: str | None, method: str, path: str, *, registration: str | None = None
    ) -> str:
        """Check a phone's signed request (:mod:`tokensim.protocol.phone_auth`); return its registration.

        The signature must verify with the active registration's key, its time be within
        :data:`~tokensim.protocol.phone_auth.REQUEST_WINDOW` of the server's clock and later than the
        registration's last accepted request (moved forward here, atomically, so a request is taken
        once even when copies race). Nothing else changes: no counter, no challenge.

        Raises:
            Unauthorized: no or a malformed header, an unknown or inactive registration, a signature
                that does not verify, a time out of the window, or a replayed request.
        """
        if header is None:
            raise Unauthorized(f"send 'Authorization: {AUTH_SCHEME} ...' signed with the registration key")
        try:
            auth = RequestAuth.parse(header)
            signed = request_signing_bytes(method, path, auth.registration, auth.time_ms)
        except InvalidParameter as e:
            raise Unauthorized(str(e)) from None
        if registration is not None and auth.registration != registration:
            raise Unauthorized("the request is signed by another registration than the one it names")
        core = self._core
        now = core.clock.now()
        row = _PHONE.one_or_none(core.db, {"serial": auth.registration})
        device: Device | None = None if row is None else row[0]
        refused = "the request is not signed by an active IB Key registration"
        if (
            device is None
            or device.kind != "ib-key"
            or device.status != "active"
            or device.public_key is None
        ):
            raise Unauthorized(refused)
        try:
            load_public_key(device.public_key).verify(auth.signature, signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise Unauthorized(refused) from None
        if abs(auth.time_ms / 1000 - now) > REQUEST_WINDOW:
            raise Unauthorized(
                f"the request's time is more than {REQUEST_WINDOW:.0f} s from the server's clock"
            )
        with core.db.write() as session:
            if _REQUEST_TIME.run(session, {"device_id": device.id, "time_ms": auth.time_ms}) != 1:
                raise Unauthorized("replayed request: its time is not later than the last one taken")
        return auth.registration

    def decide(self, decision: PushDecision, registration: str | None = None) -> str:
        """Take a phone's signed decision on a push or QR request; return ``approved`` or ``denied``.

        Args:
            decision: the decision.
            registration: the registration that signed the request carrying it
                (:meth:`authenticate_phone`); ``None`` when the caller checked nothing (in-process).

        A signature that does not verify is refused and audited; it counts against nothing (no
        device failure, no challenge attempt): only the registration's key can make one that does.

        Raises:
            Unauthorized: the decision is signed for another registration than the request's
                signer, or its signature does not verify.
            NotFound: no such request for that registration.
            ExpiredChallenge: too late.
            ReplayedCode: the request was decided already.
            DeviceLocked: the device is locked.
        """
        core = self._core
        now = core.clock.now()
        if registration is not None and decision.key_id != registration:
            raise Unauthorized("the decision's key_id is not the registration that signed the request")
        row = _LOAD.one_or_none(core.db, {"id": decision.request_id})
        if row is None:
            raise NotFound("no such request for this registration")
        challenge: Challenge = row[0]
        device: Device = row[1]
        user: User = row[2]
        if challenge.push_request is None or device.serial != decision.key_id or device.public_key is None:
            raise NotFound("no such request for this registration")
        if challenge.status in ("approved", "denied", "answered"):
            raise ReplayedCode("this request was decided already")
        self._check_state(challenge, device, user, now)
        request = PushRequest.from_json(json.loads(challenge.push_request))
        try:
            check_push_decision(device.public_key, request, decision)
        except InvalidCode:
            with core.db.write() as session:
                core.audit.record(
                    session,
                    now,
                    "push.decision",
                    actor="device",
                    outcome="bad-signature",
                    user_id=user.id,
                    username=user.username,
                    device_id=device.id,
                    detail={"mode": challenge.mode},
                )
            raise Unauthorized("the decision's signature does not verify with the registration key") from None
        status = "approved" if decision.approved else "denied"
        with core.db.write() as session:
            if _DECIDED.run(session, {"challenge_id": challenge.id, "now": now, "status": status}) != 1:
                raise ReplayedCode("this request was decided already")
            core.audit.record(
                session,
                now,
                "push.decision",
                actor="device",
                outcome=status,
                user_id=user.id,
                username=user.username,
                device_id=device.id,
                detail={"mode": challenge.mode},
            )
        return status


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


def _code_text(mode: str, code: str) -> str:
    if mode == "voice":
        return f"This is tokensim. Your security code is {code}. Again, your security code is {code}."
    return f"tokensim: your security code is {code}. It expires in 10 minutes. Never share it."
