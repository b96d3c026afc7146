"""The DSC+: every key sequence, its time-outs, the older firmware, and OCRA equivalence."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokensim.emulators import create, load
from tokensim.emulators.devices.dsc_plus import DscPlus
from tokensim.protocol import (
    DEFAULT_SUITES,
    DeviceKind,
    FixedClock,
    InvalidCode,
    InvalidParameter,
    Provisioning,
    ocra,
    verify_ocra,
)

KEY = bytes.fromhex("3132333435363738393031323334353637383930")
SUITE = DEFAULT_SUITES[DeviceKind.DSC_PLUS]
Keys = Callable[..., None]


def make(clock: FixedClock, *, firmware: str = "current", suite: str | None = None) -> DscPlus:
    return DscPlus(
        Provisioning(kind=DeviceKind.DSC_PLUS, serial="DSCP-1", secret=KEY, suite=suite, firmware=firmware),
        clock=clock,
    )


def test_the_whole_key_sequence_shows_each_prompt(clock: FixedClock) -> None:
    card = make(clock)
    seen = [card.screen]
    for key in ["PRESS", "1", "2", "3", "4", "OK", "1", "2", "3", "4", "5", "6", "OK"]:
        card.press(key)
        seen.append(card.screen)
    expected = ocra(SUITE, KEY, "123456", pin="1234")
    assert seen == [
        "",
        "PIN>",
        "PIN> *",
        "PIN> **",
        "PIN> ***",
        "PIN> ****",
        "CHALLNG>",
        "CHALLNG> 1",
        "CHALLNG> 12",
        "CHALLNG> 123",
        "CHALLNG> 1234",
        "CHALLNG> 12345",
        "CHALLNG> 123456",
        expected,
    ]
    assert len(expected) == 8
    verify_ocra(SUITE, KEY, card.screen, "123456", pin="1234")


def test_the_pin_is_forgotten_once_the_response_is_shown(clock: FixedClock, keys: Keys) -> None:
    card = make(clock)
    keys(card, "PRESS", "4321", "OK", "999999", "OK")
    state = card.save()["state"]
    assert state["pin"] == ""
    assert state["challenge"] == ""
    assert "4321" not in json.dumps(card.save())


def test_a_wrong_pin_gives_a_wrong_response_that_the_server_refuses(clock: FixedClock) -> None:
    card = make(clock)
    wrong = card.respond("123456", "9999")
    assert wrong == ocra(SUITE, KEY, "123456", pin="9999")
    with pytest.raises(InvalidCode):
        verify_ocra(SUITE, KEY, wrong, "123456", pin="1234")


def test_ok_is_ignored_until_a_field_is_complete_and_extra_digits_are_dropped(
    clock: FixedClock, keys
) -> None:
    card = make(clock)
    keys(card, "PRESS", "123", "OK")
    assert card.screen == "PIN> ***"
    keys(card, "45", "OK")  # the fifth digit is dropped
    assert card.screen == "CHALLNG>"
    keys(card, "12345", "OK")
    assert card.screen == "CHALLNG> 12345"
    keys(card, "67", "OK")  # the seventh digit is dropped
    assert card.screen == ocra(SUITE, KEY, "123456", pin="1234")


def test_back_deletes_the_last_digit_and_nothing_on_an_empty_field(clock: FixedClock, keys: Keys) -> None:
    card = make(clock)
    keys(card, "PRESS", "BACK")
    assert card.screen == "PIN>"
    keys(card, "12", "BACK")
    assert card.screen == "PIN> *"
    keys(card, "789", "OK")  # PIN 1789
    keys(card, "BACK", "12", "BACK", "BACK", "BACK")
    assert card.screen == "CHALLNG>"
    keys(card, "55", "BACK", "66666", "OK")
    assert card.screen == ocra(SUITE, KEY, "566666", pin="1789")
    keys(card, "BACK", "7")  # the response screen ignores both
    assert card.screen == ocra(SUITE, KEY, "566666", pin="1789")


def test_keys_on_a_switched_off_card_do_nothing(clock: FixedClock, keys: Keys) -> None:
    card = make(clock)
    before = card.save()
    keys(card, "1234", "OK", "BACK")
    assert card.screen == ""
    assert card.save() == before


def test_press_switches_off_mid_entry_and_what_was_typed_is_forgotten(clock: FixedClock, keys: Keys) -> None:
    card = make(clock)
    keys(card, "PRESS", "1234", "OK", "123")
    keys(card, "PRESS")
    assert card.screen == ""
    assert not card.powered
    keys(card, "PRESS")
    assert card.screen == "PIN>"
    keys(card, "OK")
    assert card.screen == "PIN>"  # nothing of the old PIN survived


@pytest.mark.parametrize("stage", [["PRESS"], ["PRESS", "12"], ["PRESS", "1234", "OK", "12345"]])
def test_the_card_powers_off_after_idle_seconds_mid_entry(
    clock: FixedClock, keys: Keys, stage: list[str]
) -> None:
    card = make(clock)
    keys(card, *stage)
    on_screen = card.screen
    clock.advance(DscPlus.IDLE_SECONDS - 0.001)
    assert card.screen == on_screen
    clock.advance(0.001)
    assert card.screen == ""
    keys(card, "PRESS")
    assert card.screen == "PIN>"


def test_every_key_restarts_the_idle_time(clock: FixedClock, keys: Keys) -> None:
    card = make(clock)
    keys(card, "PRESS")
    for digit in "1234":
        clock.advance(DscPlus.IDLE_SECONDS - 1)
        keys(card, digit)
    assert card.screen == "PIN> ****"
    clock.advance(DscPlus.IDLE_SECONDS - 1)
    keys(card, "BACK")  # BACK counts as activity too
    clock.advance(DscPlus.IDLE_SECONDS - 1)
    assert card.screen == "PIN> ***"


def test_the_response_stays_until_the_idle_power_off(clock: FixedClock) -> None:
    card = make(clock)
    response = card.respond("000000", "0000")
    clock.advance(DscPlus.IDLE_SECONDS - 1)
    assert card.screen == response
    clock.advance(1)
    assert card.screen == ""


def test_respond_restarts_a_card_left_mid_entry(clock: FixedClock, keys: Keys) -> None:
    card = make(clock)
    keys(card, "PRESS", "99")
    assert card.respond("123456", "1234") == ocra(SUITE, KEY, "123456", pin="1234")


@pytest.mark.parametrize(
    ("challenge", "pin"),
    [
        ("12345", "1234"),
        ("1234567", "1234"),
        ("12a456", "1234"),
        ("123456", "123"),
        ("123456", "12345"),
        ("123456", "12x4"),
        ("\uff11\uff12\uff13\uff14\uff15\uff16", "1234"),
    ],
)
def test_respond_refuses_malformed_input(clock: FixedClock, challenge: str, pin: str) -> None:
    with pytest.raises(InvalidParameter):
        make(clock).respond(challenge, pin)


def test_older_firmware_prompts_and_the_split_response(clock: FixedClock, keys: Keys) -> None:
    card = make(clock, firmware="legacy")
    keys(card, "PRESS")
    assert card.screen == "Pn"
    keys(card, "12")
    assert card.screen == "Pn **"
    keys(card, "34", "OK")
    assert card.screen == "Ch"
    keys(card, "123456")
    assert card.screen == "Ch 123456"
    keys(card, "OK")
    full = ocra(SUITE, KEY, "123456", pin="1234")
    assert card.screen == full[:5]
    clock.advance(9.999)
    assert card.screen == full[:5]
    clock.advance(0.001)
    assert card.screen == full[5:]
    clock.advance(10)
    assert card.screen == full[:5]
    keys(card, "OK")  # OK switches at once
    assert card.screen == full[5:]
    keys(card, "OK")
    assert card.screen == full[:5]
    clock.advance(10)
    assert card.screen == full[5:]


def test_older_firmware_respond_returns_all_eight_digits(clock: FixedClock) -> None:
    card = make(clock, firmware="legacy")
    response = card.respond("654321", "2468")
    assert response == ocra(SUITE, KEY, "654321", pin="2468")
    assert card.screen == response[:5]


def test_a_counter_suite_from_the_provisioning_advances_on_every_response(clock: FixedClock) -> None:
    suite = "OCRA-1:HOTP-SHA1-8:C-QN06-PSHA1"
    card = make(clock, suite=suite)
    assert card.counter == 0
    first = card.respond("123456", "1234")
    second = card.respond("123456", "1234")
    assert card.counter == 2
    assert first == ocra(suite, KEY, "123456", counter=0, pin="1234")
    assert second == ocra(suite, KEY, "123456", counter=1, pin="1234")


def test_a_default_card_has_no_counter(clock: FixedClock) -> None:
    assert make(clock).counter is None
    assert make(clock).suite.text == SUITE


@pytest.mark.parametrize(
    ("suite", "secret"),
    [("OCRA-1:HOTP-SHA1-8:QA06-PSHA1", KEY), ("OCRA-1:HOTP-SHA1-0:QN06", KEY), (SUITE, bytes(8))],
)
def test_suites_a_keypad_cannot_use_and_short_keys_are_refused(suite: str, secret: bytes) -> None:
    with pytest.raises(InvalidParameter):
        DscPlus(Provisioning(kind=DeviceKind.DSC_PLUS, serial="x", secret=secret, suite=suite))


@pytest.mark.parametrize(
    "stage",
    [[], ["PRESS"], ["PRESS", "12"], ["PRESS", "1234", "OK"], ["PRESS", "1234", "OK", "123"]],
)
@pytest.mark.parametrize("firmware", ["current", "legacy"])
def test_save_and_load_mid_entry_continue_exactly(
    clock: FixedClock, keys: Keys, stage: list[str], firmware: str
) -> None:
    card = make(clock, firmware=firmware)
    keys(card, *stage)
    copy = load(json.loads(json.dumps(card.save())), clock=clock)
    assert isinstance(copy, DscPlus)
    assert copy.save() == card.save()
    assert copy.screen == card.screen
    for key in [*(["PRESS"] if not stage else []), *"1234", "OK", *"654321", "OK"]:
        card.press(key)
        copy.press(key)
        clock.advance(3)
        assert copy.save() == card.save()
        assert copy.screen == card.screen
    assert card.screen != ""


def test_a_saved_legacy_toggle_survives_a_reload(clock: FixedClock, keys: Keys) -> None:
    card = make(clock, firmware="legacy")
    card.respond("123456", "1234")
    keys(card, "OK")
    copy = DscPlus.load(card.save(), clock=clock)
    assert copy.screen == card.screen == ocra(SUITE, KEY, "123456", pin="1234")[5:]


def test_create_makes_a_dsc_plus_from_provisioning(clock: FixedClock) -> None:
    card = create(Provisioning(kind=DeviceKind.DSC_PLUS, serial="P-9", secret=KEY), clock=clock)
    assert isinstance(card, DscPlus)
    assert card.serial == "P-9"
    assert "3132" not in repr(card)


@settings(max_examples=60, deadline=None)
@given(
    secret=st.binary(min_size=16, max_size=64),
    challenge=st.text("0123456789", min_size=6, max_size=6),
    pin=st.text("0123456789", min_size=4, max_size=4),
    when=st.floats(min_value=0, max_value=4e9),
    legacy=st.booleans(),
)
def test_responses_equal_the_protocol_function(
    secret: bytes, challenge: str, pin: str, when: float, legacy: bool
) -> None:
    clock = FixedClock(when)
    card = make_with(secret, clock, "legacy" if legacy else "current")
    expected = ocra(SUITE, secret, challenge, pin=pin)
    assert card.respond(challenge, pin) == expected
    other = make_with(secret, clock, "current")
    for key in ["PRESS", *pin, "OK", *challenge, "OK"]:
        other.press(key)
    assert other.screen == expected
    verify_ocra(SUITE, secret, expected, challenge, pin=pin)


def make_with(secret: bytes, clock: FixedClock, firmware: str) -> DscPlus:
    return DscPlus(
        Provisioning(kind=DeviceKind.DSC_PLUS, serial="H", secret=secret, firmware=firmware), clock=clock
    )


def test_random_key_storms_never_break_the_card(clock: FixedClock) -> None:
    rng = random.Random(7)
    card = make(clock)
    for _ in range(2000):
        card.press(rng.choice(["PRESS", "OK", "BACK", *"0123456789"]))
        clock.advance(rng.choice([0, 1, 5, 30, 61]))
        screen = card.screen
        assert (
            screen == "" or screen.startswith(("PIN>", "CHALLNG>")) or (screen.isdigit() and len(screen) == 8)
        )
