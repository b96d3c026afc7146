"""A login's steps: the password accepted, the temporary devices' stages, a challenge, the session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tokensim.protocol.messages import Challenge
from tokensim.server.views._fields import json_object, opt_float
from tokensim.server.views.accounts import DeviceView

__all__ = ["ChallengeView", "LoginStarted", "SessionGrant", "SessionInfo", "TemporaryStage"]


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
        obj = json_object(data, "temporary stage")
        return cls(
            device_id=str(obj["device_id"]),
            kind=str(obj["kind"]),
            stage=str(obj["stage"]),
            stage_ends_at=opt_float(obj.get("stage_ends_at")),
            expires_at=opt_float(obj.get("expires_at")),
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
        obj = json_object(data, "login")
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
        obj = dict(json_object(data, "challenge"))
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
        obj = json_object(data, "session")
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
        obj = json_object(data, "session")
        return cls(
            username=str(obj["username"]),
            scope=tuple(obj["scope"]),
            device_kind=obj.get("device_kind"),
            created_at=float(obj["created_at"]),
            expires_at=float(obj["expires_at"]),
        )
