"""Snapshot of the Gold/Platinum tab: both legacy keypads side by side, Platinum waiting for a challenge."""

from __future__ import annotations

import pytest

from tokensim.emulators.keypad.app import KeypadApp
from tokensim.emulators.keypad.keypad_face import KeypadFace
from tokensim.emulators.keypad.store import DeviceStore

from .conftest import SIZE
from .snapshots import compare, take

pytestmark = pytest.mark.anyio


async def test_gold_and_platinum_faces(store: DeviceStore) -> None:
    app = KeypadApp(store, initial_tab="tab-gold-platinum")
    async with app.run_test(size=SIZE) as pilot:
        app.query(KeypadFace).last().focus()
        await pilot.press("p", *"1234", "enter", *"4711")
        compare(await take(pilot), "gold_platinum")
