"""The Textual driver of a keypad served in a browser: it ends the app when the server that runs it goes.

textual-serve runs one app process per browser session and talks to it over the process's stdin and
stdout. Textual's own :class:`~textual.drivers.web_driver.WebDriver` stops reading when stdin ends,
but leaves the app running; if the server died (or was killed) the app would then live on, an orphan
writing to a closed pipe. This driver turns both signs of a lost server (stdin at its end, a write to
stdout that finds no reader) into a normal exit, so the app saves its state file and is gone.

``tokensim keypad --serve`` names this class in ``$TEXTUAL_DRIVER`` for the processes it starts
(:mod:`tokensim.emulators.keypad.serve`).
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from textual import messages
from textual.app import App
from textual.drivers.web_driver import WebDriver

__all__ = ["DRIVER_PATH", "KeypadWebDriver"]

#: The ``$TEXTUAL_DRIVER`` value that selects :class:`KeypadWebDriver`.
DRIVER_PATH = f"{__name__}:KeypadWebDriver"


class KeypadWebDriver(WebDriver):
    """Textual's web driver, which exits the app once its server is gone; see the module docstring."""

    def __init__(
        self, app: App[Any], *, debug: bool = False, mouse: bool = True, size: tuple[int, int] | None = None
    ) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)  # keeps the running loop in _loop
        self._lost = threading.Event()
        fileno = self.fileno

        def write(data: bytes) -> int:
            if self._lost.is_set():
                return len(data)  # nobody reads any more: drop the output while the app exits
            try:
                return os.write(fileno, data)
            except OSError:  # EPIPE: the server closed its end
                self._server_lost()
                return len(data)

        self._write = write  # type: ignore[assignment]  # a function in place of Textual's partial

    def run_input_thread(self) -> None:
        """Read the server's packets until stdin ends; an end the app did not ask for means exit."""
        super().run_input_thread()
        if not self.exit_event.is_set():
            self._server_lost()

    def _server_lost(self) -> None:
        if self._lost.is_set():
            return
        self._lost.set()
        loop = self._loop
        if not loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._app._post_message(messages.ExitApp()), loop=loop)
