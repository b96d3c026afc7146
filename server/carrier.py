"""Delivery of SMS texts and voice calls through a carrier.

The server hands every text and call to a :class:`Carrier`. The default, :class:`OutboxCarrier`,
delivers nothing: it keeps each message in the database's outbox, sealed like any secret (a
message holds a live code), and the API serves the outbox to the emulated phone. A real SMS gateway
plugs in by implementing :class:`Carrier`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sqlalchemy import select

from tokensim.protocol.clock import Clock
from tokensim.server.keys import MasterKey
from tokensim.server.storage.db import Database
from tokensim.server.storage.models import OutboxMessage
from tokensim.server.views import OutboxEntry

__all__ = ["CHANNELS", "Carrier", "Message", "OutboxCarrier", "ReadableCarrier", "mask_number"]

#: How a message travels.
CHANNELS = ("sms", "voice")


@dataclass(frozen=True, slots=True)
class Message:
    """One text or call to deliver.

    Attributes:
        to: the phone number.
        channel: ``sms`` or ``voice``.
        sender: who it appears to come from.
        text: the text, or what the voice reads aloud.
    """

    to: str
    channel: str
    sender: str
    text: str

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")

    def __repr__(self) -> str:
        return f"Message(to={mask_number(self.to)!r}, channel={self.channel!r})"


@runtime_checkable
class Carrier(Protocol):
    """Anything that delivers texts and calls."""

    def send(self, message: Message) -> None:
        """Deliver one message (or raise; the caller records the failure)."""
        ...


@runtime_checkable
class ReadableCarrier(Carrier, Protocol):
    """A carrier whose deliveries can be read back, as the outbox can."""

    def messages(self, *, to: str | None = None, after: int = 0, limit: int = 100) -> list[OutboxEntry]:
        """Delivered messages after sequence number ``after``, oldest first."""
        ...


class OutboxCarrier:
    """The default carrier: every message goes to the outbox table, sealed under the master key.

    Args:
        db: the database.
        keys: seals message bodies.
        clock: timestamps.
        rng: message identifiers.
    """

    def __init__(self, db: Database, keys: MasterKey, clock: Clock, rng: random.Random) -> None:
        self._db = db
        self._keys = keys
        self._clock = clock
        self._rng = rng

    def send(self, message: Message) -> None:
        """Store the message in the outbox."""
        message_id = self._rng.randbytes(16).hex()
        body = self._keys.seal(message.text.encode(), "outbox", message_id, "body")
        with self._db.write() as session:
            session.add(
                OutboxMessage(
                    id=message_id,
                    to_number=message.to,
                    channel=message.channel,
                    sender=message.sender,
                    body=body,
                    created_at=self._clock.now(),
                )
            )

    def messages(self, *, to: str | None = None, after: int = 0, limit: int = 100) -> list[OutboxEntry]:
        """Messages after sequence number ``after``, oldest first, optionally to one number."""
        query = (
            select(OutboxMessage).where(OutboxMessage.seq > after).order_by(OutboxMessage.seq).limit(limit)
        )
        if to is not None:
            query = query.where(OutboxMessage.to_number == to)
        with self._db.read() as session:
            rows = list(session.scalars(query))
        return [
            OutboxEntry(
                seq=row.seq,
                id=row.id,
                to=row.to_number,
                channel=row.channel,
                sender=row.sender,
                text=self._keys.open(row.body, "outbox", row.id, "body").decode(),
                sent_at=row.created_at,
            )
            for row in rows
        ]


def mask_number(number: str) -> str:
    """A phone number with all but its last 4 digits hidden, as a login screen shows it.

    >>> mask_number("+15551234567")
    '+*******4567'
    """
    keep = 4
    if len(number) <= keep:
        return "*" * len(number)
    head = number[0] if number.startswith("+") else ""
    return head + "*" * (len(number) - keep - len(head)) + number[-keep:]
