"""The logged-in user's security settings: email, bank instructions, opt-out, IP restrictions, penny stocks.

* **bank instructions and the email** change with the answer to a step-up challenge
  (:meth:`.callers.Callers.step_up`) from an SLS device (not SMS, not a temporary passcode);
* **opt-out and opt-in**, IP restrictions and penny-stock permission are the primary user's;
  some jurisdictions cannot opt out; penny stocks need IP restrictions when opted out.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session as DbSession

from tokensim.protocol.errors import InvalidParameter
from tokensim.server.callers import SessionOperations
from tokensim.server.errors import IpRestrictionsRequired, OptOutNotAllowed, SlsDeviceRequired
from tokensim.server.rules import SLS_KINDS
from tokensim.server.storage.models import Challenge, Device, User
from tokensim.server.storage.prepared import changed
from tokensim.server.views import SecuritySettings

__all__ = ["Security"]

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,188}\.[A-Za-z]{2,24}")


class Security(SessionOperations):
    """The Secure Login System settings of logged-in users, and the changes an SLS device authorises."""

    __slots__ = ()

    # -- changes an SLS device authorises -----------------------------------------------------

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


def _settings(user: User) -> SecuritySettings:
    return SecuritySettings(
        username=user.username,
        sls_opted_out=user.sls_opted_out_at is not None,
        ip_restrictions=tuple((user.ip_restrictions or "").split()),
        penny_stocks=user.penny_stocks,
        email=user.email,
        bank_instructions_set=user.bank_instructions is not None,
    )
