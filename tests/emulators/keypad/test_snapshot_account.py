"""Snapshot of the Account tab before a login: the session's flows wait, adding devices works already."""

from __future__ import annotations

import pytest

from tokensim.emulators.keypad.app import KeypadApp
from tokensim.emulators.keypad.store import DeviceStore

from .conftest import SIZE
from .snapshots import compare, take

pytestmark = pytest.mark.anyio


async def test_account_pane_before_a_login(store: DeviceStore) -> None:
    app = KeypadApp(store, initial_tab="tab-account")
    async with app.run_test(size=SIZE) as pilot:
        compare(await take(pilot), "account")
