"""The server's shared parts, wired once at start: database, master key, hasher, carrier, clock, rng.

:func:`open_core` migrates the database and proves the master key is the one the database was
created with, before anything else runs: a wrong or missing key stops the start with a clear
message instead of failing later on the first secret (or worse, writing secrets under a new key).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tokensim.protocol.clock import Clock, SystemClock
from tokensim.server.audit import AuditLog
from tokensim.server.carrier import Carrier, OutboxCarrier
from tokensim.server.config import SUPPORT_TOKEN_ENV, ServerConfig
from tokensim.server.errors import MasterKeyError
from tokensim.server.hashing import SecretHasher
from tokensim.server.keys import MasterKey, load_master_key
from tokensim.server.storage.db import Database
from tokensim.server.storage.models import Meta
from tokensim.server.throttle import Throttle

__all__ = ["Core", "load_support_token", "open_core"]

_log = logging.getLogger(__name__)
_KEY_CHECK = b"tokensim master key check"


@dataclass(slots=True)
class Core:
    """Everything the operations share.

    Attributes:
        config: the configuration.
        db: the database.
        keys: the master key.
        hasher: argon2id for passwords and static codes.
        clock: the time source.
        rng: the random source (``secrets.SystemRandom`` in production).
        carrier: delivers texts and calls.
        audit: the audit log.
        throttle: failure counters and lockouts.
        support_digest: SHA-256 of the support API's bearer token.
    """

    config: ServerConfig
    db: Database
    keys: MasterKey
    hasher: SecretHasher
    clock: Clock
    rng: random.Random
    carrier: Carrier
    audit: AuditLog
    throttle: Throttle
    support_digest: bytes

    def new_id(self) -> str:
        """A random 128-bit identifier, as 32 hex digits."""
        return self.rng.randbytes(16).hex()

    def new_token(self) -> str:
        """A random 256-bit bearer token, as 64 hex digits."""
        return self.rng.randbytes(32).hex()

    def check_support(self, presented: str) -> bool:
        """Whether ``presented`` is the support token (constant time)."""
        digest = hashlib.sha256(presented.encode("utf-8", "replace")).digest()
        return hmac.compare_digest(digest, self.support_digest)

    def digest(self, purpose: str, *parts: str) -> str:
        """A keyed digest (HMAC-SHA256, hex) of ``parts`` under a subkey for ``purpose``.

        What is stored instead of a value that must be matched but not kept, such as the username
        and client address a password throttle counts against.
        """
        message = "\x00".join(parts).encode("utf-8", "replace")
        return hmac.new(self.keys.derive(purpose), message, hashlib.sha256).hexdigest()

    @property
    def oob_key(self) -> bytes:
        """The key of the MACs stored instead of one-time codes."""
        return self.keys.derive("oob-code")

    def close(self) -> None:
        """Close the database connections."""
        self.db.dispose()


def load_support_token(path: Path, *, environ: Mapping[str, str] | None = None, create: bool = True) -> str:
    """The support API token: the environment variable, else the token file (created with mode 0600).

    Raises:
        MasterKeyError: never; a missing file is created when ``create`` is set.
        FileNotFoundError: no token and ``create`` is false.
    """
    env = os.environ if environ is None else environ
    value = env.get(SUPPORT_TOKEN_ENV)
    if value:
        return value.strip()
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    if not create:
        raise FileNotFoundError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


def _check_master_key(db: Database, config: ServerConfig, environ: Mapping[str, str] | None) -> MasterKey:
    with db.write() as session:
        # Two processes starting on an empty database must not both write a check value.
        db.serialize(session)
        check = session.get(Meta, "key_check")
        if check is None:
            keys = load_master_key(config.key_path, environ=environ, create=True)
            session.add(Meta(key="key_check", value=keys.seal(_KEY_CHECK, "meta", "key_check", "value")))
            return keys
        keys = load_master_key(config.key_path, environ=environ, create=False)
        try:
            ok = keys.open(check.value, "meta", "key_check", "value") == _KEY_CHECK
        except MasterKeyError as e:
            raise MasterKeyError(
                f"the master key (id {keys.key_id}) is not the key this database was created with: {e}. "
                f"Restore the right key file or environment variable; a new key cannot read old secrets."
            ) from e
        if not ok:
            raise MasterKeyError("the master key check value is corrupt")
        return keys


def open_core(
    config: ServerConfig,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    carrier: Carrier | None = None,
    environ: Mapping[str, str] | None = None,
    migrate: bool = True,
) -> Core:
    """Open the database, migrate it, check the master key and wire everything.

    Args:
        config: the configuration.
        clock: the time source; the system clock when ``None``.
        rng: the random source; ``secrets.SystemRandom()`` when ``None``.
        carrier: the carrier; the outbox when ``None``.
        environ: where the master key and support token variables are read (``os.environ``).
        migrate: run the migrations (a worker process whose parent already did passes ``False``).

    Raises:
        MasterKeyError: the master key is missing, malformed or wrong for this database.
        InvalidParameter: the database URL is not usable.
    """
    db = Database(config.database, pool_size=config.db_pool_size)
    try:
        if migrate:
            db.migrate()
        keys = _check_master_key(db, config, environ)
        token = load_support_token(config.token_path, environ=environ)
    except BaseException:
        db.dispose()
        raise
    source = secrets.SystemRandom() if rng is None else rng
    when = SystemClock() if clock is None else clock
    _log.info("tokensim server core ready: %r, master key %s", db, keys.key_id)
    return Core(
        config=config,
        db=db,
        keys=keys,
        hasher=SecretHasher(config.argon2),
        clock=when,
        rng=source,
        carrier=OutboxCarrier(db, keys, when, source) if carrier is None else carrier,
        audit=AuditLog(keys.derive("audit-username")),
        throttle=Throttle(config, keys.derive("password-throttle")),
        support_digest=hashlib.sha256(token.encode()).digest(),
    )
