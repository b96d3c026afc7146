"""The Secure Login System's money rules and settings: withdrawal limits, receipts, security settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tokensim.server.views._fields import json_object, opt_str

__all__ = ["DepositReceipt", "Remaining", "SecuritySettings", "WithdrawalReceipt"]


@dataclass(frozen=True, slots=True)
class Remaining:
    """A device's withdrawal limits and what is left of them now (amounts as decimal strings, USD).

    Attributes:
        device_kind: the kind whose limits apply (``none`` without a device).
        per_day_usd: the daily limit (``None``: unlimited).
        per_window_usd: the limit of the rolling business-day window (``None``: unlimited).
        remaining_day_usd: what is left today (``None``: unlimited).
        remaining_window_usd: what is left in the window (``None``: unlimited).
    """

    device_kind: str
    per_day_usd: str | None
    per_window_usd: str | None
    remaining_day_usd: str | None
    remaining_window_usd: str | None

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "device_kind": self.device_kind,
            "per_day_usd": self.per_day_usd,
            "per_window_usd": self.per_window_usd,
            "remaining_day_usd": self.remaining_day_usd,
            "remaining_window_usd": self.remaining_window_usd,
        }

    @classmethod
    def from_json(cls, data: object) -> Remaining:
        """Read the JSON object."""
        obj = json_object(data, "remaining")
        return cls(
            device_kind=str(obj["device_kind"]),
            per_day_usd=opt_str(obj.get("per_day_usd")),
            per_window_usd=opt_str(obj.get("per_window_usd")),
            remaining_day_usd=opt_str(obj.get("remaining_day_usd")),
            remaining_window_usd=opt_str(obj.get("remaining_window_usd")),
        )


@dataclass(frozen=True, slots=True)
class WithdrawalReceipt:
    """A withdrawal that was accepted, and what remains of the authorising device's limits.

    Attributes:
        id: the withdrawal's identifier.
        amount_usd: the amount, as a decimal string.
        device_kind: the kind of the device that authorised it (``none`` without one).
        created_at: when.
        remaining: the limits after it.
    """

    id: str
    amount_usd: str
    device_kind: str
    created_at: float
    remaining: Remaining

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "id": self.id,
            "amount_usd": self.amount_usd,
            "device_kind": self.device_kind,
            "created_at": self.created_at,
            "remaining": self.remaining.to_json(),
        }

    @classmethod
    def from_json(cls, data: object) -> WithdrawalReceipt:
        """Read the JSON object."""
        obj = json_object(data, "withdrawal")
        return cls(
            id=str(obj["id"]),
            amount_usd=str(obj["amount_usd"]),
            device_kind=str(obj["device_kind"]),
            created_at=float(obj["created_at"]),
            remaining=Remaining.from_json(obj["remaining"]),
        )


@dataclass(frozen=True, slots=True)
class DepositReceipt:
    """A deposit that was accepted.

    Attributes:
        id: its identifier.
        amount_usd: the amount, as a decimal string.
        method: ``ach``, ``eft``, ``wire`` or ``check``.
        created_at: when.
        ach_eft_total_usd: the account's ACH and EFT deposits so far, this one included.
    """

    id: str
    amount_usd: str
    method: str
    created_at: float
    ach_eft_total_usd: str

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "id": self.id,
            "amount_usd": self.amount_usd,
            "method": self.method,
            "created_at": self.created_at,
            "ach_eft_total_usd": self.ach_eft_total_usd,
        }

    @classmethod
    def from_json(cls, data: object) -> DepositReceipt:
        """Read the JSON object."""
        obj = json_object(data, "deposit")
        return cls(
            id=str(obj["id"]),
            amount_usd=str(obj["amount_usd"]),
            method=str(obj["method"]),
            created_at=float(obj["created_at"]),
            ach_eft_total_usd=str(obj["ach_eft_total_usd"]),
        )


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    """A user's Secure Login System settings.

    Attributes:
        username: whose.
        sls_opted_out: trading platforms without a second factor (the portal still asks).
        ip_restrictions: addresses trading logins may come from (empty: anywhere).
        penny_stocks: penny-stock trading permission.
        email: the email address on file.
        bank_instructions_set: whether bank instructions are on file (they are never shown).
    """

    username: str
    sls_opted_out: bool
    ip_restrictions: tuple[str, ...]
    penny_stocks: bool
    email: str | None
    bank_instructions_set: bool

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "username": self.username,
            "sls_opted_out": self.sls_opted_out,
            "ip_restrictions": list(self.ip_restrictions),
            "penny_stocks": self.penny_stocks,
            "email": self.email,
            "bank_instructions_set": self.bank_instructions_set,
        }

    @classmethod
    def from_json(cls, data: object) -> SecuritySettings:
        """Read the JSON object."""
        obj = json_object(data, "settings")
        return cls(
            username=str(obj["username"]),
            sls_opted_out=bool(obj["sls_opted_out"]),
            ip_restrictions=tuple(str(a) for a in obj.get("ip_restrictions", ())),
            penny_stocks=bool(obj["penny_stocks"]),
            email=opt_str(obj.get("email")),
            bank_instructions_set=bool(obj["bank_instructions_set"]),
        )
