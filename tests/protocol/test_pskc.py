from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tokensim.protocol import DEFAULT_SUITES, DeviceKind, HashAlgorithm, InvalidDocument, Provisioning
from tokensim.protocol.pskc import (
    HOTP_ALGORITHM,
    PskcKey,
    export_devices,
    import_devices,
    read_pskc,
    write_pskc,
)

FIGURES = Path(__file__).resolve().parent.parent / "vectors" / "pskc"
FIGURE6_KEY = bytes.fromhex("12345678901234567890123456789012")

DEVICES = [
    Provisioning(kind=DeviceKind.SCC, serial="SCC-0001", secret=bytes(range(16))),
    Provisioning(
        kind=DeviceKind.ONLINE_SCC,
        serial="OSC-0001",
        secret=bytes(range(1, 17)),
        issued_at=1_700_000_000.0,
        expires_at=1_700_000_000.0 + 21 * 86400,
    ),
    Provisioning(kind=DeviceKind.DSC, serial="DSC-0001", secret=b"\x11" * 20, pin="2468"),
    Provisioning(
        kind=DeviceKind.DSC_PLUS,
        serial="DSCP-0001",
        secret=b"\x22" * 20,
        suite=DEFAULT_SUITES[DeviceKind.DSC_PLUS],
    ),
    Provisioning(
        kind=DeviceKind.GOLD, serial="GLD-0001", secret=b"\x33" * 32, suite=DEFAULT_SUITES[DeviceKind.GOLD]
    ),
    Provisioning(
        kind=DeviceKind.PLATINUM,
        serial="PLT-0001",
        secret=b"\x44" * 64,
        suite=DEFAULT_SUITES[DeviceKind.PLATINUM],
    ),
    Provisioning(
        kind=DeviceKind.IB_KEY,
        serial="IBK-0001",
        secret=b"\x55" * 32,
        suite=DEFAULT_SUITES[DeviceKind.IB_KEY],
        totp_secret=b"\x66" * 20,
        algorithm=HashAlgorithm.SHA256,
        digits=8,
    ),
]


def test_rfc6030_figure6_decrypts_with_the_pre_shared_key() -> None:
    (key,) = read_pskc((FIGURES / "rfc6030_figure6.pskcxml").read_bytes(), key=FIGURE6_KEY)
    assert key.secret == b"12345678901234567890"
    assert (key.id, key.serial, key.algorithm, key.counter, key.digits) == (
        "12345678",
        "987654321",
        HOTP_ALGORITHM,
        0,
        8,
    )
    assert key.manufacturer == "Manufacturer"


def test_rfc6030_figure7_decrypts_with_the_passphrase() -> None:
    (key,) = read_pskc((FIGURES / "rfc6030_figure7.pskcxml").read_bytes(), passphrase="qwerty")
    assert key.secret == b"12345678901234567890"
    assert key.issuer == "Example-Issuer"


@pytest.mark.parametrize(
    ("protection", "wrong"),
    [({"key": FIGURE6_KEY}, {"key": bytes(16)}), ({"passphrase": "qwerty"}, {"passphrase": "QWERTY"})],
    ids=["pre-shared-key", "pbkdf2"],
)
def test_wrong_or_missing_key_is_refused(protection: dict[str, object], wrong: dict[str, object]) -> None:
    name = "rfc6030_figure6.pskcxml" if "key" in protection else "rfc6030_figure7.pskcxml"
    data = (FIGURES / name).read_bytes()
    with pytest.raises(InvalidDocument):
        read_pskc(data, **wrong)  # type: ignore[arg-type]
    with pytest.raises(InvalidDocument):
        read_pskc(data)


def test_tampered_mac_is_refused() -> None:
    data = (FIGURES / "rfc6030_figure6.pskcxml").read_bytes()
    tampered = data.replace(b"Su+NvtQfmvfJzF6bmQiJqoLRExc=", b"Tu+NvtQfmvfJzF6bmQiJqoLRExc=")
    with pytest.raises(InvalidDocument, match="MAC"):
        read_pskc(tampered, key=FIGURE6_KEY)


def test_tampered_ciphertext_is_refused() -> None:
    data = (FIGURES / "rfc6030_figure6.pskcxml").read_bytes()
    tampered = data.replace(b"AAECAwQFBgcICQoLDA0OD+cI", b"AAECAwQFBgcICQoLDA0OD+cJ")
    with pytest.raises(InvalidDocument):
        read_pskc(tampered, key=FIGURE6_KEY)


@pytest.mark.parametrize(
    "data",
    [b"", b"not xml at all", b"<KeyContainer", b'<?xml version="1.0"?><Other/>', b"\xff\xfe\x00garbage"],
)
def test_malformed_files_are_refused_with_a_clear_error(data: bytes) -> None:
    with pytest.raises(InvalidDocument, match="PSKC file refused"):
        read_pskc(data)


def test_entity_expansion_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE k [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc"><KeyPackage>'
        b"<Key Id='1' Algorithm='urn:ietf:params:xml:ns:keyprov:pskc:hotp'><Issuer>&b;</Issuer></Key>"
        b"</KeyPackage></KeyContainer>"
    )
    with pytest.raises(InvalidDocument):
        read_pskc(bomb)


@pytest.mark.parametrize(
    "protection",
    [{}, {"key": bytes(range(16))}, {"passphrase": "correct horse", "iterations": 1000}],
    ids=["plain", "pre-shared-key", "pbkdf2"],
)
def test_every_device_kind_round_trips(protection: dict[str, object]) -> None:
    data = export_devices(DEVICES, **protection)  # type: ignore[arg-type]
    for device in DEVICES:
        if "key" in protection or "passphrase" in protection:
            assert device.secret.hex().encode() not in data
    read_protection = {k: v for k, v in protection.items() if k != "iterations"}
    assert import_devices(data, **read_protection) == DEVICES  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "protection",
    [{}, {"key": bytes(range(16))}, {"passphrase": "correct horse", "iterations": 1000}],
    ids=["plain", "pre-shared-key", "pbkdf2"],
)
def test_every_export_is_valid_against_the_rfc6030_schema(
    protection: dict[str, object], pskc_schema: Callable[[bytes], None]
) -> None:
    pskc_schema(export_devices(DEVICES, **protection))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "protection",
    [{}, {"key": bytes(range(16))}, {"passphrase": "correct horse", "iterations": 1000}],
    ids=["plain", "pre-shared-key", "pbkdf2"],
)
def test_libpskc_validates_every_export(protection: dict[str, object], tmp_path: Path) -> None:
    # The check the issue was found with; libpskc's schema is the one shipped in tests/vectors/pskc/.
    pskctool = shutil.which("pskctool")
    if pskctool is None:
        pytest.skip("pskctool (Debian's pskctool package) is not installed; the lxml schema check ran")
    exported = tmp_path / "export.pskc"
    exported.write_bytes(export_devices(DEVICES, **protection))  # type: ignore[arg-type]
    done = subprocess.run(
        [pskctool, "--validate", str(exported)], capture_output=True, text=True, timeout=60, check=False
    )
    # pskctool exits 0 either way: its verdict is the OK or FAIL it prints.
    assert done.stdout.strip() == "OK", done.stdout + done.stderr


def test_a_device_with_two_keys_is_two_packages_with_one_device_info() -> None:
    from lxml import etree

    dsc, ib_key = DEVICES[2], DEVICES[6]
    tree = etree.fromstring(export_devices([dsc, ib_key]))
    ns = {"pskc": "urn:ietf:params:xml:ns:keyprov:pskc"}
    packages = tree.findall("pskc:KeyPackage", ns)
    assert [len(p.findall("pskc:Key", ns)) for p in packages] == [1, 1, 1, 1]
    assert [p.findtext("pskc:DeviceInfo/pskc:SerialNo", namespaces=ns) for p in packages] == [
        "DSC-0001",
        "DSC-0001",
        "IBK-0001",
        "IBK-0001",
    ]


def test_the_schema_check_accepts_the_rfc_figures_and_refuses_two_keys_in_a_package(
    pskc_schema: Callable[[bytes], None],
) -> None:
    for figure in sorted(FIGURES.glob("rfc6030_figure*.pskcxml")):
        pskc_schema(figure.read_bytes())
    # The layout tokensim wrote before: a DSC's TOTP and PIN keys in one KeyPackage.
    two_in_one = (
        b'<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc"><KeyPackage>'
        b'<Key Id="1" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp"/>'
        b'<Key Id="2" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:pin"/>'
        b"</KeyPackage></KeyContainer>"
    )
    with pytest.raises(AssertionError, match=r"Key': This element is not expected"):
        pskc_schema(two_in_one)


def test_a_file_with_one_bad_device_imports_nothing() -> None:
    good = PskcKey(
        id="a", algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp", secret=b"\x01" * 20, serial="A"
    )
    bad = PskcKey(id="b", algorithm=HOTP_ALGORITHM, secret=b"\x02" * 20, serial="B")
    with pytest.raises(InvalidDocument, match="no tokensim device uses"):
        import_devices(write_pskc([good, bad]))


def test_a_foreign_totp_key_becomes_a_dsc() -> None:
    foreign = PskcKey(
        id="x",
        algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp",
        secret=b"\x01" * 20,
        time_interval=60,
        digits=8,
    )
    (device,) = import_devices(write_pskc([foreign]))
    assert (device.kind, device.step, device.digits, device.serial) == (DeviceKind.DSC, 60, 8, "x")


def test_policy_dates_survive() -> None:
    expiry = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    key = PskcKey(
        id="c", algorithm="urn:x-tokensim:code-card", secret=bytes(16), serial="C", expiry_date=expiry
    )
    (back,) = read_pskc(write_pskc([key]))
    assert back.expiry_date == expiry


def test_phone_has_nothing_to_export() -> None:
    with pytest.raises(ValueError, match="no secret"):
        export_devices([Provisioning(kind=DeviceKind.PHONE, serial="P", number="+15550100")])
