"""Snapshot of the Cards tab: the Security Code Card with indices 100 and 50 looked up and marked."""

from __future__ import annotations

import pytest

from tokensim.emulators import Device
from tokensim.emulators.keypad.app import KeypadApp, face_id
from tokensim.emulators.keypad.store import DeviceStore

from .conftest import SIZE
from .snapshots import compare, take

pytestmark = pytest.mark.anyio


async def test_card_face_with_a_search(store: DeviceStore, devices: list[Device]) -> None:
    card = next(d for d in devices if d.kind == "scc")
    app = KeypadApp(store, initial_tab="tab-cards")
    async with app.run_test(size=SIZE) as pilot:
        assert await pilot.click(f"#{face_id(card)} #card-search")
        await pilot.press(*"100 50")
        compare(await take(pilot), "cards")
