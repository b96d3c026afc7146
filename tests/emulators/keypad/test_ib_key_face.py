"""The IB Key face with keys and clicks (Pilot), against the fake server of ``conftest``.

The app's own screen takes the keyboard: digits type the PIN it shows, Enter is OK (approve) and
``p`` PRESS (deny), from the moment the tab opens or a request arrives, with no click first. Polls
that bring nothing leave the screen alone, and a long request is shown whole.
"""

from __future__ import annotations

import pytest
from textual.geometry import Region
from textual.widgets import Static

from tokensim.emulators.keypad.app import KeypadApp
from tokensim.emulators.keypad.backend import Connection
from tokensim.emulators.keypad.ib_key_face import IbKeyFace, IbKeyScreen, PushEntry, describe_request
from tokensim.emulators.keypad.store import DeviceStore
from tokensim.protocol.clock import FixedClock
from tokensim.protocol.messages import PushRequest

from .conftest import PIN, SIZE, USERNAME, FakeBackend, activated_ib_key, login_request, settle, show_tab

pytestmark = pytest.mark.anyio


def _note(app: KeypadApp) -> str:
    return str(app.query_one("#ibkey-note", Static).content)


def _backend(clock: FixedClock, *requests: PushRequest) -> FakeBackend:
    backend = FakeBackend([], clock)
    backend.pending.extend(requests)
    return backend


async def test_opening_the_tab_lets_the_pin_and_enter_approve_at_once(keypad_clock: FixedClock) -> None:
    ib_key = activated_ib_key(keypad_clock)
    request = login_request(keypad_clock)
    ib_key.receive_push(request)
    backend = _backend(keypad_clock, request)
    app = KeypadApp(
        DeviceStore([ib_key]), connection=Connection(backend.url, backend=backend), initial_tab="tab-portal"
    )
    async with app.run_test(size=SIZE) as pilot:
        await show_tab(pilot, "tab-ib-key")
        assert isinstance(app.focused, IbKeyScreen)
        await pilot.press(*PIN[:2])
        assert "PIN: **" in ib_key.screen  # the app's screen mirrors the typing
        assert "PIN: **" in str(app.query_one("#ibkey-screen", Static).content)
        await pilot.press(*PIN[2:], "enter")
        await settle(pilot)
        assert [d.request_id for d in backend.decisions] == [request.id]
        assert backend.decisions[0].approved
        assert _note(app) == "approved and sent"
        assert ib_key.pending() == []
        empty = app.query_one("#ibkey-pending").query_one(".empty", Static)
        assert str(empty.content) == "No pending requests."


async def test_a_request_that_arrives_takes_the_keyboard_and_p_denies_it(keypad_clock: FixedClock) -> None:
    ib_key = activated_ib_key(keypad_clock)
    request = login_request(keypad_clock)
    backend = _backend(keypad_clock, request)
    app = KeypadApp(
        DeviceStore([ib_key]), connection=Connection(backend.url, backend=backend), initial_tab="tab-ib-key"
    )
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#ibkey-check")  # the button has the focus now
        await settle(pilot)
        assert _note(app) == "1 new request"
        assert isinstance(app.focused, IbKeyScreen)
        await pilot.press(*PIN, "p")
        await settle(pilot)
        assert len(backend.decisions) == 1
        assert not backend.decisions[0].approved
        assert _note(app) == "denied and sent"


async def test_a_wrong_pin_typed_on_the_screen_shows_the_attempts_left(keypad_clock: FixedClock) -> None:
    ib_key = activated_ib_key(keypad_clock)
    ib_key.receive_push(login_request(keypad_clock))
    backend = _backend(keypad_clock)
    app = KeypadApp(
        DeviceStore([ib_key]), connection=Connection(backend.url, backend=backend), initial_tab="tab-portal"
    )
    async with app.run_test(size=SIZE) as pilot:
        await show_tab(pilot, "tab-ib-key")
        await pilot.press(*"0000", "enter")
        await settle(pilot)
        screen = str(app.query_one("#ibkey-screen", Static).content)
        assert f"Wrong PIN: {ib_key.PIN_ATTEMPTS - 1} attempts left" in screen
        assert backend.decisions == []
        assert len(ib_key.pending()) == 1


async def test_enter_in_the_pin_box_approves_the_request_on_screen(keypad_clock: FixedClock) -> None:
    ib_key = activated_ib_key(keypad_clock)
    request = login_request(keypad_clock)
    ib_key.receive_push(request)
    backend = _backend(keypad_clock, request)
    app = KeypadApp(
        DeviceStore([ib_key]), connection=Connection(backend.url, backend=backend), initial_tab="tab-ib-key"
    )
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#ibkey-pin")
        await pilot.press(*PIN, "enter")
        await settle(pilot)
        assert [d.approved for d in backend.decisions] == [True]
        assert _note(app) == "approved and sent"


async def test_polls_that_bring_nothing_new_redraw_nothing(keypad_clock: FixedClock) -> None:
    ib_key = activated_ib_key(keypad_clock)
    request = login_request(keypad_clock)
    backend = _backend(keypad_clock, request)
    app = KeypadApp(
        DeviceStore([ib_key]), connection=Connection(backend.url, backend=backend), initial_tab="tab-ib-key"
    )
    async with app.run_test(size=SIZE) as pilot:
        face = app.query_one(IbKeyFace)
        await pilot.click("#ibkey-check")
        await settle(pilot)
        entry = face.query_one(PushEntry)
        count = app.query_one("#ibkey-pending-count", Static)
        assert str(count.content) == "1 pending"
        for _ in range(3):  # what the poll timer does
            face.check()
            await settle(pilot)
        assert backend.calls.count("pending_pushes") == 4
        assert face.query_one(PushEntry) is entry, "the request was redrawn though nothing changed"
        assert _note(app) == "1 new request", "a quiet poll overwrote the last message"
        await pilot.click("#ibkey-check")  # asked by hand, it says so
        await settle(pilot)
        assert _note(app) == "0 new requests"
        assert face.query_one(PushEntry) is entry


async def test_a_long_request_is_shown_whole_on_a_narrow_terminal(keypad_clock: FixedClock) -> None:
    ib_key = activated_ib_key(keypad_clock)
    request = PushRequest(
        id="w-1",
        username=USERNAME,
        action="withdrawal",
        origin="203.0.113.7",
        nonce="11" * 16,
        expires_at=keypad_clock.now() + 120,
        details={
            "amount": "25000.00 USD",
            "destination": "Bank of Example, account 0123456789, reference QA-withdrawal-2026",
        },
    )
    ib_key.receive_push(request)
    app = KeypadApp(DeviceStore([ib_key]), initial_tab="tab-ib-key")
    async with app.run_test(size=(80, 60)) as pilot:
        await pilot.pause()
        entry = app.query_one(PushEntry)
        details = entry.query_one(".push-details", Static)
        width, height = details.outer_size
        lines = [strip.text for strip in details.render_lines(Region(0, 0, width, height))]
        assert " ".join(lines).split() == describe_request(request).plain.split(), lines
        assert entry.region.contains_region(details.region)
        assert entry.region.contains_region(entry.query_one("#approve-0").region)
        screen = app.query_one("#ibkey-screen", Static)
        width, height = screen.outer_size
        inside = [strip.text.strip("│╭╮╰╯─ ") for strip in screen.render_lines(Region(0, 0, width, height))]
        assert " ".join(inside).split() == ib_key.screen.split()
