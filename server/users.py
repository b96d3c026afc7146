"""Users and their accounts, as support manages them: create, fund, read, close, unlock, audit.

Support creates a user with verified phone numbers (and, by configuration, a first SMS device),
records that the account received funds, reads a user with their phones, devices and reserves,
closes the account and clears an account lock. Reading a user is also when the time-based parts of
a device's life are settled (:func:`.lifecycle.promote_due`, :func:`.lifecycle.charge_unreturned`).
:func:`user_by_name` is the lookup the other support modules share.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.provisioning import DeviceKind
from tokensim.server.carrier import mask_number
from tokensim.server.core import Core
from tokensim.server.device_rows import device_view
from tokensim.server.errors import AlreadyExists, NotFound
from tokensim.server.lifecycle import charge_unreturned, mark_funded, promote_due
from tokensim.server.login import end_sessions
from tokensim.server.storage.models import Device, PhoneNumber, Reserve, User
from tokensim.server.verify import DeviceSecrets, policy_for
from tokensim.server.views import AuditRecord, UserView

__all__ = ["Users", "user_by_name"]

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
_JURISDICTION = re.compile(r"[A-Z]{2}")


class Users:
    """Users and accounts: what the support API does with a username.

    Args:
        core: the shared parts.
    """

    __slots__ = ("_core",)

    def __init__(self, core: Core) -> None:
        self._core = core

    def create_user(
        self,
        username: str,
        password: str,
        *,
        phones: Sequence[str] = (),
        jurisdiction: str = "US",
        primary_user: bool = True,
        equity: Decimal = Decimal(0),
        entity: str | None = None,
        start_with_sms: bool | None = None,
    ) -> UserView:
        """Create a user with verified phone numbers.

        With ``start_with_sms`` (``signup_sms`` of the configuration when ``None``) and a phone, the
        user starts with an active SMS device on the first number, removed once an IB Key is active.
        A user created with a positive ``equity`` has received funds: the account is funded now.

        Raises:
            InvalidParameter: a value is badly formed (username, password length, phone, jurisdiction).
            AlreadyExists: the username is taken.
        """
        core = self._core
        if not _USERNAME.fullmatch(username):
            raise InvalidParameter("username: 2 to 64 of a-z 0-9 . _ -, starting with a letter or digit")
        if not 8 <= len(password) <= 256:
            raise InvalidParameter("password: 8 to 256 characters (NIST SP 800-63B §5.1.1.2)")
        for number in phones:
            if not _PHONE.fullmatch(number):
                raise InvalidParameter(
                    f"phone {mask_number(number)!r} is not an E.164 number such as +15551234567"
                )
        if len(set(phones)) != len(phones):
            raise InvalidParameter("phones: a number is listed twice")
        if not _JURISDICTION.fullmatch(jurisdiction):
            raise InvalidParameter("jurisdiction: a two-letter country code such as US, HK or IN")
        if equity < 0 or not equity.is_finite():
            raise InvalidParameter("equity must be a non-negative amount")
        now = core.clock.now()
        password_hash = core.hasher.hash(password)
        user = User(
            id=core.new_id(),
            username=username,
            password_hash=password_hash,
            jurisdiction=jurisdiction,
            primary_user=primary_user,
            equity=equity,
            entity=entity,
            status="open",
            created_at=now,
            password_failures=0,
            password_lockouts=0,
            factor_failures=0,
            funded_at=now if equity > 0 else None,
        )
        try:
            with core.db.write() as session:
                if session.scalar(select(User.id).where(User.username == username)) is not None:
                    raise AlreadyExists(f"username {username!r} is taken")
                session.add(user)
                session.flush()
                session.add_all(PhoneNumber(user_id=user.id, number=n, verified_at=now) for n in phones)
                sms = core.config.signup_sms if start_with_sms is None else start_with_sms
                if sms and phones:
                    self._signup_sms(session, user, phones[0], now)
                core.audit.record(
                    session,
                    now,
                    "user.created",
                    actor="support",
                    outcome="ok",
                    user_id=user.id,
                    username=username,
                    detail={"jurisdiction": jurisdiction, "phones": len(phones)},
                )
        except IntegrityError as e:  # two creations of one username at once
            raise AlreadyExists(f"username {username!r} is taken") from e
        return self.get_user(username)

    def mark_funded(self, username: str) -> UserView:
        """Record that the account received funds (support); a new account's online card lasts from now.

        Raises:
            NotFound: no such user.
        """
        core = self._core
        now = core.clock.now()
        with core.db.write() as session:
            mark_funded(core, session, user_by_name(session, username), now, actor="support")
        return self.get_user(username)

    def _signup_sms(self, session: Session, user: User, number: str, now: float) -> None:
        core = self._core
        device_id = core.new_id()
        policy = policy_for(DeviceKind.PHONE.value)
        session.add(
            Device(
                id=device_id,
                user_id=user.id,
                kind=DeviceKind.PHONE.value,
                serial=f"{policy.serial_prefix}{core.rng.randrange(10**9, 10**10)}",
                label="SMS",
                status="active",
                secrets=core.keys.seal(DeviceSecrets().to_bytes(), "devices", device_id, "secrets"),
                digits=6,
                step=30,
                algorithm="SHA1",
                firmware="current",
                number=number,
                failures=0,
                lockouts=0,
                issued_at=now,
                created_at=now,
                activated_at=now,
            )
        )
        core.audit.record(
            session,
            now,
            "device.enrolled",
            actor="system",
            outcome="ok",
            user_id=user.id,
            username=user.username,
            device_id=device_id,
            detail={"kind": DeviceKind.PHONE.value, "reason": "new account starts with SMS"},
        )

    def get_user(self, username: str) -> UserView:
        """A user with their phones, devices and reserves (replacements past their window are active).

        Raises:
            NotFound: no such user.
        """
        now = self._core.clock.now()
        with self._core.db.read() as session:
            due = session.scalar(
                select(Device.id)
                .join(User, User.id == Device.user_id)
                .where(
                    User.username == username,
                    Device.status == "pending",
                    Device.activate_by.is_not(None),
                    Device.activate_by <= now,
                    Device.deactivated_at.is_(None),
                )
                .limit(1)
            )
            closed = session.scalar(
                select(User.id).where(
                    User.username == username,
                    User.closed_at.is_not(None),
                    User.closed_at <= now - self._core.config.device_return_window,
                )
            )
            unreturned = closed is not None and (
                session.scalar(
                    select(Reserve.device_id)
                    .where(Reserve.user_id == closed, Reserve.status == "held")
                    .limit(1)
                )
                is not None
            )
        if due is not None or unreturned:  # a write only when a window has ended
            with self._core.db.write() as session:
                user = user_by_name(session, username)
                promote_due(self._core, session, user, now)
                charge_unreturned(self._core, session, user, now)
        with self._core.db.read() as session:
            user = user_by_name(session, username)
            phones = tuple(session.scalars(select(PhoneNumber.number).where(PhoneNumber.user_id == user.id)))
            devices = session.scalars(
                select(Device).where(Device.user_id == user.id).order_by(Device.created_at)
            )
            sums: dict[str, object] = {}
            for status, total in session.execute(
                select(Reserve.status, func.coalesce(func.sum(Reserve.amount_usd), 0))
                .where(Reserve.user_id == user.id)
                .group_by(Reserve.status)
            ):
                sums[status] = total
            return UserView(
                username=user.username,
                jurisdiction=user.jurisdiction,
                primary_user=user.primary_user,
                equity=str(user.equity),
                entity=user.entity,
                status=user.status,
                phones=phones,
                account_locked=user.account_locked_at is not None,
                devices=tuple(device_view(d) for d in devices),
                sls_opted_out=user.sls_opted_out_at is not None,
                reserved_usd=_usd(sums.get("held", 0)),
                fees_charged_usd=_usd(sums.get("charged", 0)),
                identity_on_file=user.identity_digest is not None,
                funded_at=user.funded_at,
            )

    def close_account(self, username: str) -> UserView:
        """Close an account: from now on a password alone reaches statements, and nothing else.

        Its devices must come back within ``device_return_window``: each one support has not
        reported ``returned`` by then has its device fee charged.

        Raises:
            NotFound: no such user.
        """
        core = self._core
        now = core.clock.now()
        with core.db.write() as session:
            user = user_by_name(session, username)
            user.status = "closed"
            user.closed_at = now
            end_sessions(core, session, now, user_id=user.id, reason="account-closed")
            core.audit.record(
                session,
                now,
                "account.closed",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=username,
            )
        return self.get_user(username)

    def unlock_account(self, username: str) -> UserView:
        """Clear an account lock and its password pause.

        Raises:
            NotFound: no such user.
        """
        core = self._core
        now = core.clock.now()
        with core.db.write() as session:
            user = user_by_name(session, username)
            core.throttle.unlock_account(session, user.id)
            core.audit.record(
                session,
                now,
                "account.unlocked",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=username,
            )
        return self.get_user(username)

    def audit(
        self, *, username: str | None = None, event: str | None = None, after: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        """Read the audit log, oldest first."""
        with self._core.db.read() as session:
            return self._core.audit.read(session, username=username, event=event, after=after, limit=limit)


def user_by_name(session: Session, username: str) -> User:
    """The user called ``username``, read in the caller's transaction.

    Raises:
        NotFound: no such user.
    """
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def _usd(value: object) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))
