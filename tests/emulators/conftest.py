"""Fixtures shared by the device tests: a clock the test moves by hand and a key-sequence helper."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tokensim.emulators import Device
from tokensim.protocol import FixedClock

#: Where every test clock starts: a time well inside any TOTP step arithmetic, 2023-11-14 22:13:20 UTC.
START = 1_700_000_000.0

KeyPresser = Callable[..., None]


def press_keys(device: Device, *keys: str) -> None:
    """Press each key; a run of digits ("1234") is typed one digit at a time."""
    for key in keys:
        if key.isdigit():
            for digit in key:
                device.press(digit)
        else:
            device.press(key)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def keys() -> KeyPresser:
    return press_keys
