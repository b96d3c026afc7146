"""Snapshot of the IB Key tab: an activated user with a login request waiting for approval."""

from __future__ import annotations

import pytest

from tokensim.emulators.keypad.app import KeypadApp
from tokensim.emulators.keypad.store import DeviceStore
from tokensim.protocol.clock import FixedClock

from .conftest import SIZE, activated_ib_key, login_request
from .snapshots import compare, take

pytestmark = pytest.mark.anyio


async def test_ib_key_face_with_a_pending_request(keypad_clock: FixedClock) -> None:
    ib_key = activated_ib_key(keypad_clock)
    ib_key.receive_push(login_request(keypad_clock))
    app = KeypadApp(DeviceStore([ib_key]), initial_tab="tab-ib-key")
    async with app.run_test(size=SIZE) as pilot:
        assert await pilot.click("#ibkey-pin")
        await pilot.press(*"12")
        compare(await take(pilot), "ib_key")
