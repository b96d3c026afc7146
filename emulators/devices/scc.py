"""The Security Code Card: a permanent printed card of 224 cells of 3 letters or digits.

At login the server names two cell indices and the user types the two values with no space between.
The values come from :class:`~tokensim.protocol.cards.CodeCard` (HMAC-SHA256 of the index under the
card's secret), which is tokensim's emulation choice: the real cards' generation is not published.

Example:
    >>> from tokensim.protocol import DeviceKind, Provisioning
    >>> card = SecurityCodeCard(Provisioning(kind=DeviceKind.SCC, serial="SCC-1", secret=bytes(16)))
    >>> len(card.answer([100, 50]))
    6
"""

from __future__ import annotations

from typing import ClassVar

from tokensim.emulators.printed_card import PrintedCard
from tokensim.protocol.cards import CardKind

__all__ = ["SecurityCodeCard"]


class SecurityCodeCard(PrintedCard):
    """A Security Code Card; its screen is the face of the card as text.

    Args:
        provisioning: serial and secret (at least 16 bytes).
        clock: unused by a printed card; kept for the common contract.
        rng: unused by a printed card; kept for the common contract.
    """

    kind: ClassVar[str] = "scc"
    card_kind: ClassVar[CardKind] = CardKind.SECURITY_CODE_CARD
    title: ClassVar[str] = "SECURITY CODE CARD"
