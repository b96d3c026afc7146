"""``tokensim keypad``: every virtual device, a phone and a mock login portal in one Textual app.

The app is a thin view. Each tab shows the faces of the devices of one kind from the
:class:`~tokensim.emulators.keypad.store.DeviceStore`; every key or button goes to the device, and the
faces mirror what the device then shows. Devices run no timers, so an interval timer re-reads every
keypad face (its screen and its display time-out, by the device's own clock) a few times a second.
The state file is saved when the app exits and on ``ctrl+s``.

Server calls go through a :class:`~tokensim.emulators.keypad.backend.Connection`; without one the
device tabs still work and the portal says there is no server.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Footer, Header, Input, Label, TabbedContent, TabPane

from tokensim.emulators.base import Device
from tokensim.emulators.devices.ib_key import IbKeyApp
from tokensim.emulators.devices.phone import Phone
from tokensim.emulators.keypad.account import AccountPane
from tokensim.emulators.keypad.backend import Connection
from tokensim.emulators.keypad.card_face import CardFace
from tokensim.emulators.keypad.ib_key_face import IbKeyFace
from tokensim.emulators.keypad.keypad_face import KeypadFace
from tokensim.emulators.keypad.phone_face import PhoneFace
from tokensim.emulators.keypad.portal import PortalPane
from tokensim.emulators.keypad.store import DeviceStore
from tokensim.protocol.errors import TokensimError

__all__ = ["TABS", "KeypadApp", "face_id"]

_log = logging.getLogger(__name__)

#: The tabs: id, title and the device kinds each shows (the portal tab shows no device).
TABS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("tab-cards", "Cards", ("scc", "online-scc")),
    ("tab-dsc", "DSC", ("dsc",)),
    ("tab-dsc-plus", "DSC+", ("dsc-plus",)),
    ("tab-gold-platinum", "Gold/Platinum", ("gold", "platinum")),
    ("tab-ib-key", "IB Key", ("ib-key",)),
    ("tab-phone", "Phone", ("phone",)),
    ("tab-portal", "Portal", ()),
    ("tab-account", "Account", ()),
)


def face_id(device: Device) -> str:
    """The widget id of a device's face, from its kind and serial: ``face-dsc-plus-P-1001``."""
    return "face-" + re.sub(r"[^A-Za-z0-9_-]", "_", f"{device.kind}-{device.serial}")


class KeypadApp(App[None]):
    """The keypad for QA.

    Args:
        store: the devices, and the state file they are saved to.
        connection: the server the portal, phone and IB Key talk to; none when ``None``.
        refresh_seconds: how often the keypad faces re-read their devices (display time-outs).
        poll_seconds: how often the phone and IB Key ask the server for news; never when ``None``.
        initial_tab: the id of the tab shown first (one of :data:`TABS`).
    """

    CSS_PATH = "keypad.tcss"
    TITLE = "tokensim keypad"
    SUB_TITLE = "virtual devices for QA"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+s", "save", "Save devices")]

    def __init__(
        self,
        store: DeviceStore,
        *,
        connection: Connection | None = None,
        refresh_seconds: float = 0.5,
        poll_seconds: float | None = None,
        initial_tab: str | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.connection = Connection() if connection is None else connection
        self._refresh_seconds = refresh_seconds
        self._poll_seconds = poll_seconds
        self._initial_tab = initial_tab or self._first_tab()

    def _first_tab(self) -> str:
        for tab_id, _, kinds in TABS:
            if kinds and self.store.of_kind(*kinds):
                return tab_id
        return "tab-portal"

    def compose(self) -> ComposeResult:
        """The header, one tab per device kind and the portal, and the footer."""
        yield Header(show_clock=False, icon="#")
        with TabbedContent(initial=self._initial_tab, id="tabs"):
            for tab_id, title, kinds in TABS:
                with TabPane(title, id=tab_id):
                    if tab_id == "tab-account":
                        yield AccountPane(self.connection, id="account")
                        continue
                    if not kinds:
                        yield PortalPane(self.connection, id="portal")
                        continue
                    devices = self.store.of_kind(*kinds)
                    if not devices:
                        names = " or ".join(title.split("/"))
                        yield Label(f"No {names} in the state file.", classes="empty")
                    yield from self._faces(devices)
        yield Footer()

    def _faces(self, devices: Iterable[Device]) -> Iterable[Widget]:
        for device in devices:
            if device.kind in ("scc", "online-scc"):
                yield CardFace(device, id=face_id(device))
            elif isinstance(device, IbKeyApp):
                yield IbKeyFace(device, self.connection, poll_seconds=self._poll_seconds, id=face_id(device))
            elif isinstance(device, Phone):
                yield PhoneFace(
                    device, self.connection, self.store, poll_seconds=self._poll_seconds, id=face_id(device)
                )
            else:
                yield KeypadFace(device, id=face_id(device))

    def on_mount(self) -> None:
        """Start the display refresh and put the focus on the first tab's keypad."""
        self.set_interval(self._refresh_seconds, self.refresh_faces)
        self._focus_keypad(self._initial_tab)

    def refresh_faces(self) -> None:
        """Re-read every keypad face's device: display time-outs happen while nobody types."""
        for face in self.query(KeypadFace):
            face.sync()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id is not None:
            self._focus_keypad(event.pane.id)

    def _focus_keypad(self, tab_id: str) -> None:
        pane = self.query_one(f"#{tab_id}", TabPane)
        faces = pane.query(KeypadFace)
        if faces:
            faces.first().focus()
        ib_keys = pane.query(IbKeyFace)
        if ib_keys:
            ib_keys.first().focus_screen()  # the app's PIN and OK keys work without a click

    @on(PortalPane.QrToIbKey)
    def _qr_to_ib_key(self, event: PortalPane.QrToIbKey) -> None:
        faces = self.query(IbKeyFace)
        if not faces:
            self.notify("no IB Key in the state file", severity="error")
            return
        face = faces.first()
        face.query_one("#ibkey-qr", Input).value = event.payload
        self.query_one("#tabs", TabbedContent).active = "tab-ib-key"
        # The clicked button's focus would take the tabs back to the portal: move it to the PIN box,
        # which is what the user types next anyway.
        self.call_after_refresh(face.query_one("#ibkey-pin", Input).focus)

    @on(PortalPane.LoggedIn)
    def _logged_in(self, event: PortalPane.LoggedIn) -> None:
        self.query_one(AccountPane).session = event.result

    @on(AccountPane.DeviceAdded)
    async def _device_added(self, event: AccountPane.DeviceAdded) -> None:
        await self.add_device(event.device)

    async def add_device(self, device: Device) -> None:
        """Put a new device in the state file and its face on its tab, and show that tab."""
        try:
            self.store.add(device)
        except TokensimError as e:
            self.notify(str(e), severity="error")
            return
        tab_id = next((tab for tab, _, kinds in TABS if device.kind in kinds), None)
        if tab_id is None:
            self.notify(f"the keypad has no tab for a {device.kind}", severity="error")
            return
        pane = self.query_one(f"#{tab_id}", TabPane)
        await pane.query(".empty").remove()
        await pane.mount_all(list(self._faces([device])))
        try:
            self.store.save()
        except TokensimError as e:
            self.notify(str(e), severity="error")
        self.notify(f"added {face_id(device).removeprefix('face-')} to the {tab_id.removeprefix('tab-')} tab")

    def action_save(self) -> None:
        """Save every device to the state file."""
        try:
            self.store.save()
        except TokensimError as e:
            self.notify(str(e), severity="error")
            return
        if self.store.path is not None:
            self.notify(f"saved to {self.store.path}")

    def on_unmount(self) -> None:
        """Save the devices on the way out."""
        try:
            self.store.save()
        except TokensimError:
            _log.exception("the keypad state was not saved")
