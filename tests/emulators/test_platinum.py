"""The Platinum device: keypad flow with an 8-digit challenge and the one-minute time step of the clock."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokensim.emulators import load
from tokensim.emulators.devices.platinum import Platinum
from tokensim.protocol import (
    DEFAULT_SUITES,
    DeviceKind,
    FixedClock,
    InvalidCode,
    Provisioning,
    ocra,
    verify_ocra,
)

KEY = bytes(range(64))
SUITE = DEFAULT_SUITES[DeviceKind.PLATINUM]
START = 1_700_000_000.0  # 20 s into a minute


def make(clock: FixedClock, secret: bytes = KEY) -> Platinum:
    return Platinum(Provisioning(kind=DeviceKind.PLATINUM, serial="PT-1", secret=secret), clock=clock)


def test_the_response_uses_the_minute_at_which_ok_is_pressed(clock: FixedClock) -> None:
    device = make(clock)
    assert device.counter is None
    assert device.suite.time_step == 60
    for key in ["PRESS", *"9876", "OK", *"1234"]:
        device.press(key)
    clock.advance(45)  # typing the rest of the challenge crosses into the next minute
    for key in [*"5678", "OK"]:
        device.press(key)
    response = device.screen
    assert response == ocra(SUITE, KEY, "12345678", pin="9876", timestamp=START + 45)
    assert response != ocra(SUITE, KEY, "12345678", pin="9876", timestamp=START)
    match = verify_ocra(SUITE, KEY, response, "12345678", pin="9876", timestamp=START + 50, time_window=1)
    assert match.time_drift == 0


def test_same_minute_same_response_next_minute_another(clock: FixedClock) -> None:
    device = make(clock)
    first = device.respond("12345678", "9876")
    clock.advance(39)
    assert device.respond("12345678", "9876") == first
    clock.advance(1)
    second = device.respond("12345678", "9876")
    assert second != first
    with pytest.raises(InvalidCode):
        verify_ocra(SUITE, KEY, first, "12345678", pin="9876", timestamp=clock.now() + 120, time_window=1)


def test_save_and_load_mid_entry(clock: FixedClock) -> None:
    device = make(clock)
    for key in ["PRESS", *"9876", "OK", *"1234"]:
        device.press(key)
    copy = load(json.loads(json.dumps(device.save())), clock=clock)
    assert copy.screen == device.screen == "CHALLNG> 1234"
    for key in [*"5678", "OK"]:
        device.press(key)
        copy.press(key)
    assert copy.screen == device.screen == ocra(SUITE, KEY, "12345678", pin="9876", timestamp=START)


@settings(max_examples=40, deadline=None)
@given(
    secret=st.binary(min_size=16, max_size=64),
    challenge=st.text("0123456789", min_size=8, max_size=8),
    pin=st.text("0123456789", min_size=4, max_size=4),
    when=st.floats(min_value=0, max_value=4e9),
)
def test_responses_equal_the_protocol_function(secret: bytes, challenge: str, pin: str, when: float) -> None:
    device = make(FixedClock(when), secret)
    assert device.respond(challenge, pin) == ocra(SUITE, secret, challenge, pin=pin, timestamp=when)
