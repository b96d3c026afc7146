"""The account pane against a real in-process server: what a session does after the portal's login.

Every flow is driven as a person would: the login on the Portal tab, the step on the Account tab,
the server's challenge answered on the device's own tab (keys for the DSC+, the index box for a card)
and typed back into the Account tab. The server's fixtures are those of ``test_with_server``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select

from tokensim.emulators import create
from tokensim.emulators.devices.ib_key import IbKeyApp
from tokensim.emulators.devices.online_scc import OnlineSecurityCodeCard
from tokensim.emulators.devices.phone import Phone
from tokensim.emulators.keypad.app import KeypadApp, face_id
from tokensim.emulators.keypad.backend import Connection
from tokensim.emulators.keypad.store import DeviceStore
from tokensim.protocol.clock import FixedClock
from tokensim.protocol.errors import InvalidPin
from tokensim.protocol.provisioning import DeviceKind, Provisioning
from tokensim.server.client import ProblemError, TokensimClient
from tokensim.server.testing.harness import Enrolled, Harness

from .conftest import SERVER_NUMBER, SERVER_PASSWORD, SIZE, settle, show_tab
from .conftest import SERVER_PIN as PIN
from .conftest import SERVER_USER as USER
from .test_with_server import _log_in, _submit, _text

pytestmark = pytest.mark.anyio

DAY = 86400.0


async def _dsc_plus_login(app: KeypadApp, pilot: Pilot[None], enrolled: Enrolled, pin: str = PIN) -> None:
    """The whole portal login with the DSC+ (whose display is off)."""
    await _log_in(app, pilot, enrolled)
    question = _text(app, "#portal-challenge").removeprefix("Challenge: ").split()[0]
    await show_tab(pilot, "tab-dsc-plus")
    await pilot.press("p", *pin, "enter", *question, "enter")
    await _submit(app, pilot, enrolled.device.screen)
    assert _text(app, "#portal-result").startswith(f"logged in as {USER}")


async def _answer_with_dsc_plus(app: KeypadApp, pilot: Pilot[None], enrolled: Enrolled, pin: str) -> None:
    """Read the account pane's challenge, compute the response on the DSC+ and submit it."""
    shown = _text(app, "#account-challenge")
    assert shown.startswith("Challenge: "), (shown, _text(app, "#account-note"))
    question = shown.removeprefix("Challenge: ").split()[0]
    await show_tab(pilot, "tab-dsc-plus")
    await pilot.press("p", *pin, "enter", *question, "enter")
    response = enrolled.device.screen
    await show_tab(pilot, "tab-account")
    await pilot.click("#account-answer")
    await pilot.press(*response)
    await pilot.click("#account-submit")
    await settle(pilot)


def _choose(app: KeypadApp, device_id: str) -> None:
    app.query_one("#account-device", Select).value = device_id


async def test_logout_ends_the_session_on_the_server(
    harness: Harness, connection: Connection, client: TokensimClient, server_clock: FixedClock
) -> None:
    enrolled = harness.enroll(USER, "dsc-plus", pin=PIN)
    server_clock.advance(120)
    app = KeypadApp(DeviceStore([enrolled.device]), connection=connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await _dsc_plus_login(app, pilot, enrolled)
        await show_tab(pilot, "tab-account")
        await settle(pilot)
        session = _text(app, "#account-session")
        assert session.startswith(f"{USER}, logged in with dsc-plus; scope: ")
        assert "full access" in session
        token = app.query_one("#account").session.token  # type: ignore[attr-defined]
        assert client.session(token).username == USER
        await pilot.click("#account-logout")
        await settle(pilot)
        assert _text(app, "#account-note") == f"{USER} logged out"
        assert _text(app, "#account-session").startswith("Not logged in")
        with pytest.raises(ProblemError) as refused:
            client.session(token)
        assert refused.value.status == 401


async def test_a_dsc_plus_pin_change_answered_with_the_current_pin_then_the_new_one(
    harness: Harness, connection: Connection, server_clock: FixedClock
) -> None:
    enrolled = harness.enroll(USER, "dsc-plus", pin=PIN)
    server_clock.advance(120)
    new_pin = "8642"
    app = KeypadApp(DeviceStore([enrolled.device]), connection=connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await _dsc_plus_login(app, pilot, enrolled)
        await show_tab(pilot, "tab-account")
        await settle(pilot)
        _choose(app, enrolled.device_id)
        await pilot.click("#account-new-pin")
        await pilot.press(*new_pin)
        assert app.query_one("#account-new-pin", Input).password
        await pilot.click("#account-change-pin")
        await settle(pilot)
        assert _text(app, "#account-note") == "answer this challenge with the CURRENT PIN"
        server_clock.advance(120)  # the DSC+ display is off again
        await _answer_with_dsc_plus(app, pilot, enrolled, PIN)
        assert _text(app, "#account-note") == "now answer this challenge with the NEW PIN"
        server_clock.advance(120)
        await _answer_with_dsc_plus(app, pilot, enrolled, new_pin)
        assert _text(app, "#account-note") == "PIN changed; the device is active", _text(app, "#account-note")
        # The next login needs the new PIN: the old one gives a wrong response.
        await pilot.click("#account-logout")
        await settle(pilot)
        server_clock.advance(120)
        await _dsc_plus_login(app, pilot, enrolled, pin=new_pin)


async def test_a_withdrawal_with_a_step_up_on_the_dsc_plus(
    harness: Harness, connection: Connection, server_clock: FixedClock
) -> None:
    enrolled = harness.enroll(USER, "dsc-plus", pin=PIN)
    server_clock.advance(120)
    app = KeypadApp(DeviceStore([enrolled.device]), connection=connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await _dsc_plus_login(app, pilot, enrolled)
        await show_tab(pilot, "tab-account")
        await settle(pilot)
        _choose(app, enrolled.device_id)
        await pilot.click("#account-amount")
        await pilot.press(*"250.00")
        await pilot.click("#account-withdraw")
        await settle(pilot)
        server_clock.advance(120)
        await _answer_with_dsc_plus(app, pilot, enrolled, PIN)
        note = _text(app, "#account-note")
        assert note.startswith("withdrew 250.00 USD (authorised by dsc-plus)"), note
        assert not app.query_one("#account-note").has_class("-error")
        # A wrong step-up answer withdraws nothing and says what is left.
        await pilot.click("#account-withdraw")
        await settle(pilot)
        await pilot.click("#account-answer")
        await pilot.press(*"00000000")
        await pilot.click("#account-submit")
        await settle(pilot)
        assert app.query_one("#account-note").has_class("-error")
        assert "attempts left" in _text(app, "#account-note") or "attempt left" in _text(app, "#account-note")


async def test_temporary_passcode_stages_online_card_and_reactivation(
    harness: Harness, connection: Connection, client: TokensimClient, server_clock: FixedClock
) -> None:
    enrolled = harness.enroll(USER, "dsc-plus", pin=PIN)
    check = client.verify_identity(USER, method="phone-questions", agent="qa")
    issued = client.issue_temporary_passcode(USER, verification_id=check.id)
    passcode = issued.passcode
    assert passcode is not None
    server_clock.advance(2 * DAY)  # past the full-access stage: card printing only
    store = DeviceStore([enrolled.device])
    app = KeypadApp(store, connection=connection, initial_tab="tab-portal")
    async with app.run_test(size=SIZE) as pilot:
        await _log_in(app, pilot, Enrolled(USER, "temporary", issued.device.id, enrolled.device, "", issued))
        assert _text(app, "#portal-challenge") == "Enter your temporary passcode"
        await _submit(app, pilot, passcode)
        assert _text(app, "#portal-result") == f"logged in as {USER}; scope: card-printing"
        await show_tab(pilot, "tab-account")
        await settle(pilot)
        assert "only printing an online card" in _text(app, "#account-session")
        # Withdrawals are refused in this stage, by the server.
        _choose(app, enrolled.device_id)
        await pilot.click("#account-amount")
        await pilot.press(*"10")
        await pilot.click("#account-withdraw")
        await settle(pilot)
        assert app.query_one("#account-note").has_class("-error")
        # Print the online card: it joins the Cards tab, and activating it takes its two cells.
        await pilot.click("#account-print-card")
        await settle(pilot)
        cards = [d for d in store.devices if isinstance(d, OnlineSecurityCodeCard)]
        assert len(cards) == 1
        card = cards[0]
        assert app.query_one(f"#{face_id(card)}")
        assert _text(app, "#account-note").startswith(f"online card {card.serial} printed")
        await pilot.click("#account-activate")
        await settle(pilot)
        shown = _text(app, "#account-challenge")
        assert shown.startswith("Card indices: "), shown
        first, second = shown.removeprefix("Card indices: ").split("  ")[0].split(" and ")
        await show_tab(pilot, "tab-cards")
        await pilot.click(f"#{face_id(card)} #card-search")
        await pilot.press(*f"{first} {second}")
        values = [part.split(" → ")[1] for part in _text(app, f"#{face_id(card)} #card-value").split("   ")]
        await show_tab(pilot, "tab-account")
        await pilot.click("#account-answer")
        await pilot.press(*"".join(values))
        await pilot.click("#account-submit")
        await settle(pilot)
        assert _text(app, "#account-note") == "the device is active", _text(app, "#account-note")
        # A card-printing session activates nothing else: log in again with the online card.
        await pilot.click("#account-logout")
        await settle(pilot)
        card_id = next(d.id for d in client.user(USER).devices if d.kind == "online-scc")
        await _log_in(app, pilot, Enrolled(USER, "online-scc", card_id, card, None, issued))
        shown = _text(app, "#portal-challenge")
        first, second = shown.removeprefix("Card indices: ").split("  ")[0].split(" and ")
        await show_tab(pilot, "tab-cards")
        app.query_one(f"#{face_id(card)} #card-search", Input).value = ""
        await pilot.click(f"#{face_id(card)} #card-search")
        await pilot.press(*f"{first},{second}")
        values = [part.split(" → ")[1] for part in _text(app, f"#{face_id(card)} #card-value").split("   ")]
        await _submit(app, pilot, "".join(values))
        assert _text(app, "#portal-result").startswith(f"logged in as {USER}")
        await show_tab(pilot, "tab-account")
        await settle(pilot)
        assert "online card: full access" in _text(app, "#account-session")
        # Reactivate the permanent DSC+ with its own answer: temporary access ends.
        _choose(app, enrolled.device_id)
        await pilot.click("#account-activate")
        await settle(pilot)
        server_clock.advance(120)
        await _answer_with_dsc_plus(app, pilot, enrolled, PIN)
        assert _text(app, "#account-note") == "the device is active", _text(app, "#account-note")
    statuses = {d.kind: d.status for d in client.user(USER).devices}
    assert statuses["dsc-plus"] == "active"
    assert statuses["temporary"] == "revoked"
    assert statuses["online-scc"] == "revoked"


async def test_a_device_file_and_a_phone_added_inside_the_app(
    harness: Harness, connection: Connection, tmp_path: Path, server_clock: FixedClock
) -> None:
    enrolled = harness.enroll(USER, "dsc-plus", pin=PIN)
    saved = tmp_path / "qa.device.json"
    saved.write_text(json.dumps(enrolled.device.save()), encoding="utf-8")
    server_clock.advance(120)
    store = DeviceStore([])
    app = KeypadApp(store, connection=connection, initial_tab="tab-account")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#account-device-file")
        await pilot.press(*str(tmp_path / "missing.json"))
        await pilot.click("#account-add")
        await pilot.pause()
        assert "not a saved device" in _text(app, "#account-note")
        app.query_one("#account-device-file", Input).value = str(saved)
        await pilot.click("#account-add")
        await pilot.pause()
        added = [d for d in store.devices if d.kind == "dsc-plus"]
        assert len(added) == 1
        face = app.query_one(f"#{face_id(added[0])}")
        assert face.parent is not None
        assert face.parent.id == "tab-dsc-plus"
        assert not app.query_one("#tab-dsc-plus").query(".empty")
        await pilot.click("#account-phone-number")
        await pilot.press(*"+15551230001")
        await pilot.click("#account-add")
        await pilot.pause()
        assert [d.kind for d in store.devices] == ["dsc-plus", "phone"]
        # The added DSC+ logs in like any other.
        enrolled_copy = Enrolled(USER, "dsc-plus", enrolled.device_id, added[0], PIN, enrolled.enrollment)
        await _dsc_plus_login(app, pilot, enrolled_copy)


async def _click(pilot: Pilot[None], selector: str) -> None:
    """Scroll the widget into view, as a person would, and click it."""
    pilot.app.query_one(selector).scroll_visible(animate=False)
    await pilot.pause()
    assert await pilot.click(selector)


async def test_an_ib_key_pin_change_with_the_password_and_a_texted_code(
    harness: Harness, connection: Connection, server_clock: FixedClock
) -> None:
    enrolled = harness.enroll(USER, "ib-key", pin=PIN)
    ib_key = enrolled.device
    assert isinstance(ib_key, IbKeyApp)
    phone = create(Provisioning(kind=DeviceKind.PHONE, serial="qa-handset", number=SERVER_NUMBER))
    assert isinstance(phone, Phone)
    app = KeypadApp(DeviceStore([ib_key, phone]), connection=connection, initial_tab="tab-ib-key")
    async with app.run_test(size=SIZE) as pilot:
        await _click(pilot, "#ibkey-send-code")
        await settle(pilot)
        assert _text(app, "#ibkey-note") == "type the user's password first"
        app.query_one("#ibkey-password", Input).value = SERVER_PASSWORD
        await _click(pilot, "#ibkey-send-code")
        await settle(pilot)
        assert _text(app, "#ibkey-note") == "a code was sent by SMS: see the Phone tab"
        await show_tab(pilot, "tab-phone")
        await pilot.click("#phone-check")
        await settle(pilot)
        code = phone.latest_code()
        assert code is not None
        await show_tab(pilot, "tab-ib-key")
        await _click(pilot, "#ibkey-pin-code")
        await pilot.press(*code)
        await _click(pilot, "#ibkey-current-pin")
        await pilot.press(*PIN)
        await _click(pilot, "#ibkey-changed-pin")
        await pilot.press(*"97531")
        await _click(pilot, "#ibkey-change-pin")
        await settle(pilot)
        assert _text(app, "#ibkey-note") == f"PIN changed for {USER}"
    assert len(ib_key.time_code(USER, pin="97531")) >= 6
    with pytest.raises(InvalidPin):
        ib_key.time_code(USER, pin=PIN)
