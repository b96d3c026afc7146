"""The contract every registered device kind keeps; runs once per kind the registry finds."""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokensim.emulators import KEYS, Device, create, device_class, kinds, load
from tokensim.emulators.devices.ib_key import IbKeyApp
from tokensim.emulators.devices.phone import Phone
from tokensim.protocol import (
    DEFAULT_SUITES,
    DeviceKind,
    FixedClock,
    InvalidParameter,
    Provisioning,
    PushRequest,
    SystemClock,
)

START = 1_700_000_000.0
SECRET = bytes(range(1, 33))

#: A provisioning for every kind; a new kind without one fails test_every_kind_has_a_sample.
SAMPLES: dict[str, Provisioning] = {
    "scc": Provisioning(kind=DeviceKind.SCC, serial="SCC-1", secret=SECRET),
    "online-scc": Provisioning(kind=DeviceKind.ONLINE_SCC, serial="OSC-1", secret=SECRET, issued_at=START),
    "dsc": Provisioning(kind=DeviceKind.DSC, serial="DSC-1", secret=SECRET, pin="1234"),
    "dsc-plus": Provisioning(kind=DeviceKind.DSC_PLUS, serial="P-1", secret=SECRET, firmware="legacy"),
    "gold": Provisioning(kind=DeviceKind.GOLD, serial="G-1", secret=SECRET),
    "platinum": Provisioning(kind=DeviceKind.PLATINUM, serial="PT-1", secret=SECRET),
    "ib-key": Provisioning(kind=DeviceKind.IB_KEY, serial="phone-A"),
    "phone": Provisioning(kind=DeviceKind.PHONE, serial="ph-1", number="+15550100"),
}


def _busy_ib_key(device: Device) -> None:
    assert isinstance(device, IbKeyApp)
    device.begin_activation("alice", "T", pin="1234")
    device.complete_activation(
        "alice",
        Provisioning(
            kind=DeviceKind.IB_KEY,
            serial="reg-1",
            secret=SECRET,
            suite=DEFAULT_SUITES[DeviceKind.IB_KEY],
            totp_secret=SECRET,
        ),
    )
    for number in range(3):
        device.receive_push(PushRequest(f"r{number}", "alice", "login", "203.0.113.7", "n", START + 40))


def _busy_phone(device: Device) -> None:
    assert isinstance(device, Phone)
    device.receive_sms("IBKR", "Your code is 123456")
    device.receive_call("IBKR", "Your code is 6 5 4 3 2 1")


#: What puts a kind into a state where its keys have something to do.
PREPARE: dict[str, Callable[[Device], None]] = {"ib-key": _busy_ib_key, "phone": _busy_phone}


def build(kind: str, clock: FixedClock) -> Device:
    device = create(SAMPLES[kind], clock=clock, rng=random.Random(3))
    PREPARE.get(kind, lambda d: None)(device)
    return device


def test_every_device_kind_is_registered() -> None:
    assert kinds() == sorted(kind.value for kind in DeviceKind)


def test_every_kind_has_a_sample() -> None:
    assert sorted(SAMPLES) == kinds()


@pytest.fixture(params=kinds(), scope="module")
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def test_the_class_and_the_device_carry_the_kind(kind: str, clock: FixedClock) -> None:
    cls = device_class(kind)
    assert cls.kind == kind
    device = create(SAMPLES[kind], clock=clock)
    assert type(device) is cls
    assert device.kind == kind
    assert device.serial == SAMPLES[kind].serial
    assert device.clock is clock
    assert isinstance(cls.from_provisioning(SAMPLES[kind]), cls)


def test_clock_and_rng_default_to_the_system(kind: str) -> None:
    device = create(SAMPLES[kind])
    assert isinstance(device.clock, SystemClock)
    assert isinstance(device._rng, secrets.SystemRandom)
    assert isinstance(device.screen, str)


def test_a_provisioning_for_another_kind_is_refused(kind: str) -> None:
    other = next(sample for name, sample in SAMPLES.items() if name != kind)
    with pytest.raises(InvalidParameter):
        device_class(kind).from_provisioning(other)


@pytest.mark.parametrize("key", ["", "ok", "A", "10", "ENTER", " 1", "PRESS "])
def test_unknown_keys_are_refused(kind: str, clock: FixedClock, key: str) -> None:
    device = build(kind, clock)
    before = device.save()
    with pytest.raises(InvalidParameter, match="unknown key"):
        device.press(key)
    assert device.save() == before


def test_every_key_is_accepted_in_every_state_reached(kind: str, clock: FixedClock) -> None:
    device = build(kind, clock)
    rng = random.Random(kind)
    for _ in range(300):
        device.press(rng.choice(KEYS))
        clock.advance(rng.choice([0, 0.5, 4, 11, 31]))
        assert isinstance(device.screen, str)
        deadline = device.display_deadline
        assert deadline is None or deadline > clock.now()


def test_the_serial_never_leaks_a_secret_through_repr(kind: str, clock: FixedClock) -> None:
    device = build(kind, clock)
    assert SECRET.hex() not in repr(device)
    assert repr(device) == f"{type(device).__name__}(serial={SAMPLES[kind].serial!r})"


@settings(max_examples=30, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from(KEYS), st.sampled_from([0, 1, 9.5, 30, 61])), max_size=25))
def test_save_and_load_round_trip_at_every_step(kind: str, steps: list[tuple[str, float]]) -> None:
    clock = FixedClock(START)
    device = build(kind, clock)
    for key, pause in steps:
        device.press(key)
        clock.advance(pause)
        saved = device.save()
        assert saved["kind"] == kind
        text = json.dumps(saved)  # JSON-able through and through
        copy = load(json.loads(text), clock=clock)
        assert type(copy) is type(device)
        assert copy.save() == saved
        assert copy.screen == device.screen
        assert copy.display_deadline == device.display_deadline
        # The two go on identically.
        copy.press("OK")
        device.press("OK")
        assert copy.screen == device.screen
        assert copy.save() == device.save()


def test_load_refuses_data_that_is_not_this_device(kind: str, clock: FixedClock) -> None:
    cls = device_class(kind)
    saved = build(kind, clock).save()
    other = next(name for name in SAMPLES if name != kind)
    for data in [
        [],
        {},
        saved | {"kind": other},
        saved | {"format": 99},
        saved | {"state": "nope"},
        {key: value for key, value in saved.items() if key != "provisioning"},
    ]:
        with pytest.raises(InvalidParameter):
            cls.load(data)
    with pytest.raises(InvalidParameter):
        load(saved | {"kind": "toaster"})
