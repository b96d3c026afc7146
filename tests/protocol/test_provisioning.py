from __future__ import annotations

import json

import pytest

from tokensim.protocol import (
    DEFAULT_SUITES,
    DeviceKind,
    HashAlgorithm,
    IbKeyActivation,
    InvalidParameter,
    InvalidSuite,
    OcraSuite,
    Provisioning,
)


def test_every_default_suite_parses() -> None:
    for suite in DEFAULT_SUITES.values():
        OcraSuite.parse(suite)


@pytest.mark.parametrize(
    "provisioning",
    [
        Provisioning(kind=DeviceKind.SCC, serial="SCC-1", secret=bytes(16)),
        Provisioning(
            kind=DeviceKind.ONLINE_SCC, serial="O-1", secret=bytes(16), issued_at=1.0, expires_at=2.0
        ),
        Provisioning(kind=DeviceKind.DSC, serial="D-1", secret=bytes(20), pin="1234"),
        Provisioning(
            kind=DeviceKind.DSC_PLUS,
            serial="P-1",
            secret=bytes(20),
            suite=DEFAULT_SUITES[DeviceKind.DSC_PLUS],
            firmware="legacy",
        ),
        Provisioning(
            kind=DeviceKind.IB_KEY,
            serial="K-1",
            secret=bytes(32),
            suite=DEFAULT_SUITES[DeviceKind.IB_KEY],
            totp_secret=bytes(20),
            algorithm=HashAlgorithm.SHA256,
        ),
        Provisioning(kind=DeviceKind.PHONE, serial="PH-1", number="+15550100"),
    ],
)
def test_round_trip_through_json_text(provisioning: Provisioning) -> None:
    assert Provisioning.from_json(json.loads(json.dumps(provisioning.to_json()))) == provisioning


def test_repr_shows_no_secret_or_pin() -> None:
    text = repr(Provisioning(kind=DeviceKind.DSC, serial="D-1", secret=b"\xab" * 20, pin="9876"))
    assert "abab" not in text
    assert "9876" not in text


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        ({"kind": "toaster", "serial": "x"}, InvalidParameter, "unknown kind"),
        ({"kind": "scc"}, InvalidParameter, "serial"),
        ({"kind": "scc", "serial": "x", "secret": "xyz"}, InvalidParameter, "not hex"),
        ({"kind": "dsc", "serial": "x", "digits": "6"}, InvalidParameter, "digits"),
        ({"kind": "dsc-plus", "serial": "x", "suite": "OCRA-9"}, InvalidSuite, "OCRA-9"),
        ({"kind": "dsc-plus", "serial": "x", "firmware": "beta"}, InvalidParameter, "firmware"),
        ("scc", InvalidParameter, "JSON object"),
    ],
)
def test_malformed_provisioning_is_refused(data: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Provisioning.from_json(data)


def test_activation_round_trip_and_validation() -> None:
    activation = IbKeyActivation(username="alice", token="ABC123", public_key="-----BEGIN PUBLIC KEY-----")
    assert IbKeyActivation.from_json(activation.to_json()) == activation
    assert "ABC123" not in repr(activation)
    with pytest.raises(InvalidParameter, match="token"):
        IbKeyActivation.from_json({"username": "alice", "public_key": "k"})
