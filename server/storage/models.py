"""The database tables, as SQLAlchemy 2 declarative models.

The schema itself is created and changed only by the Alembic migrations in
``tokensim.server.storage.migrations``; a test checks that migrating an empty database gives exactly these
tables. Times are Unix seconds as floats, the same numbers the injected :class:`Clock` returns.

Nothing secret is stored in the clear: device secrets and outbox messages are AES-GCM blobs
(:mod:`tokensim.server.keys`), passwords and static codes are argon2id hashes, session tokens and
one-time codes are stored as digests or MACs.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AuditEvent",
    "Base",
    "CardCell",
    "Challenge",
    "Deposit",
    "Device",
    "DeviceShare",
    "IdentityCheck",
    "Login",
    "Meta",
    "OutboxMessage",
    "PasswordThrottle",
    "PhoneNumber",
    "Reserve",
    "Session",
    "User",
    "Withdrawal",
]


class Base(DeclarativeBase):
    """Declarative base of every tokensim table."""


class Meta(Base):
    """Server-wide values, such as the sealed check value that proves the master key is the right one."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class User(Base):
    """A username with its password and the throttling state of the whole account."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    jurisdiction: Mapped[str] = mapped_column(String(8), nullable=False)
    primary_user: Mapped[bool] = mapped_column(Boolean, nullable=False)
    equity: Mapped[Decimal] = mapped_column(Numeric(20, 2), nullable=False)
    entity: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    password_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    password_lockouts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    password_locked_until: Mapped[float | None] = mapped_column(Float)
    factor_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    account_locked_at: Mapped[float | None] = mapped_column(Float)
    #: When the user opted out of the Secure Login System (trading platforms without a second factor).
    sls_opted_out_at: Mapped[float | None] = mapped_column(Float)
    #: Addresses trading-platform logins may come from, space separated; ``None`` for anywhere.
    ip_restrictions: Mapped[str | None] = mapped_column(Text)
    penny_stocks: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: HMAC of the normalised identification data (date of birth, citizenship, residence, ID document).
    identity_digest: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    #: Sealed bank instructions.
    bank_instructions: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: When a permanent device was last reactivated (or a replacement activated): a temporary
    #: passcode issued before this no longer blocks the next one.
    last_reactivated_at: Mapped[float | None] = mapped_column(Float)
    closed_at: Mapped[float | None] = mapped_column(Float)
    #: When the account first received funds (a deposit, or support recorded it): a new account's
    #: online card lasts ``online_card_ttl`` from then.
    funded_at: Mapped[float | None] = mapped_column(Float)


class PhoneNumber(Base):
    """A phone number verified for a user: the only numbers SMS, voice and IB Key activation use."""

    __tablename__ = "phone_numbers"
    __table_args__ = (UniqueConstraint("user_id", "number", name="uq_phone_numbers_user_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    verified_at: Mapped[float] = mapped_column(Float, nullable=False)


class Device(Base):
    """One second-factor device of one user, with its sealed secrets and its replay and lockout state."""

    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_user_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    serial: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    label: Mapped[str] = mapped_column(String(64), nullable=False)
    #: ``pending`` until activated, then ``active``; ``revoked`` for good.
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    secrets: Mapped[bytes | None] = mapped_column(LargeBinary)
    suite: Mapped[str | None] = mapped_column(String(64))
    digits: Mapped[int] = mapped_column(Integer, nullable=False)
    step: Mapped[int] = mapped_column(Integer, nullable=False)
    algorithm: Mapped[str] = mapped_column(String(8), nullable=False)
    firmware: Mapped[str] = mapped_column(String(16), nullable=False)
    number: Mapped[str | None] = mapped_column(String(32))
    public_key: Mapped[str | None] = mapped_column(Text)
    counter: Mapped[int | None] = mapped_column(BigInteger)
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lockouts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[float | None] = mapped_column(Float)
    issued_at: Mapped[float] = mapped_column(Float, nullable=False)
    expires_at: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    activated_at: Mapped[float | None] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)
    #: The device this one replaces (lost, damaged or broken).
    replaces: Mapped[str | None] = mapped_column(String(40))
    #: A replacement device pending after this time is active by itself.
    activate_by: Mapped[float | None] = mapped_column(Float)
    #: When temporary access put the device back to ``pending``; it reactivates by answering.
    deactivated_at: Mapped[float | None] = mapped_column(Float)
    #: What support recorded: ``lost``, ``stolen``, ``damaged``, ``battery``, ``returned``, ``not-returned``.
    condition: Mapped[str | None] = mapped_column(String(16))
    #: IB Key: the time (ms) of the phone's last accepted signed request; the next must be later.
    request_time: Mapped[int | None] = mapped_column(BigInteger)
    #: The IB Key phone's operating system, ``android`` or ``ios`` (it decides the recovery steps).
    os: Mapped[str | None] = mapped_column(String(16))


class CardCell(Base):
    """A code-card cell already asked for, in strict mode (each cell used once, NIST SP 800-63B §5.1.2.2)."""

    __tablename__ = "card_cells"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    cell: Mapped[int] = mapped_column(Integer, primary_key=True)


class Login(Base):
    """A login between the password and the second factor."""

    __tablename__ = "logins"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    platform: Mapped[str] = mapped_column(String(16), nullable=False)
    origin: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    expires_at: Mapped[float] = mapped_column(Float, nullable=False)


class Challenge(Base):
    """A question put to one device; answered at most once."""

    __tablename__ = "challenges"
    __table_args__ = (
        Index("ix_challenges_device_status", "device_id", "status"),
        Index("ix_challenges_login_id", "login_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), nullable=False)
    login_id: Mapped[str | None] = mapped_column(ForeignKey("logins.id"))
    #: ``login`` or ``activation``.
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    form: Mapped[str] = mapped_column(String(16), nullable=False)
    #: How the device answers: push, qr, numeric, code, grid, sms, voice, static, token.
    mode: Mapped[str] = mapped_column(String(16), nullable=False)
    question: Mapped[str | None] = mapped_column(String(64))
    indices: Mapped[str | None] = mapped_column(String(64))
    push_request: Mapped[str | None] = mapped_column(Text)
    code_mac: Mapped[str | None] = mapped_column(String(64))
    #: ``open``, ``approved`` / ``denied`` (push), ``answered``, ``closed``.
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    expires_at: Mapped[float] = mapped_column(Float, nullable=False)
    answered_at: Mapped[float | None] = mapped_column(Float)
    #: Sealed secrets the answer is checked with instead of the device's (a DSC+ PIN change).
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: Sealed secrets of the follow-up challenge a right answer opens (a DSC+ PIN change: the current
    #: PIN answers first, then the new one).
    next_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)


class Session(Base):
    """A session after a full login; only the token's digest is stored.

    Its scope is what the login granted; every request checks it again against the account, the
    device and (for a temporary passcode) the stage, and may only narrow it (``login.current_session``).
    """

    __tablename__ = "sessions"
    # Ending a user's (or one of their devices') sessions finds them by user; one index only, as
    # every login's INSERT maintains it.
    __table_args__ = (Index("ix_sessions_user_id", "user_id"),)

    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id"))
    scope: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    expires_at: Mapped[float] = mapped_column(Float, nullable=False)
    revoked_at: Mapped[float | None] = mapped_column(Float)


class PasswordThrottle(Base):
    """One counter of wrong passwords: per (username, client address), per address, or per username.

    ``key`` is a keyed digest of the scope and its values (never a username or address in the clear),
    ``subject`` the digest of the username, so support can clear every counter of one user. A counter
    exists for unknown usernames too, so they are throttled exactly like known ones.
    """

    __tablename__ = "password_throttle"
    __table_args__ = (Index("ix_password_throttle_subject", "subject"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: ``pair``, ``address`` or ``user``.
    scope: Mapped[str] = mapped_column(String(8), nullable=False)
    subject: Mapped[str | None] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    lockouts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    locked_until: Mapped[float | None] = mapped_column(Float)
    #: Start of the address budget's current window.
    window_start: Mapped[float | None] = mapped_column(Float)


class OutboxMessage(Base):
    """A text or call the outbox carrier would have delivered; the body is sealed."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_to_number", "to_number"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    to_number: Mapped[str] = mapped_column(String(32), nullable=False)
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    sender: Mapped[str] = mapped_column(String(32), nullable=False)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)


class AuditEvent(Base):
    """One security event; the table refuses updates and deletes (database triggers)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_user_id", "user_id"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, nullable=False)
    event: Mapped[str] = mapped_column(String(48), nullable=False)
    actor: Mapped[str] = mapped_column(String(16), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    user_id: Mapped[str | None] = mapped_column(String(40))
    username: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, nullable=False)


class IdentityCheck(Base):
    """An identity verification support recorded; one allows one temporary passcode."""

    __tablename__ = "identity_checks"
    __table_args__ = (Index("ix_identity_checks_user_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    method: Mapped[str] = mapped_column(String(32), nullable=False)
    agent: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    expires_at: Mapped[float] = mapped_column(Float, nullable=False)
    used_at: Mapped[float | None] = mapped_column(Float)


class Reserve(Base):
    """The reserve held while an issued device is out: ``held``, then ``charged`` or ``released``."""

    __tablename__ = "reserves"
    __table_args__ = (Index("ix_reserves_user_id", "user_id"),)

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    amount_usd: Mapped[Decimal] = mapped_column(Numeric(20, 2), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    settled_at: Mapped[float | None] = mapped_column(Float)


class Withdrawal(Base):
    """A withdrawal, with the kind of the device that authorised it (``none`` without one)."""

    __tablename__ = "withdrawals"
    __table_args__ = (Index("ix_withdrawals_user_created", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id"))
    device_kind: Mapped[str] = mapped_column(String(24), nullable=False)
    amount_usd: Mapped[Decimal] = mapped_column(Numeric(20, 2), nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)


class Deposit(Base):
    """A deposit by ACH, EFT, wire or check."""

    __tablename__ = "deposits"
    __table_args__ = (Index("ix_deposits_user_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    method: Mapped[str] = mapped_column(String(8), nullable=False)
    amount_usd: Mapped[Decimal] = mapped_column(Numeric(20, 2), nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)


class DeviceShare(Base):
    """A device of one user that another user of the same entity or identity may also log in with."""

    __tablename__ = "device_shares"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
