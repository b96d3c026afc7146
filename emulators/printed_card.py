"""What the two printed code cards share: a :class:`~tokensim.protocol.cards.CodeCard` and its print.

A printed card has no display and no buttons. Its :attr:`~tokensim.emulators.base.Device.screen` is
the face of the card as text (what the user looks at), and every key is accepted and changes nothing.

The layout is our choice (the real card's geometry is not published): the cells run down
:data:`COLUMNS` columns in index order, each cell printed as its index and its 3-character value, the
serial number printed above them.
"""

from __future__ import annotations

import abc
import random
from collections.abc import Sequence
from typing import Any, ClassVar
from xml.etree import ElementTree as ET

from tokensim.emulators.base import Device, StateReader
from tokensim.protocol.cards import CardKind, CodeCard
from tokensim.protocol.clock import Clock
from tokensim.protocol.provisioning import Provisioning

__all__ = ["COLUMNS", "PrintedCard"]

#: Columns of index/value pairs on the printed card.
COLUMNS = 8

_SVG_NS = "http://www.w3.org/2000/svg"
# SVG user units per millimetre: the drawing is laid out in tenths of a millimetre.
_UNITS_PER_MM = 10
_CELL_WIDTH = 200
_ROW_HEIGHT = 50
_MARGIN = 80
_HEADER_LINE = 60


class PrintedCard(Device, abc.ABC):
    """A code card as printed; subclasses choose the cell alphabet and the header lines.

    Raises:
        InvalidParameter: the secret is shorter than 16 bytes.
    """

    #: Which card, and so which alphabet its cells use.
    card_kind: ClassVar[CardKind]
    #: The title printed at the top.
    title: ClassVar[str]

    def __init__(
        self, provisioning: Provisioning, *, clock: Clock | None = None, rng: random.Random | None = None
    ) -> None:
        super().__init__(provisioning, clock=clock, rng=rng)
        self._card = CodeCard(provisioning.secret, self.card_kind)

    @property
    def card(self) -> CodeCard:
        """The card model every value comes from (and that a verifier with the secret agrees with)."""
        return self._card

    def value(self, index: int) -> str:
        """The 3-character value printed beside ``index`` (1-based).

        Raises:
            InvalidParameter: the index is not on the card.
        """
        return self.card.value(index)

    def answer(self, indices: Sequence[int]) -> str:
        """What the user types for a challenge naming ``indices``: their values, no spaces between.

        Raises:
            InvalidParameter: an index is not on the card, or an index repeats.
        """
        return self.card.expected_answer(tuple(indices))

    def header_lines(self) -> list[str]:
        """The lines printed above the cells: the title, the serial and whatever the kind adds."""
        return [self.title, f"Serial {self.serial}"]

    def _rows(self) -> int:
        return -(-self.card.cells // COLUMNS)

    def _layout(self) -> list[list[tuple[int, str]]]:
        """Rows of (index, value), the indices running down each column."""
        table = self.card.table()
        rows = self._rows()
        return [
            [table[column * rows + row] for column in range(COLUMNS) if column * rows + row < len(table)]
            for row in range(rows)
        ]

    def render_text(self) -> str:
        """The card as plain text, one printed row per line (monospace)."""
        width = len(str(self.card.cells))
        lines = list(self.header_lines())
        lines.append("")
        for row in self._layout():
            lines.append("   ".join(f"{index:>{width}} {value}" for index, value in row))
        return "\n".join(lines) + "\n"

    def render_svg(self) -> str:
        """The card as a printable SVG document, sized in millimetres.

        Each cell is one ``<text>`` element with a ``data-index`` attribute, so a test or a script can
        read the printed values back.
        """
        rows = self._rows()
        header = self.header_lines()
        width = 2 * _MARGIN + COLUMNS * _CELL_WIDTH
        height = 2 * _MARGIN + (len(header) + 1) * _HEADER_LINE + rows * _ROW_HEIGHT
        svg = ET.Element(
            "svg",
            {
                "xmlns": _SVG_NS,
                "width": f"{width / _UNITS_PER_MM:g}mm",
                "height": f"{height / _UNITS_PER_MM:g}mm",
                "viewBox": f"0 0 {width} {height}",
                "font-family": "DejaVu Sans Mono, Courier New, monospace",
            },
        )
        ET.SubElement(svg, "title").text = f"{self.title} {self.serial}"
        ET.SubElement(
            svg,
            "rect",
            {
                "x": "10",
                "y": "10",
                "width": str(width - 20),
                "height": str(height - 20),
                "rx": "40",
                "fill": "white",
                "stroke": "black",
                "stroke-width": "4",
            },
        )
        y = _MARGIN + _HEADER_LINE
        for number, line in enumerate(header):
            attributes = {"x": str(_MARGIN), "y": str(y), "font-size": "44" if number == 0 else "34"}
            if number == 0:
                attributes["font-weight"] = "bold"
            ET.SubElement(svg, "text", attributes).text = line
            y += _HEADER_LINE
        top = y + _HEADER_LINE // 2
        for row_number, row in enumerate(self._layout()):
            for column, (index, value) in enumerate(row):
                cell = ET.SubElement(
                    svg,
                    "text",
                    {
                        "x": str(_MARGIN + column * _CELL_WIDTH),
                        "y": str(top + row_number * _ROW_HEIGHT),
                        "font-size": "36",
                        "data-index": str(index),
                        "xml:space": "preserve",
                    },
                )
                label = ET.SubElement(cell, "tspan", {"fill": "#555555"})
                label.text = f"{index:>3}"
                label.tail = " "
                ET.SubElement(cell, "tspan", {"font-weight": "bold"}).text = value
        return ET.tostring(svg, encoding="unicode", xml_declaration=True) + "\n"

    def _render(self, now: float) -> str:
        return self.render_text()

    def _press(self, key: str, now: float) -> None:
        """A printed card has no keys: pressing one changes nothing."""

    def _state(self) -> dict[str, Any]:
        return {}

    def _restore(self, state: StateReader) -> None:
        """A printed card never changes, so there is nothing to restore."""
