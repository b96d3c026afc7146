"""The face of a printed code card (Security Code Card, Online Security Code Card).

The card is shown exactly as the device prints it (its :attr:`~tokensim.emulators.base.Device.screen`),
with a search box: type an index and the face shows that cell's value, as the device gives it, and
highlights the cell on the printed grid, so a QA person answering a grid challenge does not hunt through
224 cells.
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from tokensim.emulators.base import Device
from tokensim.emulators.keypad.device_view import device_title
from tokensim.protocol.errors import TokensimError

__all__ = ["CardDevice", "CardFace", "parse_indices"]


@runtime_checkable
class CardDevice(Protocol):
    """What the face needs of a printed card beyond the :class:`Device` contract."""

    def value(self, index: int) -> str:
        """The value printed beside ``index``."""
        ...


class CardFace(Widget):
    """A printed card with an index search box.

    Args:
        device: the card; it must have a ``value(index)`` method (:class:`CardDevice`).
        id: the widget id.
    """

    #: The indices being looked up, in the order typed (none when the box is empty).
    indices: reactive[tuple[int, ...]] = reactive((), init=False)

    def __init__(self, device: Device, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="face card-face")
        self.device = device

    def compose(self) -> ComposeResult:
        """The title, the search box with its answer, and the printed card."""
        yield Label(device_title(self.device), classes="face-title")
        with Horizontal(classes="row"):
            yield Label("Index", classes="field-label")
            yield Input(
                placeholder="1-224, or several: 135 97",
                id="card-search",
                restrict=r"[0-9 ,;/.+-]*",
                max_length=40,
            )
            yield Static(id="card-value", classes="card-value", markup=False)
        yield Static(id="card-grid", classes="card-grid", markup=False)

    def on_mount(self) -> None:
        """Show the printed card."""
        self._show(())

    @on(Input.Changed, "#card-search")
    def _search(self, event: Input.Changed) -> None:
        event.stop()
        self.indices = parse_indices(event.value)

    def watch_indices(self, indices: tuple[int, ...]) -> None:
        self._show(indices)

    def _show(self, indices: tuple[int, ...]) -> None:
        grid = Text(self.device.screen)
        answer = self.query_one("#card-value", Static)
        answer.set_class(False, "-error")
        if not indices:
            answer.update("")
        elif not isinstance(self.device, CardDevice):
            answer.update("this device has no cells")
        else:
            shown: list[str] = []
            for index in indices:
                try:
                    value = self.device.value(index)
                except TokensimError:
                    shown.append(f"{index} is not on this card")
                    answer.set_class(True, "-error")
                    continue
                shown.append(f"{index} → {value}")
                # The printed cell is its index, a space and the value; mark that one on the grid.
                pattern = rf"(?<![0-9A-Z]){index} {re.escape(value)}(?![0-9A-Z])"
                grid.highlight_regex(pattern, style="bold reverse")
            answer.update("   ".join(shown))
        self.query_one("#card-grid", Static).update(grid)


def parse_indices(typed: str) -> tuple[int, ...]:
    """The card indices in what was typed: numbers split by spaces or any other separators.

    ``"135 97"``, ``"135,97"`` and ``"135-97"`` all give ``(135, 97)``; an empty box gives ``()``.
    """
    return tuple(int(number) for number in re.findall(r"[0-9]+", typed))
