"""What support reads and records: the audit log's events and identity verifications."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tokensim.server.views._fields import json_object

__all__ = ["AuditRecord", "IdentityCheckView"]


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
        obj = json_object(data, "audit record")
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
        obj = json_object(data, "identity check")
        return cls(
            id=str(obj["id"]),
            username=str(obj["username"]),
            method=str(obj["method"]),
            agent=str(obj["agent"]),
            created_at=float(obj["created_at"]),
            expires_at=float(obj["expires_at"]),
        )
