"""``tokensim devices``: list, PSKC export and import on a server's database, otpauth URIs and QR codes.

A server database is made in a temporary folder with the in-process app and emulated devices; the
commands then run as a user runs them (``tokensim.server.cli.main``), and what they wrote is checked by
logging in with the imported devices and by parsing the URIs with pyotp.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest

from tokensim.emulators.devices.dsc import DigitalSecurityCard
from tokensim.protocol.clock import FixedClock
from tokensim.protocol.pskc import read_pskc
from tokensim.server.cli import main
from tokensim.server.client import TokensimClient
from tokensim.server.config import MASTER_KEY_ENV, SUPPORT_TOKEN_ENV
from tokensim.server.core import load_support_token
from tokensim.server.http.app import create_app
from tokensim.server.testing.harness import Enrolled, Harness

from .conftest import NO_ENV, PASSWORD, PHONE, START, fast_config

KINDS = ("scc", "online-scc", "dsc", "dsc-plus", "gold", "platinum", "ib-key")
PSK = "000102030405060708090a0b0c0d0e0f"


@dataclass
class Server:
    """A server's data folder, its clock, and alice's enrolled devices by kind."""

    data_dir: Path
    clock: FixedClock
    devices: dict[str, Enrolled]


def _make_server(folder: Path, *, users: dict[str, tuple[str, ...]]) -> Server:
    clock = FixedClock(START)
    config = fast_config(folder)
    app = create_app(config, clock=clock, environ=NO_ENV)
    token = load_support_token(config.token_path, environ=NO_ENV)
    devices: dict[str, Enrolled] = {}
    try:
        with TokensimClient.in_process(app, support_token=token) as client:
            harness = Harness(client, clock=clock)
            for username, kinds in users.items():
                client.create_user(username, PASSWORD, phones=[PHONE], equity=2_000_000)
                # The online card last: activating a permanent device ends it.
                for kind in sorted(kinds, key=lambda k: k == "online-scc"):
                    devices[kind] = harness.enroll(username, kind)
            if "gold" in devices:
                harness.login("alice", PASSWORD, devices["gold"])  # the Gold counter moves on
    finally:
        app.state.service.close()
    return Server(folder, clock, devices)


@pytest.fixture(autouse=True)
def _no_server_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    monkeypatch.delenv(SUPPORT_TOKEN_ENV, raising=False)


@pytest.fixture
def alice_server(tmp_path: Path) -> Server:
    return _make_server(tmp_path / "a", users={"alice": KINDS})


@pytest.fixture
def bob_server(tmp_path: Path) -> Server:
    return _make_server(tmp_path / "b", users={"bob": ()})


def _devices(server: Server, *args: str) -> list[str]:
    return ["devices", *args, "--data-dir", str(server.data_dir)]


def _bob_devices(bob: Server, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert main(_devices(bob, "list", "bob")) == 0
    # Only the devices that hold secrets: a sign-up SMS device is not the import's doing.
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["user", "device", "kind", "serial", "status"]
    return [line for line in lines if line.split()[2] != "phone"]


def test_list_shows_every_device(alice_server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_devices(alice_server, "list")) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["user", "device", "kind", "serial", "status"]
    # A user with a phone may also get an SMS device at sign-up (the server's policy, not these devices).
    assert sorted(line.split()[2] for line in lines if line.split()[2] != "phone") == sorted(KINDS)
    assert all(
        line.split()[0] == "alice" and line.split()[4] == "active" for line in lines if "phone" not in line
    )


def test_plain_export_warns_and_is_private(
    alice_server: Server,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    pskc_schema: Callable[[bytes], None],
) -> None:
    out = tmp_path / "alice.pskc"
    assert main(_devices(alice_server, "export", "--user", "alice", "--out", str(out))) == 0
    captured = capsys.readouterr()
    assert "unencrypted" in captured.err
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    pskc_schema(out.read_bytes())  # one user's devices, every kind, each key in its own KeyPackage
    keys = read_pskc(out.read_bytes())
    serials = {key.serial for key in keys}
    assert serials == {
        enrolled.provisioning.serial for enrolled in alice_server.devices.values() if enrolled.provisioning
    }
    # The secrets are the devices' own; Gold carries its counter (activation and one login).
    dsc_plus = alice_server.devices["dsc-plus"].provisioning
    assert dsc_plus is not None
    assert next(k for k in keys if k.serial == dsc_plus.serial).secret == dsc_plus.secret
    gold = alice_server.devices["gold"].provisioning
    assert gold is not None
    assert next(k for k in keys if k.serial == gold.serial).counter == 2
    # Nothing secret reached the terminal.
    assert dsc_plus.secret.hex() not in captured.out + captured.err


@pytest.mark.parametrize(
    ("protect", "environ"),
    [
        (["--key", PSK], {}),
        (["--passphrase-env", "PSKC_PASS"], {"PSKC_PASS": "correct horse"}),
    ],
    ids=["pre-shared-key", "pbkdf2"],
)
def test_export_then_import_elsewhere_and_log_in(
    alice_server: Server,
    bob_server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    protect: list[str],
    environ: dict[str, str],
    pskc_schema: Callable[[bytes], None],
) -> None:
    for name, value in {**environ, "DEVICE_PIN": "1234"}.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "cards.pskc"
    moved = ["dsc-plus", "gold", "scc", "dsc"]
    ids = [arg for kind in moved for arg in ("--device", alice_server.devices[kind].device_id)]
    assert main(_devices(alice_server, "export", *ids, "--out", str(out), *protect)) == 0
    assert "unencrypted" not in capsys.readouterr().err
    assert b"EncryptedValue" in out.read_bytes()
    pskc_schema(out.read_bytes())

    command = _devices(bob_server, "import", str(out), "--user", "bob", "--pin-env", "DEVICE_PIN", *protect)
    assert main(command) == 0
    assert "imported 4 device(s) for bob" in capsys.readouterr().out
    assert len(_bob_devices(bob_server, capsys)) == 4

    # alice's emulators now answer for bob's imported devices, the Gold counter going on from where it was.
    config = fast_config(bob_server.data_dir)
    app = create_app(config, clock=alice_server.clock, environ=NO_ENV)
    try:
        with TokensimClient.in_process(app, support_token=load_support_token(config.token_path)) as client:
            harness = Harness(client, clock=alice_server.clock)
            alice_server.clock.advance(30)  # a new TOTP step for the DSC
            by_serial = {device.serial: device.id for device in client.user("bob").devices}
            for kind in moved:
                held = alice_server.devices[kind]
                assert held.provisioning is not None
                as_bob = Enrolled(
                    "bob", kind, by_serial[held.provisioning.serial], held.device, held.pin, held.enrollment
                )
                assert "trading" in harness.login("bob", PASSWORD, as_bob).grant.scope, kind
            assert {r.event for r in client.audit(event="device.imported")} == {"device.imported"}
    finally:
        app.state.service.close()


def _tamper(data: bytes) -> bytes:
    start = data.index(b"<xenc:CipherValue>") + len(b"<xenc:CipherValue>")
    raw = bytearray(base64.b64decode(data[start : data.index(b"</xenc:CipherValue>", start)]))
    raw[-1] ^= 0x01
    end = data.index(b"</xenc:CipherValue>", start)
    return data[:start] + base64.b64encode(bytes(raw)) + data[end:]


@pytest.mark.parametrize(
    ("damage", "protect", "message"),
    [
        ("tamper", ["--key", PSK], "PSKC file refused"),
        ("none", ["--key", "ffffffffffffffffffffffffffffffff"], "PSKC file refused"),
        ("truncate", ["--key", PSK], "PSKC file refused"),
        ("none", [], "PSKC file refused"),
    ],
    ids=["tampered-value", "wrong-key", "truncated-xml", "no-key-given"],
)
def test_a_bad_file_is_refused_and_imports_nothing(
    alice_server: Server,
    bob_server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    damage: str,
    protect: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("DEVICE_PIN", "1234")
    out = tmp_path / "cards.pskc"
    ids = [arg for kind in ("scc", "dsc-plus") for arg in ("--device", alice_server.devices[kind].device_id)]
    assert main(_devices(alice_server, "export", *ids, "--out", str(out), "--key", PSK)) == 0
    data = out.read_bytes()
    if damage == "tamper":
        data = _tamper(data)
    elif damage == "truncate":
        data = data[: len(data) // 2]
    out.write_bytes(data)
    capsys.readouterr()
    command = _devices(bob_server, "import", str(out), "--user", "bob", "--pin-env", "DEVICE_PIN", *protect)
    assert main(command) == 2
    assert message in capsys.readouterr().err
    assert _bob_devices(bob_server, capsys) == []


def test_an_ib_key_in_the_file_refuses_the_whole_import(
    alice_server: Server, bob_server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "all.pskc"
    assert main(_devices(alice_server, "export", "--user", "alice", "--out", str(out))) == 0
    capsys.readouterr()
    assert main(_devices(bob_server, "import", str(out), "--user", "bob")) == 2
    assert "is a ib-key, which cannot be imported" in capsys.readouterr().err
    assert _bob_devices(bob_server, capsys) == []


def test_a_serial_already_enrolled_or_a_missing_pin_imports_nothing(
    alice_server: Server,
    bob_server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DEVICE_PIN", "1234")
    out = tmp_path / "cards.pskc"
    ids = [arg for kind in ("scc", "dsc-plus") for arg in ("--device", alice_server.devices[kind].device_id)]
    assert main(_devices(alice_server, "export", *ids, "--out", str(out))) == 0
    assert main(_devices(bob_server, "import", str(out), "--user", "bob")) == 2
    assert "give their 4-digit PIN" in capsys.readouterr().err
    assert _bob_devices(bob_server, capsys) == []
    assert main(_devices(bob_server, "import", str(out), "--user", "bob", "--pin-env", "DEVICE_PIN")) == 0
    assert main(_devices(bob_server, "import", str(out), "--user", "bob", "--pin-env", "DEVICE_PIN")) == 2
    assert "is enrolled already; nothing was imported" in capsys.readouterr().err
    assert len(_bob_devices(bob_server, capsys)) == 2


def test_commands_refuse_a_folder_without_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["devices", "list", "--data-dir", str(tmp_path / "nothing")]) == 2
    assert "no tokensim database at" in capsys.readouterr().err
    assert not (tmp_path / "nothing" / "tokensim.sqlite3").exists()


def test_otpauth_uris_read_by_pyotp_give_the_devices_codes(
    alice_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    dsc, ib_key = alice_server.devices["dsc"], alice_server.devices["ib-key"]
    assert main(_devices(alice_server, "otpauth", "alice")) == 2
    assert "several time-based devices; pick one with --device" in capsys.readouterr().err

    assert main(_devices(alice_server, "otpauth", "alice", "--device", dsc.device_id)) == 0
    uri = capsys.readouterr().out.strip()
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert (parsed.issuer, parsed.name) == ("tokensim", "alice")
    card = dsc.device
    assert isinstance(card, DigitalSecurityCard)
    assert parsed.at(int(alice_server.clock.now())) == card.code("1234")

    assert main(_devices(alice_server, "otpauth", "alice", "--device", ib_key.device_id)) == 0
    parsed = pyotp.parse_uri(capsys.readouterr().out.strip())
    assert ib_key.provisioning is not None
    assert ib_key.provisioning.totp_secret is not None
    assert parsed.byte_secret() == ib_key.provisioning.totp_secret

    assert (
        main(_devices(alice_server, "otpauth", "alice", "--device", alice_server.devices["scc"].device_id))
        == 2
    )
    assert "is not a time-based device" in capsys.readouterr().err


def test_otpauth_qr_codes(alice_server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    device = alice_server.devices["dsc"].device_id
    svg, png = tmp_path / "dsc.svg", tmp_path / "dsc.png"
    assert (
        main(_devices(alice_server, "otpauth", "alice", "--device", device, "--qr", "svg", "--out", str(svg)))
        == 0
    )
    assert (
        main(_devices(alice_server, "otpauth", "alice", "--device", device, "--qr", "png", "--out", str(png)))
        == 0
    )
    assert "<svg" in svg.read_text()
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert stat.S_IMODE(os.stat(png).st_mode) == 0o600
    capsys.readouterr()
    assert main(_devices(alice_server, "otpauth", "alice", "--device", device, "--qr", "terminal")) == 0
    drawn = capsys.readouterr().out
    assert "█" in drawn or "▀" in drawn
    assert "otpauth://" not in drawn
    assert main(_devices(alice_server, "otpauth", "alice", "--device", device, "--qr", "png")) == 2
    assert "--qr png writes a file: give --out FILE" in capsys.readouterr().err
