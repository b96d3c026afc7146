"""Snapshot of the Phone tab: an opened SMS and a newer voice call, highlighted as new, newest first."""

from __future__ import annotations

import pytest

from tokensim.emulators.keypad.app import KeypadApp
from tokensim.emulators.keypad.store import DeviceStore
from tokensim.protocol.clock import FixedClock

from .conftest import SIZE, phone_with_messages
from .snapshots import compare, take

pytestmark = pytest.mark.anyio


async def test_phone_face_with_messages(keypad_clock: FixedClock) -> None:
    app = KeypadApp(DeviceStore([phone_with_messages(keypad_clock)]), initial_tab="tab-phone")
    async with app.run_test(size=SIZE) as pilot:
        compare(await take(pilot), "phone")
