"""Challenges: issued to one device, answered at most once, for a login or an activation.

:class:`Challenges` is what the services call. It issues a challenge (the question, the code sent
out of band, the push request) and checks an answer; the expensive and secret-touching part of an
answer (the HMACs, the card lookup) runs here, outside any write transaction. What the answer comes
to is then written once, with conditional UPDATEs, by :class:`~tokensim.server.outcomes.Outcomes`
(whose docstring tells how concurrent answers are settled); a phone's push decisions are taken by
:class:`~tokensim.server.push.Pushes`.

The device helpers (:func:`~tokensim.server.device_rows.device_view`, ``device_state``,
``device_secrets``) live in :mod:`tokensim.server.device_rows`; ``SENDER`` and ``deliver`` in
:mod:`tokensim.server.delivery`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tokensim.protocol.cards import CodeCard
from tokensim.protocol.errors import InvalidCode, InvalidParameter, ReplayedCode
from tokensim.protocol.messages import Challenge as ChallengeMessage
from tokensim.protocol.messages import ChallengeForm, PushDecision, PushRequest
from tokensim.server.carrier import Message, mask_number
from tokensim.server.core import Core
from tokensim.server.delivery import SENDER, deliver
from tokensim.server.device_rows import device_secrets, device_state
from tokensim.server.errors import DeviceUnavailable, LoginExpired, NotFound, PushPending, TooManyAttempts
from tokensim.server.outcomes import Outcomes
from tokensim.server.push import Pushes
from tokensim.server.storage.models import CardCell, Challenge, Device, User
from tokensim.server.verify import (
    Accepted,
    DeviceSecrets,
    check_answer,
    make_question,
    oob_mac,
    policy_for,
    qr_text,
)
from tokensim.server.views import ChallengeView

__all__ = ["Challenges", "Issued"]

_T = TypeVar("_T")


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

    __slots__ = ("_core", "_outcomes", "_pushes")

    def __init__(self, core: Core) -> None:
        self._core = core
        self._outcomes = Outcomes(core)
        self._pushes = Pushes(core, self._outcomes)

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
        row = self._outcomes.load(challenge_id)
        if row is None:
            raise NotFound("no such challenge")
        challenge, device, user, login = row
        if challenge.purpose != purpose or challenge.login_id != login_id:
            raise NotFound("no such challenge")
        if login is not None and login.expires_at <= now:
            raise LoginExpired("this login expired; start again with the password")
        # A finished login is refused by ``complete``, after the challenge's own state: a second
        # submission of the winning answer is reported as a replay.
        self._outcomes.check_state(challenge, device, user, now)
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
                self._outcomes.failed(challenge, device, user, now, count=False, reason="replayed")
                raise
            except InvalidCode:
                error = self._outcomes.failed(challenge, device, user, now, count=True, reason="wrong")
                assert error is not None
                raise error from None
        return self._outcomes.apply(challenge, device, user, accepted, expected_status, now, complete)

    # -- push ----------------------------------------------------------------------------------

    def pending_pushes(self, registration: str) -> list[PushRequest]:
        """Open push requests for the IB Key registration whose serial is ``registration``.

        See :meth:`Pushes.pending_pushes <tokensim.server.push.Pushes.pending_pushes>`.
        """
        return self._pushes.pending_pushes(registration)

    def authenticate_phone(
        self, header: str | None, method: str, path: str, *, registration: str | None = None
    ) -> str:
        """Check a phone's signed request; return its registration.

        See :meth:`Pushes.authenticate_phone <tokensim.server.push.Pushes.authenticate_phone>`.
        """
        return self._pushes.authenticate_phone(header, method, path, registration=registration)

    def decide(self, decision: PushDecision, registration: str | None = None) -> str:
        """Take a phone's signed decision on a push or QR request; return ``approved`` or ``denied``.

        See :meth:`Pushes.decide <tokensim.server.push.Pushes.decide>`.
        """
        return self._pushes.decide(decision, registration)


def _code_text(mode: str, code: str) -> str:
    if mode == "voice":
        return f"This is tokensim. Your security code is {code}. Again, your security code is {code}."
    return f"tokensim: your security code is {code}. It expires in 10 minutes. Never share it."
