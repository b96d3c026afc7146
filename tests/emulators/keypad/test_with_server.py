"""Whole logins through the keypad against a real in-process server, through ``tokensim.server.cli.keypad``.

The server runs in this process (no socket) on a temporary database; the devices are enrolled and
activated with the server's harness, then put in the keypad's store, and a person's clicks and keys
do the rest: the password on the portal, the device, the challenge, the keypad, the phone, the IB Key.
"""

from __future__ import annotations

import re

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static, TabbedContent

from tokensim.emulators import create
from tokensim.emulators.devices.ib_key import IbKeyApp
from tokensim.emulators.devices.phone import Phone
from tokensim.emulators.keypad.app import KeypadApp, face_id
from tokensim.emulators.keypad.backend import Connection
from tokensim.emulators.keypad.ib_key_face import IbKeyFace, PushEntry
from tokensim.emulators.keypad.phone_face import InboxEntry, PhoneFace
from tokensim.emulators.keypad.store import DeviceStore
from tokensim.protocol.clock import FixedClock
from tokensim.protocol.provisioning import DeviceKind, Provisioning
from tokensim.server.client import TokensimClient
from tokensim.server.testing.harness import Enrolled, Harness

from .conftest import SERVER_NUMBER, SERVER_PASSWORD, SERVER_PIN, SERVER_USER, SIZE, settle, show_tab

pytestmark = pytest.mark.anyio

USER = SERVER_USER
PASSWORD = SERVER_PASSWORD
NUMBER = SERVER_NUMBER
PIN = SERVER_PIN


def _text(app: KeypadApp, selector: str) -> str:
    return str(app.query_one(selector, Static).content)


async def _log_in(app: KeypadApp, pilot: Pilot[None], enrolled: Enrolled, mode: str | None = None) -> None:
    """Password, device and (optionally) mode on the portal, then Get challenge."""
    await show_tab(pilot, "tab-portal")
    app.query_one("#portal-username", Input).value = ""
    await pilot.click("#portal-username")
    await pilot.press(*USER)
    app.query_one("#portal-password", Input).value = PASSWORD  # typing 28 characters adds nothing
    await pilot.click("#portal-login")
    await settle(pilot)
    assert _text(app, "#portal-result") == f"password accepted for {USER}: choose a device"
    app.query_one("#portal-device", Select).value = enrolled.device_id
    await pilot.pause()
    if mode is not None:
        app.query_one("#portal-mode", Select).value = mode
        await pilot.pause()
    await pilot.click("#portal-get-challenge")
    await settle(pilot)


async def _submit(app: KeypadApp, pilot: Pilot[None], answer: str) -> None:
    await show_tab(pilot, "tab-portal")
    await pilot.click("#portal-answer")
    await pilot.press(*answer)
    await pilot.click("#portal-submit")
    await settle(pilot)


async def test_a_full_dsc_plus_login(
    harness: Harness, connection: Connection, server_clock: FixedClock
) -> None:
    enrolled = harness.enroll(USER, "dsc-plus", pin=PIN)
    card = enrolled.device
    server_clock.advance(120)  # the activation's response has left the display: the card is off
    app = KeypadApp(DeviceStore([card]), connection=connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await _log_in(app, pilot, enrolled)
        shown = _text(app, "#portal-challenge")
        assert shown.startswith("Challenge: ")
        question = shown.removeprefix("Challenge: ").split()[0]
        assert len(question) == 6
        await show_tab(pilot, "tab-dsc-plus")
        await pilot.press("p", *PIN, "enter", *question, "enter")
        response = card.screen
        assert len(response) == 8
        assert _text(app, f"#{face_id(card)} #lcd") == response
        await _submit(app, pilot, response)
        assert _text(app, "#portal-result").startswith(f"logged in as {USER}; scope: ")
        assert "trading" in _text(app, "#portal-result")


async def test_a_wrong_pin_is_refused_by_the_server(
    harness: Harness, connection: Connection, server_clock: FixedClock
) -> None:
    enrolled = harness.enroll(USER, "dsc-plus", pin=PIN)
    card = enrolled.device
    server_clock.advance(120)
    app = KeypadApp(DeviceStore([card]), connection=connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await _log_in(app, pilot, enrolled)
        question = _text(app, "#portal-challenge").removeprefix("Challenge: ").split()[0]
        await show_tab(pilot, "tab-dsc-plus")
        await pilot.press("p", *"9876", "enter", *question, "enter")
        await _submit(app, pilot, card.screen)
        result = app.query_one("#portal-result", Static)
        assert result.has_class("-error")
        assert not str(result.content).startswith("logged in")
        left = re.search(r"\((\d+) attempts? left before the device locks\)", str(result.content))
        assert left is not None, str(result.content)
        # A second wrong answer leaves one attempt fewer.
        server_clock.advance(120)  # the card's display goes off again
        await _log_in(app, pilot, enrolled)
        question = _text(app, "#portal-challenge").removeprefix("Challenge: ").split()[0]
        await show_tab(pilot, "tab-dsc-plus")
        await pilot.press("p", *"9876", "enter", *question, "enter")
        await _submit(app, pilot, card.screen)
        again = re.search(r"\((\d+) attempts? left", _text(app, "#portal-result"))
        assert again is not None, _text(app, "#portal-result")
        assert int(again.group(1)) == int(left.group(1)) - 1


async def test_push_approval_on_the_ib_key(harness: Harness, connection: Connection) -> None:
    enrolled = harness.enroll(USER, "ib-key", pin=PIN)
    ib_key = enrolled.device
    assert isinstance(ib_key, IbKeyApp)
    app = KeypadApp(DeviceStore([ib_key]), connection=connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await _log_in(app, pilot, enrolled, mode="push")
        assert _text(app, "#portal-challenge").startswith("Approve the login request on your IB Key")
        await pilot.click("#portal-submit")  # "Check approval" before the phone answered
        await settle(pilot)
        assert _text(app, "#portal-result") == "waiting for approval on the IB Key"
        await show_tab(pilot, "tab-ib-key")
        face = app.query_one(IbKeyFace)
        await pilot.click("#ibkey-check")
        await settle(pilot)
        entries = face.query(PushEntry)
        assert len(entries) == 1
        details = str(entries.first().query_one(".push-details", Static).content)
        assert f"login for {USER}" in details
        await pilot.click("#ibkey-pin")
        await pilot.press(*PIN)
        assert app.query_one("#ibkey-pin", Input).password
        await pilot.click("#approve-0")
        await settle(pilot)
        assert _text(app, "#ibkey-note") == "approved and sent"
        assert app.query_one("#ibkey-pin", Input).value == ""
        assert ib_key.pending() == []
        await show_tab(pilot, "tab-portal")
        await pilot.click("#portal-submit")
        await settle(pilot)
        assert _text(app, "#portal-result").startswith(f"logged in as {USER}; scope: ")


async def test_a_wrong_pin_on_the_ib_key_leaves_the_request_pending(
    harness: Harness, connection: Connection
) -> None:
    enrolled = harness.enroll(USER, "ib-key", pin=PIN)
    ib_key = enrolled.device
    assert isinstance(ib_key, IbKeyApp)
    app = KeypadApp(DeviceStore([ib_key]), connection=connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await _log_in(app, pilot, enrolled, mode="push")
        await show_tab(pilot, "tab-ib-key")
        await pilot.click("#ibkey-check")
        await settle(pilot)
        await pilot.click("#ibkey-pin")
        await pilot.press(*"0000")
        await pilot.click("#approve-0")
        await settle(pilot)
        assert app.query_one("#ibkey-note").has_class("-error")
        assert "4" in _text(app, "#ibkey-note")  # attempts left
        assert len(ib_key.pending()) == 1


async def test_qr_login_pasted_into_the_ib_key(harness: Harness, connection: Connection) -> None:
    enrolled = harness.enroll(USER, "ib-key", pin=PIN)
    ib_key = enrolled.device
    app = KeypadApp(DeviceStore([ib_key]), connection=connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await _log_in(app, pilot, enrolled, mode="qr")
        assert app.query_one("#portal-qr", Input).value != ""
        assert await pilot.click("#portal-qr-to-ib-key")  # as scanning it would: the app opens IB Key
        await pilot.pause()
        await pilot.pause()
        assert app.query_one("#tabs", TabbedContent).active == "tab-ib-key"
        await show_tab(pilot, "tab-ib-key")
        assert app.query_one("#ibkey-qr", Input).value == app.query_one("#portal-qr", Input).value
        await pilot.click("#ibkey-pin")
        await pilot.press(*PIN)
        await pilot.click("#ibkey-scan")
        await settle(pilot)
        assert _text(app, "#ibkey-note") == "QR login approved and sent"
        await show_tab(pilot, "tab-portal")
        await pilot.click("#portal-submit")
        await settle(pilot)
        assert _text(app, "#portal-result").startswith(f"logged in as {USER}")


async def test_an_sms_login_read_on_the_phone(harness: Harness, connection: Connection) -> None:
    enrolled = harness.enroll(USER, "phone")
    # QA's own handset for the same number, fresh: everything it gets comes through the keypad.
    phone = create(Provisioning(kind=DeviceKind.PHONE, serial="qa-phone", number=NUMBER), clock=harness.clock)
    assert isinstance(phone, Phone)
    app = KeypadApp(DeviceStore([phone]), connection=connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await _log_in(app, pilot, enrolled, mode="sms")
        assert _text(app, "#portal-challenge").startswith("A code was sent by SMS")
        await show_tab(pilot, "tab-phone")
        await pilot.click("#phone-check")
        await settle(pilot)
        face = app.query_one(PhoneFace)
        entries = list(face.query(InboxEntry))
        assert entries, "no message arrived"
        newest = entries[0]
        assert newest.has_class("-new")
        code = phone.inbox[0].code
        assert code is not None
        assert code in str(newest.content)
        await pilot.click(f"#{newest.id}")
        await pilot.pause()
        assert not face.query_one(f"#{newest.id}").has_class("-new")
        # A second check brings nothing twice.
        await pilot.click("#phone-check")
        await settle(pilot)
        assert len(face.query(InboxEntry)) == len(entries)
        await _submit(app, pilot, code)
        assert _text(app, "#portal-result").startswith(f"logged in as {USER}")


async def test_ib_key_activation_with_the_sms_token(
    harness: Harness, connection: Connection, client: TokensimClient, server_clock: FixedClock
) -> None:
    enrolled = harness.enroll(USER, "ib-key", pin=PIN, activate=False)
    assert enrolled.enrollment.device.number == NUMBER
    ib_key = create(Provisioning(kind=DeviceKind.IB_KEY, serial="qa-phone"), clock=server_clock)
    handset = Provisioning(kind=DeviceKind.PHONE, serial="qa-handset", number=NUMBER)
    phone = create(handset, clock=server_clock)
    assert isinstance(ib_key, IbKeyApp)
    assert isinstance(phone, Phone)
    app = KeypadApp(DeviceStore([ib_key, phone]), connection=connection, initial_tab="tab-phone")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#phone-check")
        await settle(pilot)
        token = phone.latest_code()
        assert token is not None
        await show_tab(pilot, "tab-ib-key")
        await pilot.click("#ibkey-new-user")
        await pilot.press(*USER)
        await pilot.click("#ibkey-token")
        await pilot.press(*token)
        await pilot.click("#ibkey-new-pin")
        await pilot.press(*PIN)
        await pilot.click("#ibkey-activate")
        await settle(pilot)
        assert _text(app, "#ibkey-note") == f"{USER} activated on this phone"
        assert ib_key.users() == [USER]
        assert app.query_one("#ibkey-user", Select).value == USER
