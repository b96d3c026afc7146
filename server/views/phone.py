"""Phones and IB Key: an IB Key migration to a new phone, and the texts and calls the outbox delivered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tokensim.server.views._fields import json_object, opt_str
from tokensim.server.views.accounts import DeviceView
from tokensim.server.views.login import ChallengeView

__all__ = ["MigrationStarted", "OutboxEntry"]


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
        obj = json_object(data, "migration")
        challenge = obj.get("challenge")
        return cls(
            device=DeviceView.from_json(obj["device"]),
            method=str(obj["method"]),
            sent_to=opt_str(obj.get("sent_to")),
            challenge=None if challenge is None else ChallengeView.from_json(challenge),
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
        obj = json_object(data, "outbox entry")
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
