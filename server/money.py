"""Money: withdrawals within the limits of the device that answers, what remains of them, deposits.

* **withdrawals** need a fresh answer from a device the user picks (a ``withdrawal`` challenge,
  :meth:`.callers.Callers.step_up`); that device's kind sets the limits per UTC day and per rolling
  window of business days, and the check and the insert run in the transaction that wins the
  answer, holding a per-user lock, so concurrent withdrawals never pass a limit together.
  Opted-out users and users without a device withdraw with the ``none`` limits and no answer;
* **large ACH/EFT deposits** need an SLS device (not SMS, not a temporary passcode); the first
  deposit marks the account funded.

Amounts are plain decimal strings (:data:`AMOUNT_PATTERN`, read by :func:`parse_amount`); the API's
schema declares the same pattern.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from tokensim.protocol.errors import InvalidParameter
from tokensim.server.callers import SessionOperations
from tokensim.server.errors import LimitExceeded, SlsDeviceRequired
from tokensim.server.lifecycle import mark_funded, usable_devices
from tokensim.server.rules import MONEY_KINDS, SLS_KINDS, day_start, limit_for, remaining, window_start
from tokensim.server.storage.models import Challenge, Deposit, Device, User, Withdrawal
from tokensim.server.views import DepositReceipt, Remaining, WithdrawalReceipt

__all__ = ["AMOUNT_PATTERN", "DEPOSIT_METHODS", "Money", "parse_amount"]

#: A positive USD amount as a plain decimal string: ASCII digits, no sign, exponent, separator or
#: space, at most two decimals, below 10**15 ("5", "5.00", "0.01"; not "0", "+5", "1_000", "1e3").
AMOUNT_PATTERN = r"^(?:[1-9][0-9]{0,14}(?:\.[0-9]{1,2})?|0\.(?:0[1-9]|[1-9][0-9]?))$"

#: How money comes in; ACH and EFT beyond the threshold need an SLS device.
DEPOSIT_METHODS = ("ach", "eft", "wire", "check")
_CENT = Decimal("0.01")
#: Amounts fit the database's NUMERIC(20, 2) with room for sums.
_MOST = Decimal(10) ** 15


def _usd(value: object) -> Decimal:
    return Decimal(str(value)).quantize(_CENT)


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount.quantize(_CENT))


def parse_amount(text: str) -> Decimal:
    """A positive USD amount with at most two decimals.

    Raises:
        InvalidParameter: not such an amount.
    """
    # Decimal() alone would take "1_000", " 5", "+5", "1e3", "NaN" and non-ASCII digits.
    if not isinstance(text, str) or not re.fullmatch(AMOUNT_PATTERN, text):
        raise InvalidParameter(
            "amount_usd must be a plain decimal amount such as '2500.00' (ASCII digits, at most two"
            " decimals, no sign, exponent, separator or space), positive and below 10**15"
        )
    try:
        amount = Decimal(text)
        ok = amount.is_finite() and 0 < amount < _MOST and amount == amount.quantize(_CENT)
    except (InvalidOperation, TypeError, ValueError) as e:
        raise InvalidParameter("amount_usd must be a decimal amount such as '2500.00'") from e
    if not ok:
        raise InvalidParameter("amount_usd must be positive, below 10**15, with at most two decimals")
    return amount


class Money(SessionOperations):
    """Withdrawals, their limits and deposits of logged-in users."""

    __slots__ = ()

    def withdraw(
        self, token: str, amount_usd: str, *, challenge_id: str | None = None, answer: str | None = None
    ) -> WithdrawalReceipt:
        """Withdraw, authorised by the answer to a ``withdrawal`` challenge (or by nothing).

        Without a challenge only an opted-out user, or a user with no device that could answer,
        withdraws, within the ``none`` limits.

        Raises:
            InvalidParameter: a malformed amount, or an answer without a challenge.
            TemporaryAccess: the session came from a temporary passcode.
            SlsDeviceRequired: no challenge, though the user has a device that must answer.
            LimitExceeded: over the device's daily or window limit (``extra`` says what remains).
            WrongAnswer, ReplayedCode, ExpiredChallenge, ...: as for any answer.
        """
        amount = parse_amount(amount_usd)
        caller = self.caller(token)
        self._not_temporary(caller)
        core = self._core
        if challenge_id is None:
            if answer is not None:
                raise InvalidParameter("an answer needs its challenge_id")
            now = core.clock.now()
            with core.db.read() as session:
                devices = usable_devices(session, caller.user.id, now)
            if caller.user.sls_opted_out_at is None and any(d.kind in MONEY_KINDS for d, _ in devices):
                raise SlsDeviceRequired("answer a withdrawal challenge from one of your devices")
            with core.db.write() as session:
                return self._record_withdrawal(session, caller.user, None, amount, now)
        self._own_challenge(challenge_id, caller, "withdrawal")

        def complete(
            session: DbSession, _challenge: Challenge, device: Device, user: User, now: float
        ) -> WithdrawalReceipt:
            return self._record_withdrawal(session, user, device, amount, now)

        return self._challenges.answer(challenge_id, answer, purpose="withdrawal", complete=complete)

    def _lock_user(self, session: DbSession, user_id: str) -> None:
        # PostgreSQL: concurrent withdrawals of one user queue here until the first commits, so each
        # sums what the others wrote. SQLite's write transactions are serialized already.
        session.execute(select(User.id).where(User.id == user_id).with_for_update())

    def _used(self, session: DbSession, user_id: str, since: float) -> Decimal:
        total = session.scalar(
            select(func.coalesce(func.sum(Withdrawal.amount_usd), 0)).where(
                Withdrawal.user_id == user_id, Withdrawal.created_at >= since
            )
        )
        return _usd(total)

    def _remaining(self, session: DbSession, user_id: str, kind: str, now: float) -> Remaining:
        config = self._core.config
        limit = limit_for(kind, config.withdrawal_limits)
        day = self._used(session, user_id, day_start(now))
        window = self._used(session, user_id, window_start(now, config.withdrawal_business_days))
        return Remaining(
            device_kind=kind,
            per_day_usd=_text(limit.per_day),
            per_window_usd=_text(limit.per_window),
            remaining_day_usd=_text(remaining(limit.per_day, day)),
            remaining_window_usd=_text(remaining(limit.per_window, window)),
        )

    def _record_withdrawal(
        self, session: DbSession, user: User, device: Device | None, amount: Decimal, now: float
    ) -> WithdrawalReceipt:
        core = self._core
        kind = "none" if device is None else device.kind
        self._lock_user(session, user.id)
        before = self._remaining(session, user.id, kind, now)
        for left in (before.remaining_day_usd, before.remaining_window_usd):
            if left is not None and amount > Decimal(left):
                core.audit.record(
                    session,
                    now,
                    "withdrawal",
                    actor="user",
                    outcome="refused",
                    user_id=user.id,
                    username=user.username,
                    device_id=None if device is None else device.id,
                    detail={"amount_usd": str(amount), "kind": kind},
                )
                raise LimitExceeded(
                    f"over the {kind} withdrawal limit", extra={"remaining": before.to_json()}
                )
        withdrawal_id = core.new_id()
        session.add(
            Withdrawal(
                id=withdrawal_id,
                user_id=user.id,
                device_id=None if device is None else device.id,
                device_kind=kind,
                amount_usd=amount,
                created_at=now,
            )
        )
        session.flush()
        core.audit.record(
            session,
            now,
            "withdrawal",
            actor="user",
            outcome="ok",
            user_id=user.id,
            username=user.username,
            device_id=None if device is None else device.id,
            detail={"amount_usd": str(amount), "kind": kind},
        )
        after = self._remaining(session, user.id, kind, now)
        return WithdrawalReceipt(withdrawal_id, str(amount), kind, now, after)

    def limits(self, token: str) -> list[Remaining]:
        """What remains of the limits of each device kind the user may authorise withdrawals with."""
        caller = self.caller(token)
        now = self._core.clock.now()
        with self._core.db.read() as session:
            kinds = sorted(
                {d.kind for d, _ in usable_devices(session, caller.user.id, now)} & set(MONEY_KINDS)
            )
            if caller.user.sls_opted_out_at is not None or not kinds:
                kinds.insert(0, "none")
            return [self._remaining(session, caller.user.id, kind, now) for kind in kinds]

    # -- deposits ------------------------------------------------------------------------------

    def _has_sls_device(self, session: DbSession, user_id: str, now: float) -> bool:
        return any(d.kind in SLS_KINDS for d, _ in usable_devices(session, user_id, now))

    def deposit(self, token: str, amount_usd: str, method: str) -> DepositReceipt:
        """Record a deposit; ACH and EFT beyond ``sls_deposit_threshold_usd`` in total need an SLS device.

        The first deposit marks the account funded (a new account's online card lasts from then).

        Raises:
            InvalidParameter: a malformed amount or an unknown method.
            SlsDeviceRequired: ACH/EFT over the threshold without an SLS device.
        """
        amount = parse_amount(amount_usd)
        if method not in DEPOSIT_METHODS:
            raise InvalidParameter(f"method must be one of {', '.join(DEPOSIT_METHODS)}")
        caller = self.caller(token)
        core = self._core
        now = core.clock.now()
        with core.db.write() as session:
            self._lock_user(session, caller.user.id)
            total = _usd(
                session.scalar(
                    select(func.coalesce(func.sum(Deposit.amount_usd), 0)).where(
                        Deposit.user_id == caller.user.id, Deposit.method.in_(("ach", "eft"))
                    )
                )
            )
            if method in ("ach", "eft"):
                total += amount
                if total > core.config.sls_deposit_threshold_usd and not self._has_sls_device(
                    session, caller.user.id, now
                ):
                    limit = core.config.sls_deposit_threshold_usd
                    raise SlsDeviceRequired(f"ACH/EFT deposits beyond {limit} USD need an SLS device")
            deposit_id = core.new_id()
            session.add(
                Deposit(
                    id=deposit_id, user_id=caller.user.id, method=method, amount_usd=amount, created_at=now
                )
            )
            core.audit.record(
                session,
                now,
                "deposit",
                actor="user",
                outcome="ok",
                user_id=caller.user.id,
                username=caller.user.username,
                detail={"amount_usd": str(amount), "method": method},
            )
            user = session.get(User, caller.user.id)
            assert user is not None
            mark_funded(core, session, user, now, actor="user")
        return DepositReceipt(deposit_id, str(amount), method, now, str(total))
