"""The demo accounts ``tokensim serve --demo`` creates: one user per device kind, each with its device.

Each account's password is :data:`DEMO_PASSWORD` and each device's PIN :data:`DEMO_PIN`. The emulated
devices (the cards, the IB Key app) are saved beside the server's data so a person can log in with
them, with a note per account saying how to produce the answer; a second start reuses them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tokensim.protocol.clock import Clock, SystemClock
from tokensim.protocol.provisioning import DeviceKind
from tokensim.server.client import ProblemError, TokensimClient
from tokensim.server.storage.models import Device, User
from tokensim.server.testing.harness import ALL_KINDS, Enrolled, Harness

__all__ = [
    "DEMO_EQUITY_USD",
    "DEMO_PASSWORD",
    "DEMO_PIN",
    "DemoAccount",
    "gold_counters",
    "seed_demo_accounts",
]

#: The password of every demo account.
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a published demo password, by design
#: The demo accounts' balance: above the DSC+ threshold (docs/rules.md).
DEMO_EQUITY_USD = 1_000_000
#: The PIN of every demo device.
DEMO_PIN = "1234"


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """A demo user and how to answer with its device.

    Attributes:
        username: the login name (the password is :data:`DEMO_PASSWORD`).
        kind: the device kind.
        how: how to produce the answer (commands spelled ``tokensim ...``).
    """

    username: str
    kind: str
    how: str


def _demo_username(kind: str) -> str:
    return "demo-sms" if kind == DeviceKind.PHONE.value else f"demo-{kind}"


def _how(kind: str, enrolled: Enrolled, folder: Path) -> str:
    provisioning = enrolled.provisioning
    if kind in ("scc", "online-scc"):
        return f"type the two cells' values from {folder / (enrolled.username + '.card.txt')}"
    if kind == "phone":
        assert enrolled.enrollment.device.number is not None
        number = enrolled.enrollment.device.number.replace("+", "%2B")
        return f"read the code: GET /v1/outbox?to={number} (support token)"
    assert provisioning is not None
    if kind == "ib-key":
        assert provisioning.totp_secret is not None
        ocra_key, totp_key = provisioning.secret.hex(), provisioning.totp_secret.hex()
        return (
            f"mode numeric: tokensim code ocra --suite {provisioning.suite} --key {ocra_key} "
            f"--question CHALLENGE; mode code: tokensim code totp --key {totp_key}; "
            f"push/qr: the app saved in {folder / 'ib-key-app.json'}"
        )
    key = provisioning.secret.hex()
    if kind == "dsc":
        return f"tokensim code totp --key {key}"
    # The Gold's counter is shown when the banner prints it: the one the server expects next.
    counter = " --counter N" if kind == "gold" else ""
    suite = provisioning.suite
    return f"tokensim code ocra --suite {suite} --key {key} --pin {DEMO_PIN}{counter} --question CHALLENGE"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def seed_demo_accounts(
    client: TokensimClient, folder: Path, *, clock: Clock | None = None
) -> list[DemoAccount]:
    """Create one demo user per device kind, each with an active device; keep what exists.

    The emulators' states (the cards, the IB Key app) are saved in ``folder`` so a person can use
    them; a second run reuses the accounts and the saved notes.

    Args:
        client: a client with the support token.
        folder: where the devices and notes are saved.
        clock: the emulators' clock, the server's own (the system clock when ``None``).
    """
    harness = Harness(client, clock=SystemClock() if clock is None else clock)
    # The folder holds device secrets: private, also when an earlier version left it 0755.
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    accounts: list[DemoAccount] = []
    notes_path = folder / "accounts.json"
    notes: dict[str, str] = json.loads(notes_path.read_text()) if notes_path.exists() else {}
    for position, kind in enumerate(ALL_KINDS, start=1):
        username = _demo_username(kind)
        try:
            client.user(username)
        except ProblemError as e:
            if e.code != "not-found":
                raise
        else:
            accounts.append(DemoAccount(username, kind, notes.get(username, "(created by an earlier run)")))
            continue
        phone = f"+1555010{position:04d}"
        # Each demo account holds exactly its one device (no signup SMS), whatever the server's default,
        # and is funded, so its online card runs its 21 days from now and a DSC+ may be requested.
        client.create_user(
            username, DEMO_PASSWORD, phones=[phone], start_with_sms=False, equity=DEMO_EQUITY_USD
        )
        enrolled = harness.enroll(username, kind, pin=DEMO_PIN)
        card = enrolled.enrollment.card
        if card is not None:
            _write_private(folder / f"{username}.card.txt", card.text())
        if kind == "ib-key":
            _write_private(folder / "ib-key-app.json", json.dumps(harness.app().save(), indent=2))
        elif kind != "phone":
            _write_private(folder / f"{username}.device.json", json.dumps(enrolled.device.save(), indent=2))
        notes[username] = _how(kind, enrolled, folder)
        accounts.append(DemoAccount(username, kind, notes[username]))
    _write_private(notes_path, json.dumps(notes, indent=2))
    return accounts


def gold_counters(service: Any, accounts: list[DemoAccount]) -> dict[str, int]:
    """The counter each demo Gold device's next answer must use, as the server expects it."""
    names = [a.username for a in accounts if a.kind == "gold"]
    if not names:
        return {}
    with service.core.db.read() as session:
        rows = session.execute(
            select(User.username, Device.counter)
            .join(Device, Device.user_id == User.id)
            .where(User.username.in_(names), Device.kind == "gold", Device.status == "active")
        )
        return {username: counter or 0 for username, counter in rows}
