"""What the server's operations return, as frozen dataclasses with an explicit JSON mapping.

The HTTP API writes these with ``to_json`` and :mod:`tokensim.server.client` reads them back with
``from_json``, so a caller gets the same typed values in-process and over the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tokensim.protocol.clock import printed_time
from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.messages import Challenge
from tokensim.protocol.provisioning import Provisioning

__all__ = [
    "AuditRecord",
    "Card",
    "ChallengeView",
    "DepositReceipt",
    "DeviceView",
    "Enrollment",
    "IdentityCheckView",
    "LoginStarted",
    "MigrationStarted",
    "OutboxEntry",
    "Remaining",
    "SecuritySettings",
    "SessionGrant",
    "SessionInfo",
    "TemporaryStage",
    "UserView",
    "WithdrawalReceipt",
]


def _obj(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidParameter(f"{what}: expected a JSON object")
    return data


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


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
        obj = _obj(data, "device")
        return cls(
            id=str(obj["id"]),
            kind=str(obj["kind"]),
            serial=str(obj["serial"]),
            label=str(obj["label"]),
            status=str(obj["status"]),
            number=obj.get("number"),
            issued_at=_opt_float(obj.get("issued_at")),
            expires_at=_opt_float(obj.get("expires_at")),
            activated_at=_opt_float(obj.get("activated_at")),
            locked_until=_opt_float(obj.get("locked_until")),
            activate_by=_opt_float(obj.get("activate_by")),
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
        obj = _obj(data, "user")
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
            funded_at=_opt_float(obj.get("funded_at")),
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
        obj = _obj(data, "card")
        return cls(
            serial=str(obj["serial"]),
            kind=str(obj["kind"]),
            cells=tuple((int(i), str(v)) for i, v in obj["cells"]),
            issued_at=_opt_float(obj.get("issued_at")),
            expires_at=_opt_float(obj.get("expires_at")),
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
        obj = _obj(data, "enrollment")
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


@dataclass(frozen=True, slots=True)
class TemporaryStage:
    """Where one temporary device (temporary passcode or online card) is, as the login shows it.

    Attributes:
        device_id: the temporary device.
        kind: ``temporary`` or ``online-scc``.
        stage: ``full`` (full access), ``card-printing`` (only prints the online card), ``pending``
            (an online card not yet activated) or ``expired`` (reactivate the permanent device).
        stage_ends_at: when this stage ends (``None`` when it does not, or has ended).
        expires_at: when the device stops working altogether (``None`` for an unfunded account's card).
    """

    device_id: str
    kind: str
    stage: str
    stage_ends_at: float | None
    expires_at: float | None

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "device_id": self.device_id,
            "kind": self.kind,
            "stage": self.stage,
            "stage_ends_at": self.stage_ends_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: object) -> TemporaryStage:
        """Read the JSON object."""
        obj = _obj(data, "temporary stage")
        return cls(
            device_id=str(obj["device_id"]),
            kind=str(obj["kind"]),
            stage=str(obj["stage"]),
            stage_ends_at=_opt_float(obj.get("stage_ends_at")),
            expires_at=_opt_float(obj.get("expires_at")),
        )


@dataclass(frozen=True, slots=True)
class LoginStarted:
    """A password that was accepted: the login and the devices to choose from (M2FS).

    Attributes:
        login_id: names this login in the next calls.
        username: whose login.
        expires_at: when the second factor must be done by.
        devices: the user's active devices (and devices shared with them), and the permanent devices
            waiting to be reactivated (``pending``: answering one's challenge reactivates it).
        session: the session already granted without a second factor: a closed account (statements
            only) or an opted-out user on a trading platform; ``None`` when a device must answer.
        temporary: the stages of the user's temporary passcode and online card.
    """

    login_id: str
    username: str
    expires_at: float
    devices: tuple[DeviceView, ...]
    session: SessionGrant | None = None
    temporary: tuple[TemporaryStage, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "login_id": self.login_id,
            "username": self.username,
            "expires_at": self.expires_at,
            "devices": [device.to_json() for device in self.devices],
            "session": None if self.session is None else self.session.to_json(),
            "temporary": [stage.to_json() for stage in self.temporary],
        }

    @classmethod
    def from_json(cls, data: object) -> LoginStarted:
        """Read the JSON object."""
        obj = _obj(data, "login")
        session = obj.get("session")
        return cls(
            login_id=str(obj["login_id"]),
            username=str(obj["username"]),
            expires_at=float(obj["expires_at"]),
            devices=tuple(DeviceView.from_json(d) for d in obj["devices"]),
            session=None if session is None else SessionGrant.from_json(session),
            temporary=tuple(TemporaryStage.from_json(t) for t in obj.get("temporary", ())),
        )

    def device(self, kind: str) -> DeviceView:
        """The first device of ``kind``.

        Raises:
            KeyError: the user has no active device of that kind.
        """
        for device in self.devices:
            if device.kind == kind:
                return device
        raise KeyError(kind)


@dataclass(frozen=True, slots=True)
class ChallengeView:
    """A challenge as shown on the login screen.

    Attributes:
        challenge: the protocol challenge (its form says what to do).
        mode: how the device answers (``push``, ``qr``, ``numeric``, ``code``, ``grid``, ``sms``,
            ``voice``, ``static``).
        qr: the QR code's text, for ``qr``.
        sent_to: the masked number a code went to, for ``sms`` and ``voice``.
    """

    challenge: Challenge
    mode: str
    qr: str | None = None
    sent_to: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object: the challenge's own keys plus ``mode``, ``qr`` and ``sent_to``."""
        return self.challenge.to_json() | {"mode": self.mode, "qr": self.qr, "sent_to": self.sent_to}

    @classmethod
    def from_json(cls, data: object) -> ChallengeView:
        """Read the JSON object."""
        obj = dict(_obj(data, "challenge"))
        mode = str(obj.pop("mode"))
        qr = obj.pop("qr", None)
        sent_to = obj.pop("sent_to", None)
        return cls(challenge=Challenge.from_json(obj), mode=mode, qr=qr, sent_to=sent_to)

    @property
    def id(self) -> str:
        """The challenge's identifier."""
        return self.challenge.id


@dataclass(frozen=True, slots=True)
class SessionGrant:
    """A finished login: the session token and what it may do.

    Attributes:
        token: the bearer token, shown once.
        username: whose session.
        scope: what it may do (``trading``, ``portal``, ``card-printing``, ``statements``).
        device_kind: the device that passed the second factor.
        expires_at: when it ends.
    """

    token: str
    username: str
    scope: tuple[str, ...]
    device_kind: str | None
    expires_at: float

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "token": self.token,
            "username": self.username,
            "scope": list(self.scope),
            "device_kind": self.device_kind,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: object) -> SessionGrant:
        """Read the JSON object."""
        obj = _obj(data, "session")
        return cls(
            token=str(obj["token"]),
            username=str(obj["username"]),
            scope=tuple(obj["scope"]),
            device_kind=obj.get("device_kind"),
            expires_at=float(obj["expires_at"]),
        )

    def __repr__(self) -> str:
        return f"SessionGrant(username={self.username!r}, scope={self.scope!r}, token=<hidden>)"


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What a session token may do, as ``GET /v1/session`` says.

    Attributes:
        username: whose session.
        scope: what it may do.
        device_kind: the device of the login.
        created_at: when the login finished.
        expires_at: when it ends.
    """

    username: str
    scope: tuple[str, ...]
    device_kind: str | None
    created_at: float
    expires_at: float

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "username": self.username,
            "scope": list(self.scope),
            "device_kind": self.device_kind,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: object) -> SessionInfo:
        """Read the JSON object."""
        obj = _obj(data, "session")
        return cls(
            username=str(obj["username"]),
            scope=tuple(obj["scope"]),
            device_kind=obj.get("device_kind"),
            created_at=float(obj["created_at"]),
            expires_at=float(obj["expires_at"]),
        )


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One event of the audit log.

    Attributes:
        seq: its position in the log (increasing).
        at: Unix time.
        event: what happened (``login.answer``, ``device.locked``, ...).
        actor: ``user``, ``support``, ``device`` or ``system``.
        outcome: ``ok``, ``failed``, ``refused``, ...
        username: whose account, if any.
        device_id: which device, if any.
        detail: further facts (never a secret).
    """

    seq: int
    at: float
    event: str
    actor: str
    outcome: str
    username: str | None
    device_id: str | None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "seq": self.seq,
            "at": self.at,
            "event": self.event,
            "actor": self.actor,
            "outcome": self.outcome,
            "username": self.username,
            "device_id": self.device_id,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_json(cls, data: object) -> AuditRecord:
        """Read the JSON object."""
        obj = _obj(data, "audit record")
        return cls(
            seq=int(obj["seq"]),
            at=float(obj["at"]),
            event=str(obj["event"]),
            actor=str(obj["actor"]),
            outcome=str(obj["outcome"]),
            username=obj.get("username"),
            device_id=obj.get("device_id"),
            detail=dict(obj.get("detail", {})),
        )


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A text or call the outbox carrier delivered.

    Attributes:
        seq: its position in the outbox (increasing); read on from the last one seen.
        id: its identifier.
        to: the phone number.
        channel: ``sms`` or ``voice``.
        sender: who it appears to come from.
        text: the message, or the call's transcript.
        sent_at: Unix time.
    """

    seq: int
    id: str
    to: str
    channel: str
    sender: str
    text: str
    sent_at: float

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "seq": self.seq,
            "id": self.id,
            "to": self.to,
            "channel": self.channel,
            "sender": self.sender,
            "text": self.text,
            "sent_at": self.sent_at,
        }

    @classmethod
    def from_json(cls, data: object) -> OutboxEntry:
        """Read the JSON object."""
        obj = _obj(data, "outbox entry")
        return cls(
            seq=int(obj["seq"]),
            id=str(obj["id"]),
            to=str(obj["to"]),
            channel=str(obj["channel"]),
            sender=str(obj["sender"]),
            text=str(obj["text"]),
            sent_at=float(obj["sent_at"]),
        )

    def __repr__(self) -> str:
        # The text holds a live code: keep it out of reprs and so out of logs.
        return f"OutboxEntry(seq={self.seq}, to={self.to!r}, channel={self.channel!r})"


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


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
        obj = _obj(data, "remaining")
        return cls(
            device_kind=str(obj["device_kind"]),
            per_day_usd=_opt_str(obj.get("per_day_usd")),
            per_window_usd=_opt_str(obj.get("per_window_usd")),
            remaining_day_usd=_opt_str(obj.get("remaining_day_usd")),
            remaining_window_usd=_opt_str(obj.get("remaining_window_usd")),
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
        obj = _obj(data, "withdrawal")
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
        obj = _obj(data, "deposit")
        return cls(
            id=str(obj["id"]),
            amount_usd=str(obj["amount_usd"]),
            method=str(obj["method"]),
            created_at=float(obj["created_at"]),
            ach_eft_total_usd=str(obj["ach_eft_total_usd"]),
        )


@dataclass(frozen=True, slots=True)
class IdentityCheckView:
    """An identity verification support recorded.

    Attributes:
        id: what a temporary passcode request names.
        username: whose identity.
        method: how it was verified (``phone-questions``, ``id-document``, ``video-call``).
        agent: who verified.
        created_at: when.
        expires_at: until when it allows a temporary passcode.
    """

    id: str
    username: str
    method: str
    agent: str
    created_at: float
    expires_at: float

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "id": self.id,
            "username": self.username,
            "method": self.method,
            "agent": self.agent,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: object) -> IdentityCheckView:
        """Read the JSON object."""
        obj = _obj(data, "identity check")
        return cls(
            id=str(obj["id"]),
            username=str(obj["username"]),
            method=str(obj["method"]),
            agent=str(obj["agent"]),
            created_at=float(obj["created_at"]),
            expires_at=float(obj["expires_at"]),
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
        obj = _obj(data, "settings")
        return cls(
            username=str(obj["username"]),
            sls_opted_out=bool(obj["sls_opted_out"]),
            ip_restrictions=tuple(str(a) for a in obj.get("ip_restrictions", ())),
            penny_stocks=bool(obj["penny_stocks"]),
            email=_opt_str(obj.get("email")),
            bank_instructions_set=bool(obj["bank_instructions_set"]),
        )


@dataclass(frozen=True, slots=True)
class MigrationStarted:
    """An IB Key migration to a new phone, waiting for the app's activation.

    Attributes:
        device: the new registration (``pending``).
        method: ``sms`` (the activation token went to the original number) or ``device`` (answer
            ``challenge`` with the user's active physical device to get the token).
        sent_to: the masked number, for ``sms``.
        challenge: what the physical device answers, for ``device``.
    """

    device: DeviceView
    method: str
    sent_to: str | None = None
    challenge: ChallengeView | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "device": self.device.to_json(),
            "method": self.method,
            "sent_to": self.sent_to,
            "challenge": None if self.challenge is None else self.challenge.to_json(),
        }

    @classmethod
    def from_json(cls, data: object) -> MigrationStarted:
        """Read the JSON object."""
        obj = _obj(data, "migration")
        challenge = obj.get("challenge")
        return cls(
            device=DeviceView.from_json(obj["device"]),
            method=str(obj["method"]),
            sent_to=_opt_str(obj.get("sent_to")),
            challenge=None if challenge is None else ChallengeView.from_json(challenge),
        )
