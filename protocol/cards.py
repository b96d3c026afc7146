"""Code cards: look-up secrets printed as a grid of indexed cells.

A card is derived from a secret: the value of cell ``i`` is HMAC-SHA256(secret, "tokensim-card" ||
i) read as a number and written in the card's alphabet. This derivation is tokensim's emulation
choice; the real cards' generation is not published. The verifier only needs the secret, not a
stored table, and a printed card and the verifier always agree.

A challenge names two distinct cells; the answer is their two values typed one after the other, with
no space. Input is forgiving about case and white space and compared in constant time.

Example:
    >>> card = CodeCard(bytes(16), CardKind.ONLINE)
    >>> len(card.value(1)), card.value(1).isdigit()
    (3, True)
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import random
import secrets
from dataclasses import dataclass

from tokensim.protocol.errors import InvalidCode, InvalidParameter

__all__ = [
    "CELL_COUNT",
    "CardKind",
    "CodeCard",
    "normalize_answer",
]

#: Cells on a card, numbered 1 to 224.
CELL_COUNT = 224
_CELL_LABEL = b"tokensim-card"


class CardKind(enum.Enum):
    """The two printed cards and the alphabet of their 3-character cells."""

    #: The permanent Security Code Card: letters and digits, e.g. ``A3D``.
    SECURITY_CODE_CARD = "security-code-card"
    #: The printable Online Security Code Card: digits only, e.g. ``407``.
    ONLINE = "online-security-code-card"

    @property
    def alphabet(self) -> str:
        """The characters a cell may hold."""
        if self is CardKind.ONLINE:
            return "0123456789"
        return "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def normalize_answer(answer: str) -> str:
    """Drop every white-space character and upper-case the rest: ``' a3d z3v '`` becomes ``'A3DZ3V'``."""
    return "".join(answer.split()).upper()


@dataclass(frozen=True, slots=True)
class CodeCard:
    """A card of ``cells`` indexed 3-character values derived from ``secret``.

    Attributes:
        secret: the card's secret, at least 16 bytes.
        kind: which card, and so which alphabet.
        cells: how many cells it has (224 by default).
    """

    secret: bytes
    kind: CardKind = CardKind.SECURITY_CODE_CARD
    cells: int = CELL_COUNT

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise InvalidParameter("a card secret must be at least 16 bytes")
        if self.cells < 2:
            raise InvalidParameter("a card needs at least 2 cells")

    def value(self, index: int) -> str:
        """Return the 3-character value printed in cell ``index`` (1-based)."""
        if not 1 <= index <= self.cells:
            raise InvalidParameter(f"card index must be from 1 to {self.cells}, got {index}")
        digest = hmac.new(self.secret, _CELL_LABEL + index.to_bytes(2, "big"), hashlib.sha256).digest()
        # 64 bits reduced modulo at most 36**3: the bias is below 2**-47.
        number = int.from_bytes(digest[:8], "big")
        alphabet = self.kind.alphabet
        chars = []
        for _ in range(3):
            number, remainder = divmod(number, len(alphabet))
            chars.append(alphabet[remainder])
        return "".join(chars)

    def table(self) -> list[tuple[int, str]]:
        """Every ``(index, value)`` pair, in index order."""
        return [(index, self.value(index)) for index in range(1, self.cells + 1)]

    def draw_indices(self, rng: random.Random | None = None, count: int = 2) -> tuple[int, ...]:
        """Draw ``count`` distinct cell indices for a challenge.

        Args:
            rng: the random source; :class:`secrets.SystemRandom` when ``None``. Tests pass a seeded
                :class:`random.Random`.
        """
        source = secrets.SystemRandom() if rng is None else rng
        if not 1 <= count <= self.cells:
            raise InvalidParameter(f"cannot draw {count} distinct cells from {self.cells}")
        return tuple(source.sample(range(1, self.cells + 1), count))

    def expected_answer(self, indices: tuple[int, ...]) -> str:
        """The values of ``indices`` concatenated: what the user types."""
        if len(set(indices)) != len(indices):
            raise InvalidParameter("challenge indices must be distinct")
        return "".join(self.value(index) for index in indices)

    def check_answer(self, indices: tuple[int, ...], answer: str) -> None:
        """Check a typed answer in constant time, ignoring case and white space.

        Raises:
            InvalidCode: the answer is wrong.
        """
        expected = self.expected_answer(indices).encode()
        presented = normalize_answer(answer).encode("utf-8", "replace")
        if not hmac.compare_digest(expected, presented):
            raise InvalidCode("card answer does not match")
