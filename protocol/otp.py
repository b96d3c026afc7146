"""HOTP (RFC 4226) and TOTP (RFC 6238).

The arithmetic is the standard library's HMAC; the functions here add what the RFCs leave to the
implementer: digit and counter ranges checked up front, 64-bit counters (RFC 6238's T = 20000000000
needs more than 32 bits), and verifiers that raise on failure and return a typed match on success.

Example:
    >>> key = bytes.fromhex("3132333435363738393031323334353637383930")
    >>> hotp(key, 0)
    '755224'
    >>> totp(key, 59, digits=8)
    '94287082'
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from tokensim.protocol.errors import InvalidCode, InvalidParameter, ReplayedCode

__all__ = [
    "MAX_COUNTER",
    "MIN_KEY_BYTES",
    "HashAlgorithm",
    "HotpMatch",
    "TotpMatch",
    "check_key",
    "dynamic_truncate",
    "hotp",
    "time_step",
    "totp",
    "verify_hotp",
    "verify_totp",
]

#: Largest counter value: the counter is an 8-byte unsigned big-endian integer (RFC 4226 §5.1).
MAX_COUNTER = 2**64 - 1
#: RFC 4226 §4 R6: the shared secret MUST be at least 128 bits.
MIN_KEY_BYTES = 16


class HashAlgorithm(enum.Enum):
    """The HMAC hash functions OATH algorithms allow (RFC 6238 §1.2, RFC 6287 §5.1)."""

    SHA1 = "SHA1"
    SHA256 = "SHA256"
    SHA512 = "SHA512"

    @property
    def digest_size(self) -> int:
        """Length of the hash output in bytes."""
        return {"SHA1": 20, "SHA256": 32, "SHA512": 64}[self.value]

    def new(self, data: bytes = b"") -> Any:
        """Return a new :mod:`hashlib` object of this algorithm fed with ``data``."""
        return hashlib.new(self.value.lower(), data)

    def hmac(self, key: bytes, message: bytes) -> bytes:
        """Return HMAC-H(key, message)."""
        return hmac.new(key, message, self.value.lower()).digest()

    @classmethod
    def parse(cls, name: str) -> HashAlgorithm:
        """Read a hash name in any case, with or without a dash (``sha-256`` and ``SHA256`` alike).

        Raises:
            InvalidParameter: the name is not SHA1, SHA256 or SHA512.
        """
        normal = name.strip().upper().replace("-", "")
        try:
            return cls(normal)
        except ValueError:
            raise InvalidParameter(
                f"unknown hash algorithm {name!r}: expected SHA1, SHA256 or SHA512"
            ) from None


@dataclass(frozen=True, slots=True)
class HotpMatch:
    """A successful HOTP verification.

    Attributes:
        counter: the counter value whose code matched.
        next_counter: the value the verifier should store (``counter + 1``).
        drift: how far ahead of the expected counter the match was.
    """

    counter: int
    next_counter: int
    drift: int


@dataclass(frozen=True, slots=True)
class TotpMatch:
    """A successful TOTP verification.

    Attributes:
        step: the time step whose code matched; store it to refuse a second use (RFC 6238 §5.2).
        drift: the matched step minus the current step (negative when the code is from the past).
    """

    step: int
    drift: int


def check_key(key: bytes, minimum: int = MIN_KEY_BYTES) -> bytes:
    """Return ``key`` if it is long enough to provision a device or a verifier.

    The algorithm functions accept any non-empty key, so the RFC vectors and short test keys still
    compute; whatever stores a key for real use calls this first.

    Raises:
        InvalidParameter: the key is shorter than ``minimum`` bytes.
    """
    if len(key) < minimum:
        raise InvalidParameter(f"key is {len(key)} bytes; at least {minimum} are required (RFC 4226 §4)")
    return key


def _check_digits(digits: int, allowed: range) -> None:
    if digits not in allowed:
        raise InvalidParameter(f"digits must be from {allowed.start} to {allowed.stop - 1}, got {digits}")


def _check_counter(counter: int) -> None:
    if not 0 <= counter <= MAX_COUNTER:
        raise InvalidParameter(f"counter must be from 0 to 2**64-1, got {counter}")


def dynamic_truncate(mac: bytes, digits: int) -> str:
    """Apply RFC 4226 §5.3 dynamic truncation and return ``digits`` decimal digits.

    The offset comes from the low nibble of the last byte, which is what RFC 6238 does for SHA-256
    and SHA-512 too.
    """
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def hotp(key: bytes, counter: int, digits: int = 6, algorithm: HashAlgorithm = HashAlgorithm.SHA1) -> str:
    """Compute an HOTP value (RFC 4226 §5.3).

    Args:
        key: the shared secret.
        counter: the moving factor, 0 to 2**64-1.
        digits: length of the code, 6 to 10.
        algorithm: the HMAC hash.

    Raises:
        InvalidParameter: an argument is out of range.
    """
    if not key:
        raise InvalidParameter("key must not be empty")
    _check_digits(digits, range(6, 11))
    _check_counter(counter)
    return dynamic_truncate(algorithm.hmac(key, counter.to_bytes(8, "big")), digits)


def time_step(timestamp: float, step: int = 30, t0: int = 0) -> int:
    """Return RFC 6238 §4.2's ``T = floor((timestamp - T0) / X)``.

    Raises:
        InvalidParameter: ``step`` is not positive or the timestamp is before ``t0``.
    """
    if step <= 0:
        raise InvalidParameter(f"time step must be positive, got {step}")
    if timestamp < t0:
        raise InvalidParameter(f"timestamp {timestamp} is before T0 = {t0}")
    return int((timestamp - t0) // step)


def totp(
    key: bytes,
    timestamp: float,
    step: int = 30,
    digits: int = 6,
    algorithm: HashAlgorithm = HashAlgorithm.SHA1,
    t0: int = 0,
) -> str:
    """Compute a TOTP value (RFC 6238 §4) for the Unix time ``timestamp``.

    The caller passes the time; nothing here reads a clock.
    """
    return hotp(key, time_step(timestamp, step, t0), digits, algorithm)


def verify_hotp(
    key: bytes,
    code: str,
    counter: int,
    *,
    digits: int = 6,
    algorithm: HashAlgorithm = HashAlgorithm.SHA1,
    look_ahead: int = 0,
) -> HotpMatch:
    """Check an HOTP code against ``counter`` and the next ``look_ahead`` values (RFC 4226 §7.4).

    Every candidate is compared in constant time, and all of them are computed whatever matches, so
    the time taken does not tell which counter matched.

    Raises:
        InvalidCode: no counter in the window gives ``code``.
    """
    _check_counter(counter)
    if look_ahead < 0:
        raise InvalidParameter("look_ahead must not be negative")
    presented = code.strip().encode()
    found: int | None = None
    for candidate in range(counter, min(counter + look_ahead, MAX_COUNTER) + 1):
        expected = hotp(key, candidate, digits, algorithm).encode()
        if hmac.compare_digest(expected, presented) and found is None:
            found = candidate
    if found is None:
        raise InvalidCode("HOTP code does not match")
    return HotpMatch(counter=found, next_counter=found + 1, drift=found - counter)


def verify_totp(
    key: bytes,
    code: str,
    timestamp: float,
    *,
    step: int = 30,
    digits: int = 6,
    algorithm: HashAlgorithm = HashAlgorithm.SHA1,
    t0: int = 0,
    window: int = 1,
    last_used_step: int | None = None,
) -> TotpMatch:
    """Check a TOTP code at ``timestamp``, accepting ``window`` steps either side (RFC 6238 §5.2).

    Args:
        last_used_step: the step of the last accepted code for this key; a match at or before it is
            a replay and is refused, so a code is accepted once (RFC 6238 §5.2).

    Raises:
        InvalidCode: no step in the window gives ``code``.
        ReplayedCode: the code matched a step already used.
    """
    if window < 0:
        raise InvalidParameter("window must not be negative")
    now = time_step(timestamp, step, t0)
    presented = code.strip().encode()
    found: int | None = None
    for candidate in range(max(now - window, 0), now + window + 1):
        expected = hotp(key, candidate, digits, algorithm).encode()
        if hmac.compare_digest(expected, presented) and found is None:
            found = candidate
    if found is None:
        raise InvalidCode("TOTP code does not match")
    if last_used_step is not None and found <= last_used_step:
        raise ReplayedCode("TOTP code for this time step was used already")
    return TotpMatch(step=found, drift=found - now)
