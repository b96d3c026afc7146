"""Users and their devices as support sees them, code cards to print, and what enrolling returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tokensim.protocol.clock import printed_time
from tokensim.protocol.provisioning import Provisioning
from tokensim.server.views._fields import json_object, opt_float

__all__ = ["Card", "DeviceView", "Enrollment", "UserView"]


@dataclass(frozen=True, slots=True)
class DeviceView:
    """A device as support and the login screen see it (no secrets).

    Attributes:
        id: the device's identifier (what a login names to pick it).
        kind: the wire name of its kind.
        serial: the serial number.
        label: a name for people.
        status: ``pending``, ``active`` or ``revoked``.
        number: the phone number, for phones and IB Key.
        issued_at: when it was issued.
        expires_at: when it stops working, if it does.
        activated_at: when it was activated.
        locked_until: when its lockout ends, if locked.
        activate_by: a replacement pending after this time is active by itself.
        condition: what support recorded (``lost``, ``damaged``, ``battery``, ``returned``, ...).
        owner: the owner's username, for a device shared with this user.
        legacy: a kind that is no longer issued (code card, DSC, Gold, Platinum).
    """

    id: str
    kind: str
    serial: str
    label: str
    status: str
    number: str | None = None
    issued_at: float | None = None
    expires_at: float | None = None
    activated_at: float | None = None
    locked_until: float | None = None
    activate_by: float | None = None
    condition: str | None = None
    owner: str | None = None
    legacy: bool = False

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "id": self.id,
            "kind": self.kind,
            "serial": self.serial,
            "label": self.label,
            "status": self.status,
            "number": self.number,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "activated_at": self.activated_at,
            "locked_until": self.locked_until,
            "activate_by": self.activate_by,
            "condition": self.condition,
            "owner": self.owner,
            "legacy": self.legacy,
        }

    @classmethod
    def from_json(cls, data: object) -> DeviceView:
        """Read the JSON object."""
        obj = json_object(data, "device")
        return cls(
            id=str(obj["id"]),
            kind=str(obj["kind"]),
            serial=str(obj["serial"]),
            label=str(obj["label"]),
            status=str(obj["status"]),
            number=obj.get("number"),
            issued_at=opt_float(obj.get("issued_at")),
            expires_at=opt_float(obj.get("expires_at")),
            activated_at=opt_float(obj.get("activated_at")),
            locked_until=opt_float(obj.get("locked_until")),
            activate_by=opt_float(obj.get("activate_by")),
            condition=obj.get("condition"),
            owner=obj.get("owner"),
            legacy=bool(obj.get("legacy", False)),
        )


@dataclass(frozen=True, slots=True)
class UserView:
    """A user as support sees it.

    Attributes:
        username: the login name.
        jurisdiction: country code of the account (``HK`` and ``IN`` cannot opt out of SLS).
        primary_user: whether this user may change security settings.
        equity: account equity in USD, as a decimal string.
        entity: the legal entity the user belongs to, if known.
        status: ``open`` or ``closed``.
        phones: verified phone numbers.
        account_locked: whether the account hit its second-factor failure limit.
        devices: the user's devices.
        sls_opted_out: whether the user opted out of the Secure Login System.
        reserved_usd: reserves held for devices out with the user, as a decimal string.
        fees_charged_usd: replacement fees charged, as a decimal string.
        identity_on_file: whether identification data is on file (for sharing and verification).
        funded_at: when the account first received funds (``None`` until then).
    """

    username: str
    jurisdiction: str
    primary_user: bool
    equity: str
    entity: str | None
    status: str
    phones: tuple[str, ...]
    account_locked: bool
    devices: tuple[DeviceView, ...] = ()
    sls_opted_out: bool = False
    reserved_usd: str = "0.00"
    fees_charged_usd: str = "0.00"
    identity_on_file: bool = False
    funded_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "username": self.username,
            "jurisdiction": self.jurisdiction,
            "primary_user": self.primary_user,
            "equity": self.equity,
            "entity": self.entity,
            "status": self.status,
            "phones": list(self.phones),
            "account_locked": self.account_locked,
            "devices": [device.to_json() for device in self.devices],
            "sls_opted_out": self.sls_opted_out,
            "reserved_usd": self.reserved_usd,
            "fees_charged_usd": self.fees_charged_usd,
            "identity_on_file": self.identity_on_file,
            "funded_at": self.funded_at,
        }

    @classmethod
    def from_json(cls, data: object) -> UserView:
        """Read the JSON object."""
        obj = json_object(data, "user")
        return cls(
            username=str(obj["username"]),
            jurisdiction=str(obj["jurisdiction"]),
            primary_user=bool(obj["primary_user"]),
            equity=str(obj["equity"]),
            entity=obj.get("entity"),
            status=str(obj["status"]),
            phones=tuple(obj.get("phones", ())),
            account_locked=bool(obj.get("account_locked", False)),
            devices=tuple(DeviceView.from_json(d) for d in obj.get("devices", ())),
            sls_opted_out=bool(obj.get("sls_opted_out", False)),
            reserved_usd=str(obj.get("reserved_usd", "0.00")),
            fees_charged_usd=str(obj.get("fees_charged_usd", "0.00")),
            identity_on_file=bool(obj.get("identity_on_file", False)),
            funded_at=opt_float(obj.get("funded_at")),
        )


@dataclass(frozen=True, slots=True)
class Card:
    """A code card to print: every cell with its value.

    Attributes:
        serial: the card's serial number.
        kind: ``scc`` or ``online-scc``.
        cells: ``(index, value)`` pairs in index order.
        issued_at: when it was issued.
        expires_at: when it stops working (online card).
    """

    serial: str
    kind: str
    cells: tuple[tuple[int, str], ...]
    issued_at: float | None = None
    expires_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "serial": self.serial,
            "kind": self.kind,
            "cells": [[index, value] for index, value in self.cells],
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: object) -> Card:
        """Read the JSON object."""
        obj = json_object(data, "card")
        return cls(
            serial=str(obj["serial"]),
            kind=str(obj["kind"]),
            cells=tuple((int(i), str(v)) for i, v in obj["cells"]),
            issued_at=opt_float(obj.get("issued_at")),
            expires_at=opt_float(obj.get("expires_at")),
        )

    def text(self, columns: int = 8) -> str:
        """The card as plain text, ``columns`` cells a line, ready to print."""
        lines = [f"tokensim {self.kind} {self.serial}"]
        if self.issued_at is not None:
            lines.append(f"issued      {printed_time(self.issued_at)}")
        if self.expires_at is not None:
            lines.append(f"valid until {printed_time(self.expires_at)}")
        row: list[str] = []
        for index, value in self.cells:
            row.append(f"{index:3d} {value}")
            if len(row) == columns:
                lines.append("   ".join(row))
                row = []
        if row:
            lines.append("   ".join(row))
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return f"Card(serial={self.serial!r}, kind={self.kind!r}, cells=<{len(self.cells)}>)"


@dataclass(frozen=True, slots=True)
class Enrollment:
    """What enrolling a device returns: what the device needs and how it gets activated.

    Attributes:
        device: the new device (``pending`` until activated).
        activation: ``challenge`` (answer an activation challenge), ``sms-token`` (an IB Key app
            activates with the token texted to ``sent_to``), or ``none`` (active at once).
        provisioning: what an emulator or a board needs (``None`` for IB Key until activation).
        card: the card to print, for code cards.
        sent_to: where an activation token went.
        passcode: a temporary passcode, shown this once.
    """

    device: DeviceView
    activation: str
    provisioning: Provisioning | None = None
    card: Card | None = None
    sent_to: str | None = None
    passcode: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "device": self.device.to_json(),
            "activation": self.activation,
            "provisioning": None if self.provisioning is None else self.provisioning.to_json(),
            "card": None if self.card is None else self.card.to_json(),
            "sent_to": self.sent_to,
            "passcode": self.passcode,
        }

    @classmethod
    def from_json(cls, data: object) -> Enrollment:
        """Read the JSON object."""
        obj = json_object(data, "enrollment")
        provisioning = obj.get("provisioning")
        card = obj.get("card")
        return cls(
            device=DeviceView.from_json(obj["device"]),
            activation=str(obj["activation"]),
            provisioning=None if provisioning is None else Provisioning.from_json(provisioning),
            card=None if card is None else Card.from_json(card),
            sent_to=obj.get("sent_to"),
            passcode=obj.get("passcode"),
        )

    def __repr__(self) -> str:
        return f"Enrollment(device={self.device!r}, activation={self.activation!r})"
