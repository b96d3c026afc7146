"""The keypad's state file: devices and bookmarks survive a restart, the file stays private."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tokensim.emulators import Device
from tokensim.emulators.keypad.store import STATE_ENV, DeviceStore, default_state_path
from tokensim.protocol.clock import FixedClock
from tokensim.protocol.errors import InvalidParameter
from tokensim.server.cli.keypad import add_devices


def test_devices_and_bookmarks_come_back_as_they_were(
    tmp_path: Path, devices: list[Device], keypad_clock: FixedClock
) -> None:
    path = tmp_path / "state" / "keypad.json"
    card = next(d for d in devices if d.kind == "dsc-plus")
    card.press("PRESS")
    card.press("4")
    store = DeviceStore(devices, path)
    store.set_cursor("phone:+15550001", 12)
    store.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = DeviceStore.open(path, clock=keypad_clock)
    assert [d.save() for d in again.devices] == [d.save() for d in devices]
    assert next(d for d in again.devices if d.kind == "dsc-plus").screen == "PIN> *"
    assert again.cursor("phone:+15550001") == 12
    assert again.cursor("phone:other") == 0


def test_a_missing_file_is_an_empty_store_and_a_damaged_one_is_refused(tmp_path: Path) -> None:
    assert DeviceStore.open(tmp_path / "none.json").devices == []
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidParameter, match="not JSON"):
        DeviceStore.open(bad)
    bad.write_text(json.dumps({"format": 9, "devices": []}), encoding="utf-8")
    with pytest.raises(InvalidParameter, match="format 9"):
        DeviceStore.open(bad)


def test_the_default_location(tmp_path: Path) -> None:
    assert default_state_path({STATE_ENV: str(tmp_path / "x.json")}) == tmp_path / "x.json"
    assert default_state_path({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "tokensim" / "keypad.json"


def test_tokensim_keypad_add_takes_saved_devices_and_phones_once(
    tmp_path: Path, devices: list[Device]
) -> None:
    saved = tmp_path / "demo-dsc-plus.device.json"
    card = next(d for d in devices if d.kind == "dsc-plus")
    saved.write_text(json.dumps(card.save()), encoding="utf-8")
    store = DeviceStore()
    assert add_devices(store, [saved], ["+15550100008"]) == 2
    assert add_devices(store, [saved], ["+15550100008"]) == 0
    assert [(d.kind, d.serial) for d in store.devices] == [
        ("dsc-plus", card.serial),
        ("phone", "handset-+15550100008"),
    ]
    with pytest.raises(InvalidParameter):
        add_devices(store, [tmp_path / "missing.json"], [])
