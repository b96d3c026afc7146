from __future__ import annotations

import base64

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokensim.protocol import HashAlgorithm, InvalidDocument, InvalidParameter, totp
from tokensim.protocol.otpauth import otpauth_uri, parse_otpauth_uri, qr_png, qr_svg, qr_terminal

SECRET = b"Hello!\xde\xad\xbe\xef" + bytes(10)


def test_uri_follows_the_key_uri_format() -> None:
    uri = otpauth_uri(SECRET, "alice@example.com", issuer="ACME Co", algorithm=HashAlgorithm.SHA256, digits=8)
    assert uri.startswith("otpauth://totp/ACME%20Co:alice%40example.com?")
    assert "secret=JBSWY3DPEHPK3PXP" in uri
    assert "=" not in uri.split("secret=")[1].split("&")[0]  # no Base32 padding
    assert "algorithm=SHA256" in uri  # uppercase, as authenticator apps require
    assert "issuer=ACME%20Co" in uri


@given(
    secret=st.binary(min_size=14, max_size=64),
    account=st.text(
        alphabet=st.characters(categories=["L", "N"], exclude_characters=":"), min_size=1, max_size=20
    ),
    algorithm=st.sampled_from(list(HashAlgorithm)),
    digits=st.sampled_from([6, 8]),
    period=st.sampled_from([30, 60]),
)
def test_uris_round_trip_through_pyotp(
    secret: bytes, account: str, algorithm: HashAlgorithm, digits: int, period: int
) -> None:
    uri = otpauth_uri(secret, account, issuer="tokensim", algorithm=algorithm, digits=digits, period=period)
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.byte_secret() == secret
    assert (parsed.digits, parsed.interval, parsed.issuer, parsed.name) == (
        digits,
        period,
        "tokensim",
        account,
    )
    # The code an app would show equals ours.
    assert parsed.at(1_700_000_000) == totp(secret, 1_700_000_000, period, digits, algorithm)
    ours = parse_otpauth_uri(uri)
    assert (ours.secret, ours.account, ours.algorithm, ours.digits, ours.period) == (
        secret,
        account,
        algorithm,
        digits,
        period,
    )


def test_hotp_uri_carries_the_counter() -> None:
    uri = otpauth_uri(SECRET, "bob", issuer="tokensim", counter=7)
    assert uri.startswith("otpauth://hotp/")
    parsed = parse_otpauth_uri(uri)
    assert (parsed.type, parsed.counter) == ("hotp", 7)
    assert isinstance(pyotp.parse_uri(uri), pyotp.HOTP)


def test_parsing_is_forgiving_about_what_others_write() -> None:
    padded = base64.b32encode(b"\x01" * 16).decode().lower()
    parsed = parse_otpauth_uri(f"otpauth://TOTP/Issuer:carol?secret={padded}&algorithm=sha512")
    assert parsed.secret == b"\x01" * 16
    assert parsed.algorithm is HashAlgorithm.SHA512
    assert parsed.issuer == "Issuer"
    assert parsed.account == "carol"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("https://example.com", "not an otpauth"),
        ("otpauth://motp/x?secret=AAAA", "unknown type"),
        ("otpauth://totp/x", "secret parameter"),
        ("otpauth://totp/x?secret=1!!", "Base32"),
        ("otpauth://totp/x?secret=JBSWY3DP&algorithm=MD5", "unknown hash"),
        ("otpauth://totp/x?secret=JBSWY3DP&digits=six", "whole number"),
        ("otpauth://totp/x?secret=JBSWY3DP&digits=4", "digits"),
        ("otpauth://hotp/x?secret=JBSWY3DP", "counter"),
    ],
)
def test_bad_uris_are_refused_clearly(uri: str, message: str) -> None:
    with pytest.raises(InvalidDocument, match=message):
        parse_otpauth_uri(uri)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidParameter, match="112 bits"):
        otpauth_uri(bytes(10), "a")
    with pytest.raises(InvalidParameter, match="colon"):
        otpauth_uri(SECRET, "a:b")


def test_qr_codes_in_three_forms() -> None:
    uri = otpauth_uri(SECRET, "alice", issuer="tokensim")
    assert qr_svg(uri).lstrip().startswith("<?xml")
    assert "<svg" in qr_svg(uri)
    assert qr_png(uri).startswith(b"\x89PNG\r\n\x1a\n")
    drawing = qr_terminal(uri)
    assert len(drawing.splitlines()) > 10
    assert qr_svg(uri) != qr_svg(otpauth_uri(SECRET, "bob", issuer="tokensim"))
