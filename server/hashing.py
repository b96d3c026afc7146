"""Slow hashing of passwords and static codes with argon2id (RFC 9106), via argon2-cffi.

A stored hash carries its own parameters and salt, so raising the cost later keeps old hashes
checkable; :meth:`SecretHasher.needs_rehash` says when to store a fresh one after a good login.
"""

from __future__ import annotations

import hashlib

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tokensim.server.config import Argon2Params

__all__ = ["SecretHasher", "token_digest"]


class SecretHasher:
    """Hash and check low-entropy secrets (passwords, temporary passcodes) with argon2id.

    Args:
        params: the cost; tests pass a tiny one.
    """

    __slots__ = ("_dummy", "_hasher")

    def __init__(self, params: Argon2Params) -> None:
        self._hasher = PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            type=Type.ID,
        )
        # Checked when the username is unknown, so an unknown user costs as much time as a known one.
        self._dummy = self._hasher.hash("tokensim-no-such-user")

    def hash(self, secret: str) -> str:
        """Return the encoded argon2id hash of ``secret`` with a fresh 16-byte salt."""
        return self._hasher.hash(secret)

    def verify(self, encoded: str | None, secret: str) -> bool:
        """Whether ``secret`` matches ``encoded``; ``None`` (no such user) costs the same and is false."""
        target = self._dummy if encoded is None else encoded
        try:
            ok = self._hasher.verify(target, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return ok and encoded is not None

    def needs_rehash(self, encoded: str) -> bool:
        """Whether ``encoded`` was made with other parameters than the current ones."""
        return self._hasher.check_needs_rehash(encoded)


def token_digest(token: str) -> str:
    """SHA-256 of a high-entropy random token, as hex.

    Session tokens carry 256 random bits, so a fast hash is enough (NIST SP 800-63B §5.1.2.2: secrets
    of 112 bits or more need no salt or slow KDF); what is stored cannot be replayed as the token.
    """
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
