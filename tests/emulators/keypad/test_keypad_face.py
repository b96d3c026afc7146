"""The keypad faces (DSC, DSC+, Gold, Platinum) driven as a person would: keys typed and clicked."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.widgets import Static

from tokensim.emulators import Device
from tokensim.emulators.keypad.app import KeypadApp, face_id
from tokensim.emulators.keypad.keypad_face import KeypadFace
from tokensim.emulators.keypad.store import DeviceStore
from tokensim.protocol.clock import FixedClock

from .conftest import SIZE

pytestmark = pytest.mark.anyio


def _of_kind(devices: list[Device], kind: str) -> Device:
    return next(d for d in devices if d.kind == kind)


def _lcd(face: KeypadFace) -> str:
    content = face.query_one("#lcd", Static).content
    assert isinstance(content, Text)
    return content.plain


async def test_dsc_plus_typed_keys_reach_the_card_and_the_lcd_shows_its_screen(
    store: DeviceStore, devices: list[Device]
) -> None:
    card = _of_kind(devices, "dsc-plus")
    app = KeypadApp(store, initial_tab="tab-dsc-plus")
    async with app.run_test(size=SIZE) as pilot:
        face = app.query_one(f"#{face_id(card)}", KeypadFace)
        assert app.focused is face
        await pilot.press("p")
        assert _lcd(face) == card.screen == "PIN>"
        await pilot.press("1", "2")
        assert _lcd(face) == card.screen == "PIN> **"
        await pilot.press("backspace", "2", "3", "4", "enter")
        assert _lcd(face) == card.screen == "CHALLNG>"
        await pilot.press(*"123456", "enter")
        assert len(card.screen) == 8
        assert card.screen.isdigit()
        assert _lcd(face) == card.screen


async def test_a_burst_of_keys_registers_every_press(store: DeviceStore, devices: list[Device]) -> None:
    card = _of_kind(devices, "dsc-plus")
    app = KeypadApp(store, initial_tab="tab-dsc-plus")
    async with app.run_test(size=SIZE) as pilot:
        face = app.query_one(f"#{face_id(card)}", KeypadFace)
        # No pause between the keys: all of them are in the queue before the first is handled.
        await pilot.press("p", "1", "1", "1", "1", "enter", "9", "9", "9", "9", "9", "9")
        assert face.presses == 12
        assert card.screen == "CHALLNG> 999999"


async def test_clicks_on_one_key_in_quick_succession_all_register(
    store: DeviceStore, devices: list[Device]
) -> None:
    card = _of_kind(devices, "dsc-plus")
    app = KeypadApp(store, initial_tab="tab-dsc-plus")
    async with app.run_test(size=SIZE) as pilot:
        face_selector = f"#{face_id(card)}"
        assert await pilot.click(f"{face_selector} #key-press")
        for _ in range(4):
            assert await pilot.click(f"{face_selector} #key-1")
        assert card.screen == "PIN> ****"
        assert await pilot.click(f"{face_selector} #key-back")
        assert await pilot.click(f"{face_selector} #key-ok")
        assert card.screen == "PIN> ***"


async def test_the_display_time_out_counts_down_by_the_device_clock_and_the_card_goes_off(
    store: DeviceStore, devices: list[Device], keypad_clock: FixedClock
) -> None:
    card = _of_kind(devices, "dsc-plus")
    app = KeypadApp(store, initial_tab="tab-dsc-plus")
    async with app.run_test(size=SIZE) as pilot:
        face = app.query_one(f"#{face_id(card)}", KeypadFace)
        await pilot.press("p")
        timeout = face.query_one("#timeout", Static)
        assert str(timeout.content) == "display off in 60 s"
        lcd = face.query_one("#lcd", Static)
        assert not lcd.has_class("-dim")
        keypad_clock.advance(52.5)
        app.refresh_faces()  # what the interval timer does; called here so the test never waits
        assert str(timeout.content) == "display off in 8 s"
        assert lcd.has_class("-dim")
        keypad_clock.advance(8)
        app.refresh_faces()
        assert _lcd(face) == card.screen == ""
        assert lcd.has_class("-off")
        assert str(timeout.content) == ""


async def test_the_dsc_masks_the_pin_and_shows_its_code(store: DeviceStore, devices: list[Device]) -> None:
    dsc = _of_kind(devices, "dsc")
    app = KeypadApp(store, initial_tab="tab-dsc")
    async with app.run_test(size=SIZE) as pilot:
        face = app.query_one(f"#{face_id(dsc)}", KeypadFace)
        assert app.focused is face
        await pilot.press("p", "2", "4")
        assert _lcd(face) == dsc.screen == "[ - 4 _ _ ]"
        await pilot.press("6", "8", "enter")
        assert len(_lcd(face)) == 6
        assert _lcd(face) == dsc.screen


async def test_gold_and_platinum_each_have_a_face_and_keys_go_to_the_focused_one(
    store: DeviceStore, devices: list[Device]
) -> None:
    gold, platinum = _of_kind(devices, "gold"), _of_kind(devices, "platinum")
    app = KeypadApp(store, initial_tab="tab-gold-platinum")
    async with app.run_test(size=SIZE) as pilot:
        app.query_one(f"#{face_id(platinum)}", KeypadFace).focus()
        await pilot.press("p")
        assert platinum.screen != ""
        assert gold.screen == ""
