"""Snapshot of the DSC tab: the legacy card showing its code after the PIN, with the time-out visible."""

from __future__ import annotations

import pytest

from tokensim.emulators.keypad.app import KeypadApp
from tokensim.emulators.keypad.store import DeviceStore

from .conftest import SIZE
from .snapshots import compare, take

pytestmark = pytest.mark.anyio


async def test_dsc_face(store: DeviceStore) -> None:
    app = KeypadApp(store, initial_tab="tab-dsc")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p", *"2468", "enter")
        compare(await take(pilot), "dsc")
