"""``otpauth://`` key URIs and their QR codes, so a real authenticator app can enrol a time-based device.

Building follows what authenticator apps accept best: Base32 without padding, an uppercase
algorithm name, the issuer both in the label and as a parameter. Parsing is forgiving about what
apps and other servers write: lowercase algorithm names, padded or lowercase Base32, a missing issuer.

The URI is built by pyotp (so pyotp's parser reads it back), and QR codes are drawn by segno.

Example:
    >>> uri = otpauth_uri(bytes(20), "alice", issuer="tokensim")
    >>> uri.startswith("otpauth://totp/tokensim:alice?secret=AAAA")
    True
    >>> parse_otpauth_uri(uri).secret == bytes(20)
    True
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import segno

from tokensim.protocol.errors import InvalidDocument, InvalidParameter
from tokensim.protocol.otp import HashAlgorithm

__all__ = ["KeyUri", "decode_base32", "otpauth_uri", "parse_otpauth_uri", "qr_png", "qr_svg", "qr_terminal"]

_BASE32_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")

_DIGESTS = {
    HashAlgorithm.SHA1: hashlib.sha1,
    HashAlgorithm.SHA256: hashlib.sha256,
    HashAlgorithm.SHA512: hashlib.sha512,
}


@dataclass(frozen=True, slots=True)
class KeyUri:
    """The contents of an ``otpauth://`` URI.

    Attributes:
        type: ``"totp"`` or ``"hotp"``.
        secret: the decoded secret.
        account: the account name from the label.
        issuer: the issuer, from the parameter or else the label prefix.
        algorithm: the HMAC hash (SHA1 when absent).
        digits: code length (6 when absent).
        period: TOTP step in seconds (30 when absent).
        counter: the initial HOTP counter.
    """

    type: Literal["totp", "hotp"]
    secret: bytes
    account: str
    issuer: str | None = None
    algorithm: HashAlgorithm = HashAlgorithm.SHA1
    digits: int = 6
    period: int = 30
    counter: int | None = None

    def __repr__(self) -> str:
        return f"KeyUri(type={self.type!r}, account={self.account!r}, issuer={self.issuer!r})"


def otpauth_uri(
    secret: bytes,
    account: str,
    *,
    issuer: str | None = None,
    algorithm: HashAlgorithm = HashAlgorithm.SHA1,
    digits: int = 6,
    period: int = 30,
    counter: int | None = None,
) -> str:
    """Build an ``otpauth://totp/...`` URI, or ``otpauth://hotp/...`` when ``counter`` is given.

    Raises:
        InvalidParameter: the secret is shorter than 112 bits, a name holds a colon, or digits is not
            6 to 10.
    """
    if len(secret) < 14:
        raise InvalidParameter("authenticator apps need a secret of at least 112 bits")
    if ":" in account or (issuer is not None and ":" in issuer):
        raise InvalidParameter("neither the account nor the issuer may contain a colon")
    if not 6 <= digits <= 10:
        raise InvalidParameter(f"digits must be from 6 to 10, got {digits}")
    encoded = base64.b32encode(secret).decode().rstrip("=")
    digest = _DIGESTS[algorithm]
    if counter is not None:
        return pyotp.HOTP(
            encoded, digits=digits, digest=digest, name=account, issuer=issuer
        ).provisioning_uri(initial_count=counter)
    return pyotp.TOTP(
        encoded, digits=digits, digest=digest, interval=period, name=account, issuer=issuer
    ).provisioning_uri()


def decode_base32(text: str) -> bytes:
    """Decode a Base32 secret (RFC 4648 §6) as people and apps write it.

    Case, spaces and the ``=`` padding do not matter (``jbsw y3dp`` is ``JBSWY3DP``), as for oathtool's
    ``--base32``.

    Raises:
        InvalidParameter: empty, a character outside ``A-Z`` and ``2-7``, or a length no Base32
            string has (the message names the characters, never the whole secret).
    """
    cleaned = "".join(text.split()).upper().rstrip("=")
    if not cleaned:
        raise InvalidParameter("not Base32: it is empty")
    foreign = sorted(set(cleaned) - _BASE32_ALPHABET)
    if foreign:
        listed = " ".join(repr(c) for c in foreign)
        raise InvalidParameter(f"not Base32: {listed} not in its alphabet (A-Z and 2-7)")
    if len(cleaned) % 8 in (1, 3, 6):
        raise InvalidParameter(f"not Base32: no Base32 string is {len(cleaned)} characters long (cut short?)")
    try:
        return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError) as e:  # pragma: no cover - the checks above cover what it refuses
        raise InvalidParameter("not Base32") from e


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return None if not values else values[0]


def _number(params: dict[str, list[str]], name: str) -> int | None:
    text = _one(params, name)
    if text is None:
        return None
    if not text.isdigit():
        raise InvalidDocument(f"otpauth URI: {name} must be a whole number, got {text!r}")
    return int(text)


def parse_otpauth_uri(uri: str) -> KeyUri:
    """Read an ``otpauth://`` URI.

    Raises:
        InvalidDocument: not an otpauth URI, an unknown type or algorithm, a missing or bad secret,
            or a missing HOTP counter.
    """
    parts = urlsplit(uri.strip())
    if parts.scheme.lower() != "otpauth":
        raise InvalidDocument("not an otpauth:// URI")
    kind = parts.netloc.lower()
    if kind not in ("totp", "hotp"):
        raise InvalidDocument(f"otpauth URI: unknown type {parts.netloc!r}; expected totp or hotp")
    params = parse_qs(parts.query)
    secret_text = _one(params, "secret")
    if not secret_text:
        raise InvalidDocument("otpauth URI: the secret parameter is required")
    try:
        secret = decode_base32(secret_text)
    except InvalidParameter as e:
        raise InvalidDocument(f"otpauth URI: the secret is {e}") from e
    label = unquote(parts.path.lstrip("/"))
    prefix, colon, account = label.partition(":")
    if not colon:
        prefix, account = "", label
    issuer = _one(params, "issuer") or prefix.strip() or None
    try:
        algorithm = HashAlgorithm.parse(_one(params, "algorithm") or "SHA1")
    except InvalidParameter as e:
        raise InvalidDocument(f"otpauth URI: {e}") from e
    counter = _number(params, "counter")
    if kind == "hotp" and counter is None:
        raise InvalidDocument("otpauth URI: an hotp URI needs a counter")
    digits = _number(params, "digits")
    digits = 6 if digits is None else digits
    period = _number(params, "period")
    period = 30 if period is None else period
    if not 6 <= digits <= 10 or period < 1:
        raise InvalidDocument("otpauth URI: digits must be 6 to 10 and period positive")
    return KeyUri(
        type="totp" if kind == "totp" else "hotp",
        secret=secret,
        account=account.strip(),
        issuer=issuer,
        algorithm=algorithm,
        digits=digits,
        period=period,
        counter=counter if kind == "hotp" else None,
    )


def qr_svg(text: str, *, scale: int = 4) -> str:
    """A QR code of ``text`` as an SVG document."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=scale)
    return out.getvalue().decode()


def qr_png(text: str, *, scale: int = 4) -> bytes:
    """A QR code of ``text`` as PNG bytes."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="png", scale=scale)
    return out.getvalue()


def qr_terminal(text: str) -> str:
    """A QR code of ``text`` drawn with block characters, for printing to a terminal."""
    out = io.StringIO()
    segno.make(text, error="m").terminal(out=out, compact=True)
    return out.getvalue()
