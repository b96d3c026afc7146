"""Read-only facts about a device that the faces show: its name and when its display goes off.

Nothing here changes a device. The display time-out is the device's own
(:meth:`~tokensim.emulators.base.Device.display_deadline`) compared with the device's own clock, so
the countdown a face shows is exactly the time-out the device applies the next time its screen is
read (devices run no timers; see :mod:`tokensim.emulators.base`).
"""

from __future__ import annotations

from collections.abc import Mapping

from tokensim.emulators.base import Device

__all__ = ["KIND_NAMES", "device_title", "seconds_left"]

#: How the keypad names each kind.
KIND_NAMES: Mapping[str, str] = {
    "scc": "Security Code Card",
    "online-scc": "Online Security Code Card",
    "dsc": "DSC",
    "dsc-plus": "DSC+",
    "gold": "Gold",
    "platinum": "Platinum",
    "ib-key": "IB Key",
    "phone": "Phone",
}


def device_title(device: Device) -> str:
    """The device's kind and serial as a face's title, e.g. ``"DSC+ P-1001"``."""
    return f"{KIND_NAMES.get(device.kind, device.kind)} {device.serial}"


def seconds_left(device: Device) -> float | None:
    """Seconds until the display changes by itself, by the device's clock (never negative), or ``None``."""
    deadline = device.display_deadline
    if deadline is None:
        return None
    return max(0.0, deadline - device.clock.now())
