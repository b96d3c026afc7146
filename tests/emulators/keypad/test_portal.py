"""The portal pane against the in-memory fake server: a person logs in with each keypad device."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Select, Static

from tokensim.emulators import Device, create
from tokensim.emulators.devices.phone import Phone
from tokensim.emulators.keypad.app import KeypadApp, face_id
from tokensim.emulators.keypad.backend import CarrierMessage, Connection
from tokensim.emulators.keypad.card_face import CardDevice, parse_indices
from tokensim.emulators.keypad.keypad_face import KeypadFace
from tokensim.emulators.keypad.phone_face import InboxEntry
from tokensim.emulators.keypad.portal import PortalPane
from tokensim.emulators.keypad.store import DeviceStore
from tokensim.protocol.clock import FixedClock
from tokensim.protocol.provisioning import DeviceKind, Provisioning

from .conftest import PASSWORD, PIN, SIZE, USERNAME, FakeBackend, settle, show_tab

pytestmark = pytest.mark.anyio


def _text(app: KeypadApp, selector: str) -> str:
    return str(app.query_one(selector, Static).content)


async def log_in(app: KeypadApp, pilot: Pilot[None], password: str = PASSWORD) -> None:
    """Type the username and password on the portal tab and press Log in."""
    await show_tab(pilot, "tab-portal")
    await pilot.click("#portal-username")
    await pilot.press(*USERNAME)
    await pilot.click("#portal-password")
    await pilot.press(*password)
    await pilot.click("#portal-login")
    await settle(pilot)


async def get_challenge(app: KeypadApp, pilot: Pilot[None], device: Device) -> None:
    """Choose ``device`` in the drop-down and ask for a challenge."""
    app.query_one("#portal-device", Select).value = device.serial
    await pilot.pause()
    await pilot.click("#portal-get-challenge")
    await settle(pilot)


async def submit(app: KeypadApp, pilot: Pilot[None], answer: str) -> None:
    """Type the answer and press Submit."""
    await pilot.click("#portal-answer")
    await pilot.press(*answer)
    await pilot.click("#portal-submit")
    await settle(pilot)


async def test_the_password_is_masked_and_a_wrong_one_is_refused(
    store: DeviceStore, fake_connection: Connection
) -> None:
    app = KeypadApp(store, connection=fake_connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await log_in(app, pilot, password="wrong")
        assert app.query_one("#portal-password", Input).password
        assert _text(app, "#portal-result") == "wrong username or password"
        assert app.query_one("#portal-device", Select).disabled


async def test_a_dsc_plus_login_typed_on_the_keypad(
    store: DeviceStore, devices: list[Device], fake_connection: Connection, fake_backend: FakeBackend
) -> None:
    card = next(d for d in devices if d.kind == "dsc-plus")
    app = KeypadApp(store, connection=fake_connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await log_in(app, pilot)
        assert _text(app, "#portal-result") == f"password accepted for {USERNAME}: choose a device"
        assert app.query_one("#portal-password", Input).value == ""
        await get_challenge(app, pilot, card)
        shown = _text(app, "#portal-challenge")
        assert shown.startswith("Challenge: 123456")
        # On the DSC+ tab: PRESS, PIN, OK, the challenge as shown, OK.
        await show_tab(pilot, "tab-dsc-plus")
        assert isinstance(app.focused, KeypadFace)
        await pilot.press("p", *PIN, "enter", *"123456", "enter")
        response = card.screen
        assert len(response) == 8
        await show_tab(pilot, "tab-portal")
        await submit(app, pilot, response)
        assert _text(app, "#portal-result") == f"logged in as {USERNAME}; scope: trading, portal"
        assert app.query_one(PortalPane).result is not None
        assert app.query_one("#portal-result").has_class("-ok")


async def test_a_wrong_pin_gives_a_response_the_server_refuses(
    store: DeviceStore, devices: list[Device], fake_connection: Connection
) -> None:
    card = next(d for d in devices if d.kind == "dsc-plus")
    app = KeypadApp(store, connection=fake_connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await log_in(app, pilot)
        await get_challenge(app, pilot, card)
        await show_tab(pilot, "tab-dsc-plus")
        await pilot.press("p", *"9999", "enter", *"123456", "enter")
        response = card.screen
        await show_tab(pilot, "tab-portal")
        await submit(app, pilot, response)
        assert _text(app, "#portal-result") == "wrong answer"
        assert app.query_one("#portal-result").has_class("-error")
        assert app.query_one(PortalPane).result is None


async def test_a_card_login_with_the_search_box(
    store: DeviceStore, devices: list[Device], fake_connection: Connection
) -> None:
    card = next(d for d in devices if d.kind == "scc")
    app = KeypadApp(store, connection=fake_connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await log_in(app, pilot)
        await get_challenge(app, pilot, card)
        assert _text(app, "#portal-challenge").startswith("Card indices: 100 and 50")
        await show_tab(pilot, "tab-cards")
        values = []
        face = f"#{face_id(card)}"
        for index in ("100", "50"):
            search = app.query_one(f"{face} #card-search", Input)
            search.value = ""
            await pilot.click(f"{face} #card-search")
            await pilot.press(*index)
            await pilot.pause()
            shown = _text(app, f"{face} #card-value")
            assert shown.startswith(f"{index} → ")
            values.append(shown.split("→ ")[1])
        await show_tab(pilot, "tab-portal")
        await submit(app, pilot, "".join(values))
        assert _text(app, "#portal-result").startswith(f"logged in as {USERNAME}")


async def test_a_dsc_code_login(
    store: DeviceStore, devices: list[Device], fake_connection: Connection
) -> None:
    dsc = next(d for d in devices if d.kind == "dsc")
    app = KeypadApp(store, connection=fake_connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await log_in(app, pilot)
        await get_challenge(app, pilot, dsc)
        assert _text(app, "#portal-challenge") == "Enter the code your device shows"
        await show_tab(pilot, "tab-dsc")
        await pilot.press("p", *"2468", "enter")
        code = dsc.screen
        await show_tab(pilot, "tab-portal")
        await submit(app, pilot, code)
        assert _text(app, "#portal-result").startswith(f"logged in as {USERNAME}")


async def test_without_a_server_the_portal_says_so(store: DeviceStore) -> None:
    app = KeypadApp(store, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await log_in(app, pilot)
        assert _text(app, "#portal-result") == "no server: start the keypad with --server URL"
        assert app.query_one("#portal-get-challenge", Button).disabled


@pytest.mark.parametrize("typed", ["100 50", "100,50", "100 - 50", " 100;  50 "])
async def test_the_card_index_box_takes_both_indices_as_the_challenge_gives_them(
    store: DeviceStore, devices: list[Device], fake_connection: Connection, typed: str
) -> None:
    card = next(d for d in devices if d.kind == "scc")
    assert isinstance(card, CardDevice)
    app = KeypadApp(store, connection=fake_connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await log_in(app, pilot)
        await get_challenge(app, pilot, card)
        await show_tab(pilot, "tab-cards")
        face = f"#{face_id(card)}"
        await pilot.click(f"{face} #card-search")
        await pilot.press(*typed)
        await pilot.pause()
        assert app.query_one(f"{face} #card-search", Input).value == typed
        shown = _text(app, f"{face} #card-value")
        assert shown == f"100 → {card.value(100)}   50 → {card.value(50)}"
        await show_tab(pilot, "tab-portal")
        await submit(app, pilot, card.value(100) + card.value(50))
        assert _text(app, "#portal-result").startswith(f"logged in as {USERNAME}")


def test_indices_are_the_numbers_between_any_separators() -> None:
    assert parse_indices("135 97") == (135, 97)
    assert parse_indices("135, 97/8") == (135, 97, 8)
    assert parse_indices("") == ()
    assert parse_indices(" - ") == ()


async def test_an_sms_shows_when_the_server_sent_it_not_when_the_phone_fetched_it(
    keypad_clock: FixedClock,
) -> None:
    number = "+15551230009"
    phone = create(Provisioning(kind=DeviceKind.PHONE, serial="handset-9", number=number), clock=keypad_clock)
    backend = FakeBackend([], keypad_clock)
    sent_at = keypad_clock.now()
    backend.outboxes[number] = [CarrierMessage(1, "m1", number, "sms", "TOKENSIM", "Code 135790", sent_at)]
    keypad_clock.advance(3600 + 125)  # the keypad checks an hour and two minutes later
    app = KeypadApp(
        DeviceStore([phone]), connection=Connection(backend.url, backend=backend), initial_tab="tab-phone"
    )
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#phone-check")
        await settle(pilot)
        entry = app.query_one(InboxEntry)
        assert "2023-11-14 22:13:20 UTC" in str(entry.content)  # START, when it was sent
        assert "23:15:25" not in str(entry.content)
    assert phone.inbox[0].sent_at == sent_at
    assert phone.inbox[0].received_at == keypad_clock.now()
    # The sent time is kept in the saved state with the message.
    assert Phone.load(phone.save(), clock=keypad_clock).inbox[0].sent_at == sent_at
