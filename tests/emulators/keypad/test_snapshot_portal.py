"""Snapshot of the Portal tab: logged in with the password, the DSC+ chosen, its challenge shown."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Select

from tokensim.emulators import Device
from tokensim.emulators.keypad.app import KeypadApp
from tokensim.emulators.keypad.backend import Connection
from tokensim.emulators.keypad.store import DeviceStore

from .conftest import PASSWORD, SIZE, USERNAME, settle
from .snapshots import compare, take

pytestmark = pytest.mark.anyio


async def test_portal_with_a_challenge(
    store: DeviceStore, devices: list[Device], fake_connection: Connection
) -> None:
    card = next(d for d in devices if d.kind == "dsc-plus")
    app = KeypadApp(store, connection=fake_connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        app.query_one("#portal-username", Input).value = USERNAME
        app.query_one("#portal-password", Input).value = PASSWORD
        assert await pilot.click("#portal-login")
        await settle(pilot)
        app.query_one("#portal-device", Select).value = card.serial
        await pilot.pause()
        assert await pilot.click("#portal-get-challenge")
        await settle(pilot)
        compare(await take(pilot), "portal")
