"""Snapshot of the DSC+ tab: the card on, a PIN being typed (masked), the time-out counting down.

Also keeps the README's screenshot (``docs/keypad.svg``) equal to this snapshot. Rewrite both with
``TOKENSIM_UPDATE_SNAPSHOTS=1`` (see ``snapshots.py``).
"""

from __future__ import annotations

import pytest

from tokensim.emulators.keypad.app import KeypadApp
from tokensim.emulators.keypad.store import DeviceStore
from tokensim.protocol.clock import FixedClock

from .conftest import SIZE
from .snapshots import README_SCREENSHOT, SNAPSHOTS, compare, take, updating

pytestmark = pytest.mark.anyio


async def test_dsc_plus_face(store: DeviceStore, keypad_clock: FixedClock) -> None:
    app = KeypadApp(store, initial_tab="tab-dsc-plus")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p", "1", "2")
        keypad_clock.advance(7)
        app.refresh_faces()
        compare(await take(pilot), "dsc_plus")


def test_the_readme_screenshot_is_the_dsc_plus_snapshot() -> None:
    snapshot = (SNAPSHOTS / "dsc_plus.svg").read_text(encoding="utf-8")
    if updating():
        README_SCREENSHOT.parent.mkdir(exist_ok=True)
        README_SCREENSHOT.write_text(snapshot, encoding="utf-8")
    assert README_SCREENSHOT.read_text(encoding="utf-8") == snapshot, (
        "docs/keypad.svg is not the DSC+ snapshot; rerun with TOKENSIM_UPDATE_SNAPSHOTS=1"
    )
