"""The master key and the AES-GCM envelope that keeps device secrets unreadable in the database.

The master key lives outside the database: in the environment variable ``TOKENSIM_MASTER_KEY``
(32 bytes as 64 hex digits or base64url), or else in a key file that the server creates on first run
with mode 0600. A database dump therefore shows only ciphertext.

Every sealed value names the row it belongs to in its associated data (table, row id, column), so a
ciphertext copied into another row, or another column, fails to open instead of decrypting to the
wrong device's secret. The blob layout, byte by byte::

    0      version (1)
    1..8   key id: the first 8 bytes of SHA-256 over the key, so a wrong key is named, not guessed
    9..20  nonce (12 random bytes)
    21..   ciphertext followed by the 16-byte GCM tag

Example:
    >>> key = MasterKey(bytes(32))
    >>> blob = key.seal(b"secret", "devices", "d1", "secrets")
    >>> key.open(blob, "devices", "d1", "secrets")
    b'secret'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tokensim.server.config import MASTER_KEY_ENV
from tokensim.server.errors import MasterKeyError

__all__ = [
    "KEY_BYTES",
    "MasterKey",
    "load_master_key",
]

#: Length of the master key: AES-256.
KEY_BYTES = 32
_VERSION = 1
_KEY_ID_BYTES = 8
_NONCE_BYTES = 12
_HEADER = 1 + _KEY_ID_BYTES + _NONCE_BYTES


def _associated_data(table: str, row_id: str, column: str) -> bytes:
    # Length-prefixed parts, so ("ab", "c") and ("a", "bc") can never give the same bytes.
    parts = [b"tokensim/v1", table.encode(), row_id.encode(), column.encode()]
    return b"".join(len(part).to_bytes(2, "big") + part for part in parts)


class MasterKey:
    """A 256-bit key that seals and opens row secrets with AES-GCM.

    Args:
        key: exactly 32 bytes.

    Raises:
        MasterKeyError: the key is not 32 bytes.
    """

    __slots__ = ("_aead", "_key", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"the master key must be {KEY_BYTES} bytes, got {len(key)}")
        self._key = key
        self._aead = AESGCM(key)
        #: First 8 bytes of SHA-256 over the key, as hex: names the key without revealing it.
        self.key_id = hashlib.sha256(key).digest()[:_KEY_ID_BYTES].hex()

    def seal(self, plaintext: bytes, table: str, row_id: str, column: str) -> bytes:
        """Encrypt ``plaintext`` for one column of one row."""
        # Nonces always come from the operating system, never from an injected (possibly seeded)
        # generator: a repeated GCM nonce under one key gives away the authentication key.
        nonce = os.urandom(_NONCE_BYTES)
        header = bytes([_VERSION]) + bytes.fromhex(self.key_id) + nonce
        return header + self._aead.encrypt(nonce, plaintext, _associated_data(table, row_id, column))

    def open(self, blob: bytes, table: str, row_id: str, column: str) -> bytes:
        """Decrypt a value sealed for this row and column.

        Raises:
            MasterKeyError: the blob was sealed under another key, for another row or column, or was
                changed.
        """
        if len(blob) < _HEADER + 16 or blob[0] != _VERSION:
            raise MasterKeyError(f"{table}.{column} of {row_id!r} is not a sealed value")
        key_id = blob[1 : 1 + _KEY_ID_BYTES].hex()
        if not hmac.compare_digest(key_id, self.key_id):
            raise MasterKeyError(
                f"{table}.{column} of {row_id!r} was sealed under master key {key_id}, not {self.key_id}"
            )
        nonce = blob[1 + _KEY_ID_BYTES : _HEADER]
        try:
            return self._aead.decrypt(nonce, blob[_HEADER:], _associated_data(table, row_id, column))
        except InvalidTag as e:
            raise MasterKeyError(f"{table}.{column} of {row_id!r} failed authentication") from e

    def derive(self, purpose: str) -> bytes:
        """A 32-byte subkey for one purpose (HMAC-SHA256 of the purpose), so no key serves two jobs."""
        return hmac.new(self._key, b"tokensim-subkey:" + purpose.encode(), hashlib.sha256).digest()

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"


def _parse(text: str, where: str) -> bytes:
    cleaned = text.strip()
    try:
        if len(cleaned) == 2 * KEY_BYTES:
            return bytes.fromhex(cleaned)
        return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (ValueError, binascii.Error) as e:
        raise MasterKeyError(f"{where}: the master key must be 64 hex digits or base64url") from e


def load_master_key(
    path: Path, *, environ: Mapping[str, str] | None = None, create: bool = True
) -> MasterKey:
    """Find the master key: the environment variable first, then the key file.

    Args:
        path: the key file.
        environ: the environment to read (``os.environ`` when ``None``).
        create: write a new random key to ``path`` (mode 0600) when neither source has one.

    Raises:
        MasterKeyError: the variable or file holds no valid key, the file is readable by other users,
            or there is no key and ``create`` is false.
    """
    env = os.environ if environ is None else environ
    text = env.get(MASTER_KEY_ENV)
    if text:
        key = _parse(text, MASTER_KEY_ENV)
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"{MASTER_KEY_ENV}: the master key must be {KEY_BYTES} bytes")
        return MasterKey(key)
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise MasterKeyError(
                f"master key file {path} is readable by other users (mode {mode:04o}); run: chmod 600 {path}"
            )
        key = _parse(path.read_text(encoding="ascii", errors="replace"), str(path))
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"master key file {path} does not hold a {KEY_BYTES}-byte key")
        return MasterKey(key)
    if not create:
        raise MasterKeyError(
            f"no master key: set {MASTER_KEY_ENV} or restore the key file {path} "
            "(the database was created with a key that is not here)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(KEY_BYTES)
    # O_EXCL: two processes starting at once must not both write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_master_key(path, environ=env, create=False)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.hex() + "\n")
    return MasterKey(key)
