"""The Digital Security Card: PIN entry, the code display, lockout, time-outs, TOTP equivalence."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokensim.emulators import load
from tokensim.emulators.devices.dsc import DigitalSecurityCard
from tokensim.protocol import (
    DeviceKind,
    DeviceLocked,
    FixedClock,
    HashAlgorithm,
    InvalidParameter,
    InvalidPin,
    Provisioning,
    totp,
    verify_totp,
)

Keys = Callable[..., None]
KEY = bytes.fromhex("3132333435363738393031323334353637383930")
PIN = "2580"


def make(clock: FixedClock, **fields: object) -> DigitalSecurityCard:
    values: dict[str, object] = {"kind": DeviceKind.DSC, "serial": "DSC-1", "secret": KEY, "pin": PIN}
    values.update(fields)
    return DigitalSecurityCard(Provisioning(**values), clock=clock)  # type: ignore[arg-type]


def test_hold_press_then_the_pin_masked_as_typed_then_the_code(clock: FixedClock) -> None:
    card = make(clock)
    seen = [card.screen]
    for key in ["PRESS", "2", "5", "8", "0", "OK"]:
        card.press(key)
        seen.append(card.screen)
    code = totp(KEY, clock.now())
    assert seen == ["", "[ ]", "[ 2 _ _ _ ]", "[ - 5 _ _ ]", "[ - - 8 _ ]", "[ - - - 0 ]", code]
    verify_totp(KEY, code, clock.now())


def test_back_deletes_and_hides_every_digit(clock: FixedClock, keys: Keys) -> None:
    card = make(clock)
    keys(card, "PRESS", "BACK")
    assert card.screen == "[ ]"
    keys(card, "253", "BACK")
    assert card.screen == "[ - - _ _ ]"
    keys(card, "BACK", "BACK")
    assert card.screen == "[ ]"
    keys(card, "258", "OK")  # OK is ignored until four digits are typed
    assert card.screen == "[ - - 8 _ ]"
    keys(card, "0", "9")  # a fifth digit is dropped
    assert card.screen == "[ - - - 0 ]"
    keys(card, "OK")
    assert card.screen == totp(KEY, clock.now())


def test_the_code_leaves_the_display_after_fifteen_seconds(clock: FixedClock) -> None:
    card = make(clock)
    code = card.code(PIN)
    assert code == totp(KEY, clock.now())
    clock.advance(DigitalSecurityCard.DISPLAY_SECONDS - 0.001)
    assert card.screen == code  # the code shown is the one computed at OK, even across a step boundary
    clock.advance(0.001)
    assert card.screen == ""


def test_keys_do_not_keep_the_code_on_display(clock: FixedClock, keys: Keys) -> None:
    card = make(clock)
    card.code(PIN)
    clock.advance(10)
    keys(card, "1", "OK", "BACK")
    clock.advance(5)
    assert card.screen == ""


def test_press_while_the_code_shows_switches_the_card_off(clock: FixedClock, keys: Keys) -> None:
    card = make(clock)
    card.code(PIN)
    keys(card, "PRESS")
    assert card.screen == ""


def test_idle_time_out_mid_pin_forgets_the_digits(clock: FixedClock, keys: Keys) -> None:
    card = make(clock)
    keys(card, "PRESS", "25")
    clock.advance(DigitalSecurityCard.IDLE_SECONDS - 0.001)
    assert card.screen == "[ - 5 _ _ ]"
    clock.advance(0.001)
    assert card.screen == ""
    keys(card, "80", "OK")  # ignored while off
    keys(card, "PRESS")
    assert card.screen == "[ ]"


def test_power_off_mid_pin_with_press(clock: FixedClock, keys: Keys) -> None:
    card = make(clock)
    keys(card, "PRESS", "258", "PRESS")
    assert card.screen == ""
    keys(card, "PRESS", "0", "OK")
    assert card.screen == "[ 0 _ _ _ ]"


def test_a_wrong_pin_shows_the_attempts_left_and_the_next_digit_starts_again(
    clock: FixedClock, keys: Keys
) -> None:
    card = make(clock)
    keys(card, "PRESS", "1111", "OK")
    assert card.screen == f"PIN ERR {DigitalSecurityCard.PIN_ATTEMPTS - 1}"
    assert card.attempts_remaining == DigitalSecurityCard.PIN_ATTEMPTS - 1
    keys(card, "2")
    assert card.screen == "[ 2 _ _ _ ]"
    keys(card, "580", "OK")
    assert card.screen == totp(KEY, clock.now())
    assert card.attempts_remaining == DigitalSecurityCard.PIN_ATTEMPTS  # a right PIN resets the count


@pytest.mark.parametrize("key", ["OK", "BACK"])
def test_ok_or_back_after_a_wrong_pin_return_to_an_empty_entry(
    clock: FixedClock, keys: Keys, key: str
) -> None:
    card = make(clock)
    keys(card, "PRESS", "1111", "OK", key)
    assert card.screen == "[ ]"


def test_three_wrong_pins_lock_the_card_for_good(clock: FixedClock, keys: Keys) -> None:
    card = make(clock)
    with pytest.raises(InvalidPin) as first:
        card.code("0000")
    assert first.value.attempts_remaining == 2
    with pytest.raises(InvalidPin) as second:
        card.code("0001")
    assert second.value.attempts_remaining == 1
    with pytest.raises(InvalidPin) as third:
        card.code("0002")
    assert third.value.attempts_remaining == 0
    assert card.locked
    assert card.screen == "LOCKED"
    with pytest.raises(DeviceLocked) as locked:
        card.code(PIN)
    assert locked.value.retry_after is None
    keys(card, "PRESS")
    assert card.screen == ""
    keys(card, "PRESS", PIN, "OK")
    assert card.screen == "LOCKED"
    clock.advance(DigitalSecurityCard.IDLE_SECONDS)
    assert card.screen == ""
    reloaded = load(card.save(), clock=clock)
    assert isinstance(reloaded, DigitalSecurityCard)
    assert reloaded.locked


def test_wrong_pins_count_across_power_cycles(clock: FixedClock, keys: Keys) -> None:
    card = make(clock)
    keys(card, "PRESS", "1111", "OK", "PRESS", "PRESS", "1111", "OK")
    clock.advance(DigitalSecurityCard.IDLE_SECONDS)
    assert card.attempts_remaining == 1


@pytest.mark.parametrize("pin", ["123", "12345", "12a4", ""])
def test_code_refuses_a_malformed_pin_without_counting_it(clock: FixedClock, pin: str) -> None:
    card = make(clock)
    with pytest.raises(InvalidParameter):
        card.code(pin)
    assert card.attempts_remaining == DigitalSecurityCard.PIN_ATTEMPTS


@pytest.mark.parametrize(
    "fields",
    [{"pin": None}, {"pin": "123"}, {"pin": "abcd"}, {"secret": bytes(10)}, {"digits": 5}, {"step": 0}],
)
def test_bad_provisioning_is_refused(clock: FixedClock, fields: dict[str, object]) -> None:
    with pytest.raises(InvalidParameter):
        make(clock, **fields)


@pytest.mark.parametrize(
    "stage",
    [[], ["PRESS"], ["PRESS", "25"], ["PRESS", "25", "BACK"], ["PRESS", "1111", "OK"], ["PRESS", PIN, "OK"]],
)
def test_save_and_load_mid_entry_continue_exactly(clock: FixedClock, keys: Keys, stage: list[str]) -> None:
    card = make(clock)
    keys(card, *stage)
    copy = load(json.loads(json.dumps(card.save())), clock=clock)
    assert copy.save() == card.save()
    assert copy.screen == card.screen
    for key in ["2", "5", "BACK", "5", "8", "0", "OK", "PRESS", "PRESS", *PIN, "OK"]:
        card.press(key)
        copy.press(key)
        clock.advance(2)
        assert copy.save() == card.save()
        assert copy.screen == card.screen


def test_the_pin_never_shows_in_repr(clock: FixedClock) -> None:
    assert PIN not in repr(make(clock))


@settings(max_examples=60, deadline=None)
@given(
    secret=st.binary(min_size=16, max_size=64),
    pin=st.text("0123456789", min_size=4, max_size=4),
    when=st.floats(min_value=0, max_value=4e9),
    digits=st.integers(6, 8),
    step=st.sampled_from([30, 60]),
    algorithm=st.sampled_from(list(HashAlgorithm)),
)
def test_codes_equal_the_protocol_function(
    secret: bytes, pin: str, when: float, digits: int, step: int, algorithm: HashAlgorithm
) -> None:
    clock = FixedClock(when)
    card = make(clock, secret=secret, pin=pin, digits=digits, step=step, algorithm=algorithm)
    expected = totp(secret, when, step=step, digits=digits, algorithm=algorithm)
    assert card.code(pin) == expected
    assert card.screen == expected
