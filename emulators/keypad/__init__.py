"""``tokensim keypad``: a Textual terminal UI over the emulated devices, for QA people who log in by hand.

One tab per device kind (code cards, DSC, DSC+, Gold/Platinum, IB Key, phone) and a mock login portal.
The app is a thin view: the devices (:mod:`tokensim.emulators.devices`) do all the work, and the
faces mirror what they show. The server is reached only through :class:`PortalBackend`, which the
server's harness implements; the devices are kept in a :class:`DeviceStore` state file between runs.

Example:
    >>> from tokensim.emulators.keypad import DeviceStore, KeypadApp
    >>> KeypadApp(DeviceStore()).title
    'tokensim keypad'
"""

from tokensim.emulators.keypad.app import TABS, KeypadApp, face_id
from tokensim.emulators.keypad.backend import (
    DEFAULT_SERVER_URL,
    BackendError,
    CarrierMessage,
    Connection,
    DeviceChoice,
    LoginResult,
    LoginStart,
    PortalBackend,
)
from tokensim.emulators.keypad.store import STATE_ENV, DeviceStore, default_state_path

__all__ = [
    "DEFAULT_SERVER_URL",
    "STATE_ENV",
    "TABS",
    "BackendError",
    "CarrierMessage",
    "Connection",
    "DeviceChoice",
    "DeviceStore",
    "KeypadApp",
    "LoginResult",
    "LoginStart",
    "PortalBackend",
    "default_state_path",
    "face_id",
]
