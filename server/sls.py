"""The Secure Login System rules a logged-in user meets: money, settings, sharing, devices, IB Key.

Every operation here starts from a session token (what the user's login was allowed to do) or,
for the IB Key app on a new phone, from a username and password. The rules themselves:

* **withdrawals** need a fresh answer from a device the user picks (a ``withdrawal`` challenge);
  that device's kind sets the limits per UTC day and per rolling window of business days, and the
  check and the insert run in the transaction that wins the answer, holding a per-user lock, so
  concurrent withdrawals never pass a limit together. Opted-out users and users without a device
  withdraw with the ``none`` limits and no answer;
* **bank instructions, email and large ACH/EFT deposits** need an SLS device (not SMS, not a
  temporary passcode);
* **opt-out and opt-in**, IP restrictions and penny-stock permission are the primary user's;
  some jurisdictions cannot opt out; penny stocks need IP restrictions when opted out;
* **sharing** a device: same entity or same identification data, no temporary device on either
  side, only a device at least as strong as the requester's; the requester proves the owner's
  password and answers the owner's device;
* **devices**: the online card (from a card-printing or portal session), a user's own activation
  and reactivation by answering, a DSC+ request (balance threshold), a DSC+ PIN change answered
  with the current PIN and then with the new one, and the IB Key app's migration, recovery and PIN
  change.

A session opened with a temporary passcode cannot move money or change information.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session as DbSession

from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.provisioning import DeviceKind
from tokensim.server.accounts import Accounts
from tokensim.server.carrier import Message, mask_number
from tokensim.server.challenges import SENDER, Challenges, deliver, device_secrets, device_view
from tokensim.server.core import Core
from tokensim.server.errors import (
    DeviceUnavailable,
    InsufficientScope,
    IpRestrictionsRequired,
    LimitExceeded,
    NotEligible,
    NotFound,
    NotPrimaryUser,
    OptOutNotAllowed,
    SharingRefused,
    SlsDeviceRequired,
    TemporaryAccess,
)
from tokensim.server.lifecycle import check_password, is_usable_by, mark_funded, usable_devices
from tokensim.server.login import current_session
from tokensim.server.rules import (
    LEGACY_KINDS,
    MONEY_KINDS,
    PHONE_OSES,
    PHYSICAL_KINDS,
    SHARE_RANK,
    SLS_KINDS,
    TEMPORARY_KINDS,
    day_start,
    limit_for,
    remaining,
    window_start,
)
from tokensim.server.storage.db import changed
from tokensim.server.storage.models import Challenge, Deposit, Device, DeviceShare, User, Withdrawal
from tokensim.server.verify import TEMPORARY_KIND, DeviceSecrets
from tokensim.server.views import (
    ChallengeView,
    DepositReceipt,
    DeviceView,
    Enrollment,
    MigrationStarted,
    Remaining,
    SecuritySettings,
    WithdrawalReceipt,
)

__all__ = [
    "ACTIONS",
    "AMOUNT_PATTERN",
    "DEPOSIT_METHODS",
    "Caller",
    "Sls",
    "parse_amount",
]

#: A positive USD amount as a plain decimal string: ASCII digits, no sign, exponent, separator or
#: space, at most two decimals, below 10**15 ("5", "5.00", "0.01"; not "0", "+5", "1_000", "1e3").
AMOUNT_PATTERN = r"^(?:[1-9][0-9]{0,14}(?:\.[0-9]{1,2})?|0\.(?:0[1-9]|[1-9][0-9]?))$"

#: What a step-up answer is asked for (the challenge's purpose), and which device kinds may give it.
ACTIONS = {"withdrawal": MONEY_KINDS, "bank": SLS_KINDS, "email": SLS_KINDS}
#: How money comes in; ACH and EFT beyond the threshold need an SLS device.
DEPOSIT_METHODS = ("ach", "eft", "wire", "check")
_CENT = Decimal("0.01")
#: Amounts fit the database's NUMERIC(20, 2) with room for sums.
_MOST = Decimal(10) ** 15
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,188}\.[A-Za-z]{2,24}")
_PIN = re.compile(r"[0-9]{4}")


@dataclass(frozen=True, slots=True)
class Caller:
    """The user behind a session token.

    Attributes:
        user: the user row (as read at the start of the call).
        scope: what the session may do.
        device_kind: the kind of the device the login used (``None`` without one).
    """

    user: User
    scope: tuple[str, ...]
    device_kind: str | None


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


class Sls:
    """The Secure Login System operations of logged-in users and of the IB Key app.

    Args:
        core: the shared parts.
        challenges: issues and checks challenges.
        accounts: enrollment and activation.
    """

    __slots__ = ("_accounts", "_challenges", "_core")

    def __init__(self, core: Core, challenges: Challenges, accounts: Accounts) -> None:
        self._core = core
        self._challenges = challenges
        self._accounts = accounts

    # -- sessions ------------------------------------------------------------------------------

    def caller(self, token: str, *, needs: Sequence[str] = ("portal",)) -> Caller:
        """The user of a session whose scope holds one of ``needs``.

        Raises:
            Unauthorized: unknown, ended or expired token.
            InsufficientScope: the scope holds none of ``needs``.
        """
        # One read of the session, its user and device, checked against their current state.
        current = current_session(self._core, token)
        scope = current.scope
        if not set(needs) & set(scope):
            raise InsufficientScope(f"this session may do {', '.join(scope) or 'nothing'}; not this")
        return Caller(current.user, scope, None if current.device is None else current.device.kind)

    def _not_temporary(self, caller: Caller) -> None:
        if caller.device_kind == TEMPORARY_KIND:
            raise TemporaryAccess(
                "not with a temporary passcode: print the online card or reactivate your device first"
            )

    def _primary(self, caller: Caller) -> None:
        if not caller.user.primary_user:
            raise NotPrimaryUser("only the account's primary user changes security settings")

    # -- step-up answers -----------------------------------------------------------------------

    def step_up(self, token: str, device_id: str, action: str, *, mode: str | None = None) -> ChallengeView:
        """A fresh challenge for ``action`` (``withdrawal``, ``bank`` or ``email``) on a chosen device.

        Raises:
            InvalidParameter: an unknown action or mode.
            TemporaryAccess: the session came from a temporary passcode.
            DeviceUnavailable: not one of the user's (or shared with them) active devices.
            SlsDeviceRequired: the device's kind cannot authorise the action.
        """
        kinds = ACTIONS.get(action)
        if kinds is None:
            raise InvalidParameter(f"action must be one of {', '.join(ACTIONS)}")
        caller = self.caller(token)
        self._not_temporary(caller)
        with self._core.db.read() as session:
            device = session.get(Device, device_id)
            usable = device is not None and is_usable_by(session, device, caller.user.id)
        if device is None or not usable:
            raise DeviceUnavailable("not one of this user's devices")
        if device.kind not in kinds:
            raise SlsDeviceRequired(f"a {device.kind} cannot authorise a {action} change")
        return self._challenges.issue(device_id, purpose=action, mode=mode, user_id=caller.user.id).view

    def _own_challenge(self, challenge_id: str, caller: Caller, purpose: str) -> Challenge:
        with self._core.db.read() as session:
            challenge = session.get(Challenge, challenge_id)
        if challenge is None or challenge.user_id != caller.user.id or challenge.purpose != purpose:
            raise NotFound("no such challenge")
        return challenge

    # -- withdrawals ---------------------------------------------------------------------------

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

    # -- deposits and account changes ----------------------------------------------------------

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

    def change_email(self, token: str, email: str, challenge_id: str, answer: str | None) -> SecuritySettings:
        """Change the email address, authorised by an ``email`` challenge answered by an SLS device.

        Raises:
            InvalidParameter: not an email address.
            TemporaryAccess: the session came from a temporary passcode.
        """
        if not _EMAIL.fullmatch(email):
            raise InvalidParameter("email must look like name@example.com")
        return self._change(token, "email", {"email": email}, challenge_id, answer)

    def change_bank_instructions(
        self, token: str, instructions: str, challenge_id: str, answer: str | None
    ) -> SecuritySettings:
        """Replace the bank instructions (kept sealed), authorised by a ``bank`` challenge.

        Raises:
            InvalidParameter: empty instructions.
            TemporaryAccess: the session came from a temporary passcode.
        """
        if not instructions.strip():
            raise InvalidParameter("bank instructions are empty")
        return self._change(token, "bank", {"bank_instructions": instructions}, challenge_id, answer)

    def _change(
        self, token: str, purpose: str, values: dict[str, str], challenge_id: str, answer: str | None
    ) -> SecuritySettings:
        caller = self.caller(token)
        self._not_temporary(caller)
        self._own_challenge(challenge_id, caller, purpose)
        core = self._core

        def complete(session: DbSession, _c: Challenge, device: Device, user: User, now: float) -> None:
            if device.kind not in SLS_KINDS:
                raise SlsDeviceRequired(f"a {device.kind} cannot authorise this change")
            stored: dict[str, object] = dict(values)
            if "bank_instructions" in values:
                raw = values["bank_instructions"].encode()
                stored["bank_instructions"] = core.keys.seal(raw, "users", user.id, "bank_instructions")
            changed(session, update(User).where(User.id == user.id).values(**stored))
            core.audit.record(
                session,
                now,
                f"account.{purpose}-changed",
                actor="user",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device.id,
                detail={"kind": device.kind},
            )

        self._challenges.answer(challenge_id, answer, purpose=purpose, complete=complete)
        return self.settings(token)

    # -- security settings ---------------------------------------------------------------------

    def settings(self, token: str) -> SecuritySettings:
        """The user's Secure Login System settings (any session, even trading-only)."""
        caller = self.caller(token, needs=("portal", "trading", "card-printing", "statements"))
        with self._core.db.read() as session:
            user = session.get(User, caller.user.id)
        assert user is not None
        return _settings(user)

    def _update_settings(
        self, token: str, event: str, change: Callable[[User, float], None]
    ) -> SecuritySettings:
        caller = self.caller(token)
        self._not_temporary(caller)
        self._primary(caller)
        core = self._core
        now = core.clock.now()
        with core.db.write() as session:
            user = session.get(User, caller.user.id)
            assert user is not None
            change(user, now)
            if user.sls_opted_out_at is not None and user.penny_stocks and not user.ip_restrictions:
                raise IpRestrictionsRequired(
                    "an opted-out account needs IP restrictions for penny-stock trading permission"
                )
            core.audit.record(
                session,
                now,
                event,
                actor="user",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                detail={
                    "opted_out": user.sls_opted_out_at is not None,
                    "penny_stocks": user.penny_stocks,
                    "ip_restrictions": len((user.ip_restrictions or "").split()),
                },
            )
            session.flush()
            return _settings(user)

    def opt_out(self, token: str) -> SecuritySettings:
        """Opt out of the Secure Login System: trading platforms without a second factor.

        Raises:
            NotPrimaryUser: not the primary user.
            OptOutNotAllowed: the account's jurisdiction is in ``no_opt_out_jurisdictions``.
            IpRestrictionsRequired: penny-stock permission is on and there are no IP restrictions.
        """
        jurisdictions = self._core.config.no_opt_out_jurisdictions

        def change(user: User, now: float) -> None:
            if user.jurisdiction in jurisdictions:
                raise OptOutNotAllowed(f"accounts in {user.jurisdiction} cannot opt out of two-factor logins")
            if user.sls_opted_out_at is None:
                user.sls_opted_out_at = now

        return self._update_settings(token, "sls.opted-out", change)

    def opt_in(self, token: str) -> SecuritySettings:
        """Opt back in: every platform asks for the second factor again.

        Raises:
            NotPrimaryUser: not the primary user.
        """

        def change(user: User, _now: float) -> None:
            user.sls_opted_out_at = None

        return self._update_settings(token, "sls.opted-in", change)

    def set_ip_restrictions(self, token: str, addresses: Sequence[str]) -> SecuritySettings:
        """Allow trading-platform logins only from ``addresses`` (none: from anywhere).

        Raises:
            InvalidParameter: an address is not an IP address.
            NotPrimaryUser: not the primary user.
            IpRestrictionsRequired: clearing them while opted out with penny-stock permission.
        """
        try:
            normalized = sorted({str(ipaddress.ip_address(a.strip())) for a in addresses})
        except ValueError as e:
            raise InvalidParameter("ip_restrictions holds IP addresses such as 203.0.113.7") from e

        def change(user: User, _now: float) -> None:
            user.ip_restrictions = " ".join(normalized) or None

        return self._update_settings(token, "sls.ip-restrictions", change)

    def set_penny_stocks(self, token: str, enabled: bool) -> SecuritySettings:
        """Turn penny-stock trading permission on or off.

        Raises:
            NotPrimaryUser: not the primary user.
            IpRestrictionsRequired: on, while opted out without IP restrictions.
        """

        def change(user: User, _now: float) -> None:
            user.penny_stocks = enabled

        return self._update_settings(token, "sls.penny-stocks", change)

    # -- sharing -------------------------------------------------------------------------------

    def start_share(
        self, token: str, owner: str, owner_password: str, device_id: str, *, mode: str | None = None
    ) -> ChallengeView:
        """Ask to use another username's device: prove the owner's password, then answer the device.

        Raises:
            InvalidCredentials: the owner's username or password is wrong.
            TemporaryAccess: the session came from a temporary passcode.
            DeviceUnavailable: not the owner's active device.
            SharingRefused: a condition does not hold (entity or identity data, a temporary device
                on either side, a device weaker than the requester's, a kind that is not shared).
        """
        caller = self.caller(token)
        self._not_temporary(caller)
        owner_user = check_password(self._core, owner, owner_password, event="share.owner-password")
        requester = caller.user
        now = self._core.clock.now()
        with self._core.db.read() as session:
            device = session.get(Device, device_id)
            if device is None or device.user_id != owner_user.id or device.status != "active":
                raise DeviceUnavailable("not an active device of that user")
            self._check_share(session, requester, owner_user, device, now)
        return self._challenges.issue(device_id, purpose="share", mode=mode, user_id=requester.id).view

    def _check_share(
        self, session: DbSession, requester: User, owner: User, device: Device, now: float
    ) -> None:
        if requester.id == owner.id:
            raise SharingRefused("the device is yours already")
        same_entity = requester.entity is not None and requester.entity == owner.entity
        same_person = (
            requester.identity_digest is not None and requester.identity_digest == owner.identity_digest
        )
        if not (same_entity or same_person):
            raise SharingRefused("only between users of the same entity or with the same identification data")
        for user in (requester, owner):
            temporary = session.scalar(
                select(Device.id).where(
                    Device.user_id == user.id,
                    Device.kind.in_(TEMPORARY_KINDS),
                    Device.status == "active",
                    (Device.expires_at.is_(None)) | (Device.expires_at > now),
                )
            )
            if temporary is not None:
                raise SharingRefused(f"{user.username} has a temporary device; no sharing until it ends")
        rank = SHARE_RANK.get(device.kind)
        if rank is None:
            raise SharingRefused(f"a {device.kind} is not shared (DSC+, IB Key or code card only)")
        own = [d.kind for d, owner_name in usable_devices(session, requester.id, now) if owner_name is None]
        best = max((SHARE_RANK.get(kind, 0) for kind in own), default=0)
        if rank < best:
            raise SharingRefused(
                "only a device at least as strong as your own is shared (DSC+ > IB Key > card)"
            )

    def finish_share(self, token: str, challenge_id: str, answer: str | None) -> DeviceView:
        """Answer the owner's device; from now on the requester may log in with it too.

        Raises:
            NotFound: no such share challenge of this user.
            WrongAnswer, ReplayedCode, ExpiredChallenge, ...: as for any answer.
        """
        caller = self.caller(token)
        self._own_challenge(challenge_id, caller, "share")
        core = self._core

        def complete(session: DbSession, _c: Challenge, device: Device, user: User, now: float) -> DeviceView:
            owner = session.get(User, device.user_id)
            assert owner is not None
            self._check_share(session, user, owner, device, now)
            if session.get(DeviceShare, (device.id, user.id)) is None:
                session.add(DeviceShare(device_id=device.id, user_id=user.id, created_at=now))
            core.audit.record(
                session,
                now,
                "device.shared",
                actor="user",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device.id,
                detail={"kind": device.kind, "owner": owner.username},
            )
            return device_view(device, owner=owner.username)

        return self._challenges.answer(challenge_id, answer, purpose="share", complete=complete)

    # -- the user's own devices ----------------------------------------------------------------

    def request_online_card(self, token: str) -> Enrollment:
        """A new Online Security Code Card to print (an earlier one ends); activate it by answering.

        From a card-printing or portal session, so also when enrolling without IB Key.
        """
        caller = self.caller(token, needs=("portal", "card-printing"))
        core = self._core
        now = core.clock.now()
        with core.db.write() as session:
            changed(
                session,
                update(Device)
                .where(
                    Device.user_id == caller.user.id,
                    Device.kind == DeviceKind.ONLINE_SCC.value,
                    Device.status != "revoked",
                )
                .values(status="revoked", revoked_at=now),
            )
        return self._accounts.enroll(caller.user.username, DeviceKind.ONLINE_SCC.value)

    def request_device(self, token: str, kind: str, *, pin: str | None = None) -> Enrollment:
        """Request a device to be mailed: the DSC+, the one physical kind still issued.

        It needs the balance threshold, and its reserve is held. The code card, DSC, Gold and
        Platinum are no longer issued (support may still enroll them, flagged legacy); IB Key
        activates from its app (:meth:`instant_ib_key_activation`).

        Raises:
            InvalidParameter: a kind that is not requested this way, or a bad PIN.
            NotEligible: a DSC+ below ``dsc_plus_min_equity_usd``.
        """
        if kind in LEGACY_KINDS:
            raise InvalidParameter(f"a {kind} is no longer issued; request a dsc-plus or activate IB Key")
        if kind != DeviceKind.DSC_PLUS.value:
            raise InvalidParameter("request a dsc-plus; IB Key activates from its app")
        caller = self.caller(token)
        self._not_temporary(caller)
        return self._accounts.enroll(caller.user.username, kind, pin=pin, check_eligibility=True)

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
        return self._accounts.enroll(user.username, DeviceKind.IB_KEY.value, number=number, os=os)

    def _own_device(self, caller: Caller, device_id: str) -> Device:
        with self._core.db.read() as session:
            device = session.get(Device, device_id)
        if device is None or device.user_id != caller.user.id:
            raise NotFound("no such device")
        return device

    def start_activation(self, token: str, device_id: str, *, mode: str | None = None) -> ChallengeView:
        """Activate or reactivate one of the user's devices: the challenge it must answer.

        A card-printing session activates only an online card.
        """
        caller = self.caller(token, needs=("portal", "card-printing"))
        device = self._own_device(caller, device_id)
        if "portal" not in caller.scope and device.kind != DeviceKind.ONLINE_SCC.value:
            raise InsufficientScope("a card-printing session only activates the online card")
        return self._accounts.start_activation(device_id, mode=mode)

    def finish_activation(self, token: str, device_id: str, challenge_id: str, answer: str) -> DeviceView:
        """Answer the activation challenge; reactivating a permanent device ends temporary access."""
        caller = self.caller(token, needs=("portal", "card-printing"))
        device = self._own_device(caller, device_id)
        if "portal" not in caller.scope and device.kind != DeviceKind.ONLINE_SCC.value:
            raise InsufficientScope("a card-printing session only activates the online card")
        return self._accounts.finish_activation(device_id, challenge_id, answer)

    def start_pin_change(self, token: str, device_id: str, new_pin: str) -> ChallengeView:
        """Start a PIN change (DSC+, Gold, Platinum): a challenge the device answers with its current PIN.

        The right answer (:meth:`confirm_current_pin`) opens a second challenge, answered with the new
        PIN (:meth:`finish_pin_change`). A user who does not know the current PIN calls support, who
        resets it after an identity check (:meth:`Accounts.reset_pin`).

        Raises:
            InvalidParameter: the PIN is not 4 digits, or the device folds no PIN into its answers.
        """
        if not _PIN.fullmatch(new_pin):
            raise InvalidParameter("a PIN has 4 digits")
        caller = self.caller(token)
        self._not_temporary(caller)
        device = self._own_device(caller, device_id)
        secrets = device_secrets(self._core, device)
        if secrets.pin is None:
            raise InvalidParameter(f"a {device.kind} has no PIN the server checks")
        sealed = DeviceSecrets(secret=secrets.secret, totp_secret=secrets.totp_secret, pin=new_pin)
        view = self._challenges.issue(device_id, purpose="pin-current").view
        core = self._core
        with core.db.write() as session:
            following = core.keys.seal(sealed.to_bytes(), "challenges", view.id, "next_sealed")
            changed(session, update(Challenge).where(Challenge.id == view.id).values(next_sealed=following))
        return view

    def confirm_current_pin(
        self, token: str, device_id: str, challenge_id: str, answer: str
    ) -> ChallengeView:
        """Answer with the current PIN; returns the challenge to answer with the new PIN.

        Raises:
            NotFound: no such PIN change of this user and device.
            WrongAnswer, ReplayedCode, ExpiredChallenge, ...: as for any answer.
        """
        caller = self.caller(token)
        self._not_temporary(caller)
        self._own_challenge(challenge_id, caller, "pin-current")
        core = self._core

        def complete(
            session: DbSession, challenge: Challenge, device: Device, _u: User, _now: float
        ) -> bytes:
            if device.id != device_id or challenge.next_sealed is None:
                raise NotFound("no such challenge for this device")
            return core.keys.open(challenge.next_sealed, "challenges", challenge.id, "next_sealed")

        raw = self._challenges.answer(challenge_id, answer, purpose="pin-current", complete=complete)
        return self._challenges.issue(
            device_id, purpose="pin-change", sealed=DeviceSecrets.from_bytes(raw)
        ).view

    def finish_pin_change(self, token: str, device_id: str, challenge_id: str, answer: str) -> DeviceView:
        """Answer the second challenge with the new PIN; from now on the device's answers use it."""
        caller = self.caller(token)
        self._own_challenge(challenge_id, caller, "pin-change")
        core = self._core

        def complete(
            session: DbSession, challenge: Challenge, device: Device, user: User, now: float
        ) -> DeviceView:
            if device.id != device_id or challenge.sealed is None:
                raise NotFound("no such challenge for this device")
            new = core.keys.open(challenge.sealed, "challenges", challenge.id, "sealed")
            sealed = core.keys.seal(new, "devices", device.id, "secrets")
            changed(session, update(Device).where(Device.id == device.id).values(secrets=sealed))
            core.audit.record(
                session,
                now,
                "device.pin-changed",
                actor="user",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device.id,
                detail={"kind": device.kind},
            )
            return device_view(device)

        return self._challenges.answer(challenge_id, answer, purpose="pin-change", complete=complete)

    # -- IB Key app ----------------------------------------------------------------------------

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
        enrollment = self._accounts.enroll(
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
        with core.db.read() as session:
            target = session.get(Device, device_id)
            challenge = session.get(Challenge, challenge_id)
        if (
            target is None
            or challenge is None
            or target.kind != DeviceKind.IB_KEY.value
            or target.status != "pending"
            or challenge.user_id != target.user_id
        ):
            raise NotFound("no such migration")

        def complete(session: DbSession, _c: Challenge, device: Device, user: User, now: float) -> str:
            fresh = session.get(Device, device_id)
            assert fresh is not None
            activation = self._accounts.activation_token(session, fresh, now)
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
        with core.db.read() as session:
            target = session.get(Device, device_id)
            challenge = session.get(Challenge, challenge_id)
        if (
            target is None
            or challenge is None
            or target.kind != DeviceKind.IB_KEY.value
            or target.status != "active"
            or challenge.user_id != target.user_id
            or challenge.mode == "token"  # a texted token goes to the app's activation instead
        ):
            raise NotFound("no such recovery")

        def complete(session: DbSession, _c: Challenge, device: Device, user: User, now: float) -> str | None:
            fresh = session.get(Device, device_id)
            assert fresh is not None
            token = None
            if device.id != device_id:  # a physical device answered for the registration
                self._accounts.close_tokens(session, fresh)
                token = self._accounts.activation_token(session, fresh, now, purpose="recovery")
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
            self._accounts.close_tokens(session, device)
            token = self._accounts.activation_token(session, device, now, purpose=purpose)
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


def _settings(user: User) -> SecuritySettings:
    return SecuritySettings(
        username=user.username,
        sls_opted_out=user.sls_opted_out_at is not None,
        ip_restrictions=tuple((user.ip_restrictions or "").split()),
        penny_stocks=user.penny_stocks,
        email=user.email,
        bank_instructions_set=user.bank_instructions is not None,
    )
