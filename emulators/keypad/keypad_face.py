"""The face of a keypad device (DSC, DSC+, Gold, Platinum): its LCD line, its keys and its time-out.

The LCD shows exactly the device's :attr:`~tokensim.emulators.base.Device.screen`; each key, clicked or
typed, is one :meth:`~tokensim.emulators.base.Device.press`. The face keeps no state of its own beyond
what it mirrors from the device into reactives (:attr:`KeypadFace.lcd`, :attr:`KeypadFace.seconds_left`).

Every press registers, however fast the keys come: the keyboard bindings call the device directly, and
the buttons have no "active" effect, during which Textual ignores further clicks on a button.
"""

from __future__ import annotations

import math
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Label, Static

from tokensim.emulators.base import Device
from tokensim.emulators.keypad.device_view import device_title, seconds_left

__all__ = ["DIM_SECONDS", "KeyButton", "KeypadFace", "key_id"]

#: With this many seconds or fewer before the display changes by itself, the LCD dims.
DIM_SECONDS = 10.0

_LAYOUT: tuple[tuple[str, str], ...] = (
    ("1", "1"),
    ("2", "2"),
    ("3", "3"),
    ("4", "4"),
    ("5", "5"),
    ("6", "6"),
    ("7", "7"),
    ("8", "8"),
    ("9", "9"),
    ("BACK", "BACK"),
    ("0", "0"),
    ("OK", "OK"),
)


def key_id(key: str) -> str:
    """The widget id of a device key's button: ``"7"`` gives ``"key-7"``, ``"OK"`` gives ``"key-ok"``."""
    return f"key-{key.lower()}"


class KeyButton(Button, can_focus=False):
    """One key of a device. It never takes the focus, so Enter always means the device's OK key.

    Args:
        key: the device key it presses (one of :data:`~tokensim.emulators.base.KEYS`).
        label: what the button shows.
    """

    def __init__(self, key: str, label: str) -> None:
        super().__init__(label, id=key_id(key), classes="key")
        self.device_key = key
        # Textual ignores clicks while a button shows its press effect: a keypad must take them all.
        self.active_effect_duration = 0


class KeypadFace(Widget, can_focus=True):
    """A keypad device's face; focus it and type, or click its keys.

    Args:
        device: the device it shows.
        id: the widget id.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(digit, f"key('{digit}')", digit, show=False) for digit in "0123456789"),
        Binding("enter", "key('OK')", "OK"),
        Binding("backspace", "key('BACK')", "Back"),
        Binding("p", "key('PRESS')", "Press"),
    ]

    #: The LCD line: always the device's screen as last read.
    lcd: reactive[str] = reactive("", init=False)
    #: Seconds until the display changes by itself (power-off, code cleared), or ``None``.
    seconds_left: reactive[float | None] = reactive(None, init=False)

    class KeyPressed(Message):
        """A key of the device was pressed (posted after the device took it).

        Args:
            face: the face whose device it was.
            key: the device key.
        """

        def __init__(self, face: KeypadFace, key: str) -> None:
            super().__init__()
            self.face = face
            self.key = key

    def __init__(self, device: Device, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="face keypad-face")
        self.device = device
        self.presses = 0

    def compose(self) -> ComposeResult:
        """The title, the LCD, the time-out line and the keys."""
        yield Label(device_title(self.device), classes="face-title")
        yield Static(id="lcd", classes="lcd", markup=False)
        yield Static(id="timeout", classes="timeout", markup=False)
        yield KeyButton("PRESS", "PRESS")
        with Grid(classes="keys"):
            for key, label in _LAYOUT:
                yield KeyButton(key, label)

    def on_mount(self) -> None:
        """Show the device as it is now."""
        self.sync()
        self._show_lcd(self.lcd)
        self._show_timeout(self.seconds_left)

    def sync(self) -> None:
        """Read the device's screen and time-out again (the app's interval timer calls this)."""
        self.lcd = self.device.screen
        self.seconds_left = seconds_left(self.device)

    def press_key(self, key: str) -> None:
        """Press one device key and show the result.

        Args:
            key: one of :data:`~tokensim.emulators.base.KEYS`.
        """
        self.device.press(key)
        self.presses += 1
        self.sync()
        self.post_message(self.KeyPressed(self, key))

    def action_key(self, key: str) -> None:
        """Binding action: press ``key``."""
        self.press_key(key)

    @on(Button.Pressed, ".key")
    def _clicked(self, event: Button.Pressed) -> None:
        event.stop()
        if isinstance(event.button, KeyButton):
            self.press_key(event.button.device_key)

    def watch_lcd(self, value: str) -> None:
        self._show_lcd(value)

    def watch_seconds_left(self, value: float | None) -> None:
        self._show_timeout(value)

    def _show_lcd(self, value: str) -> None:
        lcd = self.query_one("#lcd", Static)
        lcd.update(Text(value))
        lcd.set_class(not value, "-off")

    def _show_timeout(self, value: float | None) -> None:
        line = self.query_one("#timeout", Static)
        if value is None or not self.lcd:
            line.update("")
        else:
            line.update(f"display off in {math.ceil(value)} s")
        self.query_one("#lcd", Static).set_class(value is not None and value <= DIM_SECONDS, "-dim")
