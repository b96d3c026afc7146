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

__all__ = ["CardDevice", "CardFace"]


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

    #: The index being looked up, or ``None``.
    index: reactive[int | None] = reactive(None, init=False)

    def __init__(self, device: Device, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="face card-face")
        self.device = device

    def compose(self) -> ComposeResult:
        """The title, the search box with its answer, and the printed card."""
        yield Label(device_title(self.device), classes="face-title")
        with Horizontal(classes="row"):
            yield Label("Index", classes="field-label")
            yield Input(placeholder="1-224", id="card-search", restrict=r"[0-9]*", max_length=4)
            yield Static(id="card-value", classes="card-value", markup=False)
        yield Static(id="card-grid", classes="card-grid", markup=False)

    def on_mount(self) -> None:
        """Show the printed card."""
        self._show(None)

    @on(Input.Changed, "#card-search")
    def _search(self, event: Input.Changed) -> None:
        event.stop()
        self.index = int(event.value) if event.value.isdigit() else None

    def watch_index(self, index: int | None) -> None:
        self._show(index)

    def _show(self, index: int | None) -> None:
        grid = Text(self.device.screen)
        answer = self.query_one("#card-value", Static)
        answer.set_class(False, "-error")
        if index is None:
            answer.update("")
        elif not isinstance(self.device, CardDevice):
            answer.update("this device has no cells")
        else:
            try:
                value = self.device.value(index)
            except TokensimError:
                answer.update(f"{index} is not on this card")
                answer.set_class(True, "-error")
            else:
                answer.update(f"{index} → {value}")
                # The printed cell is its index, a space and the value; mark that one on the grid.
                pattern = rf"(?<![0-9A-Z]){index} {re.escape(value)}(?![0-9A-Z])"
                grid.highlight_regex(pattern, style="bold reverse")
        self.query_one("#card-grid", Static).update(grid)
