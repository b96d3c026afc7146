"""The Online Security Code Card: a printable temporary card of 3-digit cells, with its dates.

The card is printed from the portal and valid for a limited time; its issue and expiry times are
printed on it (ISO 8601 date and time, UTC). The provisioning's ``issued_at`` is required; when
``expires_at`` is missing the card expires :data:`VALIDITY_DAYS` days after issue, matching the
published 21-day lifespan. The cell values come from :class:`~tokensim.protocol.cards.CodeCard` with
digits only, which is tokensim's emulation choice, not the vendor's generation.
"""

from __future__ import annotations

import random
from typing import ClassVar

from tokensim.emulators.printed_card import PrintedCard
from tokensim.protocol.cards import CardKind
from tokensim.protocol.clock import Clock, printed_time
from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.provisioning import Provisioning

__all__ = ["VALIDITY_DAYS", "OnlineSecurityCodeCard"]

#: Days an online card is valid when the provisioning gives no expiry.
VALIDITY_DAYS = 21


class OnlineSecurityCodeCard(PrintedCard):
    """A printed Online Security Code Card.

    Args:
        provisioning: serial, secret (at least 16 bytes), ``issued_at`` and optionally ``expires_at``.
        clock: where :attr:`expired` reads the time.
        rng: unused by a printed card; kept for the common contract.

    Raises:
        InvalidParameter: ``issued_at`` is missing, or the card would expire before it is issued.
    """

    kind: ClassVar[str] = "online-scc"
    card_kind: ClassVar[CardKind] = CardKind.ONLINE
    title: ClassVar[str] = "ONLINE SECURITY CODE CARD"

    def __init__(
        self, provisioning: Provisioning, *, clock: Clock | None = None, rng: random.Random | None = None
    ) -> None:
        super().__init__(provisioning, clock=clock, rng=rng)
        if provisioning.issued_at is None:
            raise InvalidParameter("an online card needs 'issued_at'")
        self._issued_at = provisioning.issued_at
        expires_at = provisioning.expires_at
        self._expires_at = self._issued_at + VALIDITY_DAYS * 86400 if expires_at is None else expires_at
        if self._expires_at <= self._issued_at:
            raise InvalidParameter("an online card must expire after it is issued")

    @property
    def issued_at(self) -> float:
        """Unix time the card was issued."""
        return self._issued_at

    @property
    def expires_at(self) -> float:
        """Unix time the card stops being accepted."""
        return self._expires_at

    @property
    def expired(self) -> bool:
        """Whether the clock has reached the expiry time."""
        return self._clock.now() >= self._expires_at

    def header_lines(self) -> list[str]:
        """Title, serial, and the issue and expiry times (UTC, to the minute)."""
        issued, expires = (
            printed_time(self._issued_at, short=True),
            printed_time(self._expires_at, short=True),
        )
        return [*super().header_lines(), f"Issued {issued}   Expires {expires}"]
