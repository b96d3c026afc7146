"""The Gold device: keypad flow with an 8-digit challenge, and an event counter that always advances."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokensim.emulators import load
from tokensim.emulators.devices.gold import Gold
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

KEY = bytes(range(32))
SUITE = DEFAULT_SUITES[DeviceKind.GOLD]


def make(clock: FixedClock, secret: bytes = KEY) -> Gold:
    return Gold(Provisioning(kind=DeviceKind.GOLD, serial="G-1", secret=secret), clock=clock)


def test_the_key_sequence_and_the_counter(clock: FixedClock) -> None:
    device = make(clock)
    assert device.suite.text == SUITE
    assert device.challenge_digits == 8
    assert device.counter == 0
    seen = []
    for key in ["PRESS", *"1357", "OK", *"24682468", "OK"]:
        device.press(key)
        seen.append(device.screen)
    assert seen[:6] == ["PIN>", "PIN> *", "PIN> **", "PIN> ***", "PIN> ****", "CHALLNG>"]
    assert seen[-2] == "CHALLNG> 24682468"
    assert seen[-1] == ocra(SUITE, KEY, "24682468", counter=0, pin="1357")
    assert device.counter == 1


def test_a_six_digit_challenge_is_not_enough(clock: FixedClock) -> None:
    device = make(clock)
    for key in ["PRESS", *"1357", "OK", *"123456", "OK"]:
        device.press(key)
    assert device.screen == "CHALLNG> 123456"
    with pytest.raises(InvalidParameter):
        device.respond("123456", "1357")


def test_a_wrong_pin_still_moves_the_counter_and_the_server_catches_up(clock: FixedClock) -> None:
    device = make(clock)
    wrong = device.respond("11112222", "0000")
    with pytest.raises(InvalidCode):
        verify_ocra(SUITE, KEY, wrong, "11112222", counter=0, counter_window=3, pin="1357")
    right = device.respond("11112222", "1357")
    match = verify_ocra(SUITE, KEY, right, "11112222", counter=0, counter_window=3, pin="1357")
    assert (match.counter, match.next_counter) == (1, 2)
    assert device.counter == 2


def test_the_counter_survives_save_and_load_and_power_off_does_not_move_it(clock: FixedClock) -> None:
    device = make(clock)
    device.respond("12345678", "1357")
    device.press("PRESS")
    device.press("PRESS")
    device.press("PRESS")
    copy = load(json.loads(json.dumps(device.save())), clock=clock)
    assert isinstance(copy, Gold)
    assert copy.counter == device.counter == 1
    assert copy.respond("12345678", "1357") == device.respond("12345678", "1357")


def test_idle_power_off_and_back(clock: FixedClock) -> None:
    device = make(clock)
    for key in ["PRESS", *"13", "BACK"]:
        device.press(key)
    assert device.screen == "PIN> *"
    clock.advance(Gold.IDLE_SECONDS)
    assert device.screen == ""
    assert device.counter == 0


@settings(max_examples=40, deadline=None)
@given(
    secret=st.binary(min_size=16, max_size=64),
    challenge=st.text("0123456789", min_size=8, max_size=8),
    pin=st.text("0123456789", min_size=4, max_size=4),
    uses=st.integers(0, 5),
)
def test_responses_equal_the_protocol_function(secret: bytes, challenge: str, pin: str, uses: int) -> None:
    device = make(FixedClock(0), secret)
    for _ in range(uses):
        device.respond("00000000", "0000")
    assert device.respond(challenge, pin) == ocra(SUITE, secret, challenge, counter=uses, pin=pin)
