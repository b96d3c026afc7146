"""QR login payloads: the text a login page shows and a phone scans."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokensim.protocol import QR_PREFIX, InvalidParameter, PushRequest, parse_qr_payload, qr_payload

REQUEST = PushRequest(
    id="req-1",
    username="alice",
    action="login",
    origin="203.0.113.7",
    nonce="n0nce",
    expires_at=1_700_000_600.0,
    details={"platform": "Client Portal"},
)


def test_payload_is_the_prefix_and_base64url_canonical_json() -> None:
    text = qr_payload(REQUEST)
    assert text.startswith("tokensim-qr:")
    encoded = text[len(QR_PREFIX) :]
    assert "=" not in encoded
    assert set(encoded) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    assert body == json.dumps(REQUEST.to_json(), sort_keys=True, separators=(",", ":")).encode()


def test_round_trip_and_surrounding_white_space() -> None:
    assert parse_qr_payload(qr_payload(REQUEST)) == REQUEST
    assert parse_qr_payload(f"  {qr_payload(REQUEST)}\n") == REQUEST


def _encode(body: bytes) -> str:
    return QR_PREFIX + base64.urlsafe_b64encode(body).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must start with 'tokensim-qr:'"),
        ("otpauth://totp/x", "must start with 'tokensim-qr:'"),
        ("TOKENSIM-QR:abc", "must start with 'tokensim-qr:'"),
        (QR_PREFIX + "not base64!", "not base64url"),
        (QR_PREFIX + "a", "not base64url"),
        (_encode(b"\xff\xfe"), "not JSON"),
        (_encode(b"{not json"), "not JSON"),
        (_encode(b"[1, 2]"), "expected a JSON object"),
        (_encode(b'{"id": "r"}'), "missing"),
    ],
)
def test_bad_payloads_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse_qr_payload(text)


@given(
    username=st.text(min_size=1, max_size=20),
    origin=st.text(max_size=30),
    expires_at=st.floats(min_value=0, max_value=4e9),
    details=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)
def test_any_request_survives_the_qr_code(
    username: str, origin: str, expires_at: float, details: dict[str, str]
) -> None:
    request = PushRequest("r", username, "login", origin, "n", expires_at, details)
    assert parse_qr_payload(qr_payload(request)) == request
