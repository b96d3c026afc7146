"""Server configuration: one frozen value built from defaults, a TOML file and the command line.

Every number a deployment might tune lives here (time limits, throttling, argon2 cost), so tests and
operators change behaviour through configuration and never by patching code. The production defaults
are the values below; tests lower the argon2 cost through :class:`Argon2Params`, never by changing a
default.

Example:
    >>> config = ServerConfig.from_mapping({"device_max_failures": 3})
    >>> config.device_max_failures, config.account_max_failures
    (3, 100)
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tokensim.protocol.errors import InvalidParameter

__all__ = [
    "DEFAULT_RESERVES_USD",
    "DEFAULT_WITHDRAWAL_LIMITS",
    "MASTER_KEY_ENV",
    "SUPPORT_TOKEN_ENV",
    "Argon2Params",
    "ServerConfig",
    "WithdrawalLimit",
]

#: Environment variable holding the master key (32 bytes as hex or base64url); it wins over the key file.
MASTER_KEY_ENV = "TOKENSIM_MASTER_KEY"
#: Environment variable holding the support API's bearer token; it wins over the token file.
SUPPORT_TOKEN_ENV = "TOKENSIM_SUPPORT_TOKEN"  # noqa: S105 - a variable name, not a token


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """Cost of argon2id hashing (RFC 9106).

    The defaults are RFC 9106's second recommended option (64 MiB, 3 passes). Tests pass a tiny
    cost so hashing is fast; a production configuration should never go below the defaults.

    Attributes:
        time_cost: passes over memory.
        memory_kib: memory in KiB.
        parallelism: lanes.
    """

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.parallelism < 1 or self.memory_kib < 8 * self.parallelism:
            raise InvalidParameter("argon2: time_cost >= 1, parallelism >= 1, memory_kib >= 8 * parallelism")


@dataclass(frozen=True, slots=True)
class WithdrawalLimit:
    """The most a device authorises in withdrawals, in USD; ``None`` means unlimited.

    Attributes:
        per_day: the total of one calendar day (UTC).
        per_window: the total of the rolling window of ``withdrawal_business_days`` business days.
    """

    per_day: Decimal | None
    per_window: Decimal | None


def _limit(day: int | None, window: int | None) -> WithdrawalLimit:
    return WithdrawalLimit(None if day is None else Decimal(day), None if window is None else Decimal(window))


#: Withdrawal limits by the kind of the device that authorised the withdrawal; ``none`` is a withdrawal
#: without a second factor (opted out of the Secure Login System, or no device at all).
DEFAULT_WITHDRAWAL_LIMITS: Mapping[str, WithdrawalLimit] = MappingProxyType(
    {
        "none": _limit(50_000, 100_000),
        "phone": _limit(200_000, 600_000),
        "scc": _limit(200_000, 600_000),
        "online-scc": _limit(200_000, 600_000),
        # The M2FS page's table (the device that confirms the withdrawal); the older overview table
        # gives IB Key 1M/1M: set ``withdrawal_limits.ib-key = [1000000, 1000000]`` to follow it.
        "ib-key": _limit(200_000, 600_000),
        "dsc": _limit(1_000_000, 1_500_000),
        "dsc-plus": _limit(None, None),
        "gold": _limit(None, None),
        "platinum": _limit(None, None),
    }
)

#: The reserve held on the account while a device is out, in USD: the device fee, charged if it is
#: lost, damaged or stolen, or not returned when the account closes (never for a battery failure),
#: and released when it comes back. The pages give 20.00-150.00 USD "as a function of the device".
DEFAULT_RESERVES_USD: Mapping[str, Decimal] = MappingProxyType(
    {
        "scc": Decimal(20),
        "dsc": Decimal(20),
        "dsc-plus": Decimal(20),
        "gold": Decimal(150),
        "platinum": Decimal(150),
    }
)


def _default_data_dir() -> Path:
    return Path("data")


def _default_limits() -> Mapping[str, WithdrawalLimit]:
    return DEFAULT_WITHDRAWAL_LIMITS


def _default_reserves() -> Mapping[str, Decimal]:
    return DEFAULT_RESERVES_USD


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything the server needs to start.

    Attributes:
        data_dir: folder for the SQLite file, the master key file and the support token file.
        database_url: SQLAlchemy URL; ``None`` means ``sqlite:///<data_dir>/tokensim.sqlite3``.
        master_key_file: where the master key lives; ``None`` means ``<data_dir>/master.key``.
        support_token_file: where the support token lives; ``None`` means ``<data_dir>/support.token``.
        argon2: cost of password and static-code hashing.
        max_body_bytes: largest request body accepted.
        max_header_bytes: largest request head (request line and headers) a server process reads;
            a larger one gets 431 and the connection is closed, before more of it is buffered.
        header_timeout: seconds a client has to send a whole request head, counted from the
            connection (or the request's first byte on a kept-alive connection); then 408 and close.
        body_timeout: seconds a client has, after the head, to send the whole body; then 408 and close.
        keep_alive_timeout: seconds an idle kept-alive connection stays open between requests.
        max_connections: open connections per server process; a request on any connection beyond
            it gets 503 (uvicorn's ``limit_concurrency``).
        login_ttl: seconds between the password and the second factor before a login expires.
        session_ttl: seconds a session token lasts (NIST SP 800-63B §4.2.3: 12 hours at AAL2).
        challenge_ttl: seconds a code, numeric, grid or static challenge stays answerable.
        oob_ttl: seconds an SMS or voice code stays valid (NIST SP 800-63B §5.1.3.2: 10 minutes).
        push_ttl: seconds a push or QR approval may take.
        activation_ttl: seconds an IB Key activation token sent by SMS stays valid.
        challenge_max_attempts: wrong answers one challenge takes before it closes.
        totp_window: TOTP steps accepted either side of now.
        ocra_counter_window: counter values looked ahead for counter-based OCRA suites.
        ocra_time_window: time steps accepted either side of now for time-based OCRA suites.
        device_max_failures: consecutive wrong answers that lock one device.
        device_lockout: seconds of the first device lockout; each further lockout doubles it.
        device_lockout_max: the longest device lockout.
        password_max_failures: consecutive wrong passwords for one username from one client address
            that pause checks of that pair (other addresses keep trying that username).
        password_lockout: seconds of the first password pause; doubles like the device lockout.
        password_lockout_max: the longest password pause.
        password_address_max_failures: wrong passwords one client address may send, over all
            usernames, per ``password_address_window`` (stops spraying one password over many users).
        password_address_window: seconds of that window.
        password_account_max_failures: consecutive wrong passwords for one username, from every
            address, after which its password checks stop until support unlocks it (NIST SP 800-63B
            §5.2.2: no more than 100).
        account_max_failures: consecutive second-factor failures after which the account is locked
            until support unlocks it (NIST SP 800-63B §5.2.2: no more than 100).
        online_card_ttl: seconds an Online Security Code Card works after it is issued (21 days).
        card_strict: refuse to ask a card cell twice (NIST look-up secrets); off mimics the real cards.
        db_pool_size: connections kept per server process (PostgreSQL).
        request_threads: threads that run requests in each server process; 0 chooses: none on
            SQLite, where each process runs its requests on its event loop one at a time (its
            writers take turns anyway, and a thread hop costs more CPU than a verification's SQL),
            and 40 on PostgreSQL, where requests overlap their waits on the database. Several
            processes (``--workers``) are the way to use several cores.
        temporary_full_access: seconds a temporary passcode gives full access (2 days).
        temporary_card_printing: seconds after that it only prints the online card (8 days, the
            Client Portal page; the older Account Management page says 10).
        temporary_passcode_length: characters of a temporary passcode (at least 10).
        identity_check_ttl: seconds a recorded identity verification allows issuing a temporary passcode.
        replacement_activation_window: seconds a replacement device has to be activated before it
            becomes active by itself (14 days).
        device_return_window: seconds a closed account has to return its devices before each one's
            fee is charged (30 days).
        sms_resend_interval: seconds before a new SMS or voice code is sent while one is open (2 min).
        dsc_plus_min_equity_usd: the least account balance for a user's own DSC+ request (500,000).
        sls_deposit_threshold_usd: ACH/EFT deposits beyond this total need an SLS device.
        withdrawal_business_days: business days (Monday to Friday) of the rolling withdrawal window.
        withdrawal_limits: the limits by device kind (``none`` without a device); TOML: a table of
            ``kind = [per_day, per_window]``, ``"unlimited"`` for no limit.
        device_reserves_usd: the reserve held per issued device kind; TOML: a table of ``kind = amount``.
        no_opt_out_jurisdictions: account jurisdictions that cannot opt out of the Secure Login System.
        signup_sms: a new user with a verified phone starts with an active SMS device (removed once an
            IB Key is active).
        ib_key_removes_sms: an IB Key that becomes active revokes the user's SMS device (our reading of
            M2FS, whose "both devices remaining simultaneously active" names physical devices and the
            app); off keeps SMS active beside it.
        ib_key_ios_recovery_sms: IB Key recovery on iOS also needs the SMS to the original number (the
            reactivation page's case A); off follows the recovery page (the phone's PIN or biometric).
    """

    data_dir: Path = field(default_factory=_default_data_dir)
    database_url: str | None = None
    master_key_file: Path | None = None
    support_token_file: Path | None = None
    argon2: Argon2Params = field(default_factory=Argon2Params)
    max_body_bytes: int = 64 * 1024
    max_header_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    max_connections: int = 1000
    login_ttl: float = 600.0
    session_ttl: float = 12 * 3600.0
    challenge_ttl: float = 300.0
    oob_ttl: float = 600.0
    push_ttl: float = 120.0
    activation_ttl: float = 600.0
    challenge_max_attempts: int = 3
    totp_window: int = 1
    ocra_counter_window: int = 10
    ocra_time_window: int = 1
    device_max_failures: int = 5
    device_lockout: float = 60.0
    device_lockout_max: float = 3600.0
    password_max_failures: int = 5
    password_lockout: float = 30.0
    password_lockout_max: float = 3600.0
    password_address_max_failures: int = 20
    password_address_window: float = 900.0
    password_account_max_failures: int = 100
    account_max_failures: int = 100
    online_card_ttl: float = 21 * 86400.0
    card_strict: bool = False
    db_pool_size: int = 5
    request_threads: int = 0
    temporary_full_access: float = 2 * 86400.0
    temporary_card_printing: float = 8 * 86400.0
    temporary_passcode_length: int = 12
    identity_check_ttl: float = 900.0
    replacement_activation_window: float = 14 * 86400.0
    device_return_window: float = 30 * 86400.0
    sms_resend_interval: float = 120.0
    dsc_plus_min_equity_usd: int = 500_000
    sls_deposit_threshold_usd: int = 20_000
    withdrawal_business_days: int = 5
    withdrawal_limits: Mapping[str, WithdrawalLimit] = field(default_factory=_default_limits)
    device_reserves_usd: Mapping[str, Decimal] = field(default_factory=_default_reserves)
    no_opt_out_jurisdictions: tuple[str, ...] = ("HK", "IN")
    signup_sms: bool = True
    ib_key_ios_recovery_sms: bool = False
    ib_key_removes_sms: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.account_max_failures <= 100:
            raise InvalidParameter("account_max_failures must be from 1 to 100 (NIST SP 800-63B §5.2.2)")
        if not 1 <= self.password_account_max_failures <= 100:
            raise InvalidParameter(
                "password_account_max_failures must be from 1 to 100 (NIST SP 800-63B §5.2.2)"
            )
        if self.password_address_window <= 0:
            raise InvalidParameter("password_address_window must be positive")
        for name in (
            "device_max_failures",
            "password_max_failures",
            "password_address_max_failures",
            "challenge_max_attempts",
        ):
            if getattr(self, name) < 1:
                raise InvalidParameter(f"{name} must be at least 1")
        for name in ("login_ttl", "session_ttl", "challenge_ttl", "oob_ttl", "push_ttl", "activation_ttl"):
            if getattr(self, name) <= 0:
                raise InvalidParameter(f"{name} must be positive")
        if self.max_body_bytes < 1024:
            raise InvalidParameter("max_body_bytes must be at least 1024")
        if self.max_header_bytes < 1024:
            raise InvalidParameter("max_header_bytes must be at least 1024")
        for name in ("header_timeout", "body_timeout", "keep_alive_timeout"):
            if getattr(self, name) <= 0:
                raise InvalidParameter(f"{name} must be positive")
        if self.max_connections < 1:
            raise InvalidParameter("max_connections must be at least 1")
        if self.request_threads < 0:
            raise InvalidParameter("request_threads must be 0 (automatic) or more")
        if self.temporary_passcode_length < 10:
            raise InvalidParameter("temporary_passcode_length must be at least 10")
        if self.withdrawal_business_days < 1:
            raise InvalidParameter("withdrawal_business_days must be at least 1")
        if "none" not in self.withdrawal_limits:
            raise InvalidParameter("withdrawal_limits needs a 'none' entry (withdrawals without a device)")

    @property
    def database(self) -> str:
        """The SQLAlchemy URL actually used."""
        if self.database_url is not None:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tokensim.sqlite3').as_posix()}"

    @property
    def key_path(self) -> Path:
        """The master key file actually used."""
        return self.master_key_file if self.master_key_file is not None else self.data_dir / "master.key"

    @property
    def token_path(self) -> Path:
        """The support token file actually used."""
        if self.support_token_file is not None:
            return self.support_token_file
        return self.data_dir / "support.token"

    def replace(self, **changes: Any) -> ServerConfig:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def to_mapping(self) -> dict[str, Any]:
        """Every setting as JSON and TOML values, the way :meth:`from_mapping` reads them back.

        Unset optional settings (``None``) are left out.
        """
        data: dict[str, Any] = {}
        for name in (f.name for f in dataclasses.fields(self)):
            value = getattr(self, name)
            if value is None:
                continue  # absent means the default, which is what None stands for
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, Argon2Params):
                value = dataclasses.asdict(value)
            elif name == "withdrawal_limits":
                value = {
                    kind: [_unlimited(limit.per_day), _unlimited(limit.per_window)]
                    for kind, limit in value.items()
                }
            elif name == "device_reserves_usd":
                value = {kind: str(amount) for kind, amount in value.items()}
            elif isinstance(value, tuple):
                value = list(value)
            data[name] = value
        return data

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ServerConfig:
        """Build a configuration from a mapping such as a parsed TOML file.

        Paths may be strings; ``argon2`` is a table of :class:`Argon2Params` fields.

        Raises:
            InvalidParameter: an unknown key or a value of the wrong type.
        """
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise InvalidParameter(f"configuration: unknown key {key!r}")
            if key == "argon2":
                if not isinstance(value, Mapping):
                    raise InvalidParameter("configuration: 'argon2' must be a table")
                try:
                    values[key] = Argon2Params(**value)
                except TypeError as e:
                    raise InvalidParameter(f"configuration: argon2: {e}") from e
            elif key in ("data_dir", "master_key_file", "support_token_file"):
                values[key] = Path(value)
            elif key == "withdrawal_limits":
                values[key] = MappingProxyType(_limits(value))
            elif key == "device_reserves_usd":
                values[key] = MappingProxyType(_reserves(value))
            elif key == "no_opt_out_jurisdictions":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise InvalidParameter("configuration: 'no_opt_out_jurisdictions' is a list of strings")
                values[key] = tuple(value)
            else:
                values[key] = _typed(key, value)
        return cls(**values)

    @classmethod
    def from_toml(cls, path: Path) -> ServerConfig:
        """Read a TOML configuration file (the keys are the attribute names).

        Raises:
            InvalidParameter: the file is not valid TOML or has an unknown key.
        """
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise InvalidParameter(f"configuration file {path}: {e}") from e
        return cls.from_mapping(data)


def _typed(key: str, value: Any) -> Any:
    default = getattr(ServerConfig(), key)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:  # the optional strings
        ok = value is None or isinstance(value, str)
    if not ok:
        raise InvalidParameter(f"configuration: {key!r} has the wrong type")
    return value


def _unlimited(amount: Decimal | None) -> str:
    return "unlimited" if amount is None else str(amount)


def _amount(key: str, value: Any, *, unlimited: bool) -> Decimal | None:
    if unlimited and value == "unlimited":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidParameter(f"configuration: {key} must be an amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as e:
        raise InvalidParameter(f"configuration: {key} must be an amount") from e
    if not amount.is_finite() or amount < 0:
        raise InvalidParameter(f"configuration: {key} must be a non-negative amount")
    return amount


def _limits(value: Any) -> dict[str, WithdrawalLimit]:
    if not isinstance(value, Mapping):
        raise InvalidParameter("configuration: 'withdrawal_limits' must be a table")
    limits = dict(DEFAULT_WITHDRAWAL_LIMITS)
    for kind, pair in value.items():
        if not isinstance(pair, list) or len(pair) != 2:
            raise InvalidParameter(f"configuration: withdrawal_limits.{kind} is [per_day, per_window]")
        name = f"withdrawal_limits.{kind}"
        limits[str(kind)] = WithdrawalLimit(
            _amount(name, pair[0], unlimited=True), _amount(name, pair[1], unlimited=True)
        )
    return limits


def _reserves(value: Any) -> dict[str, Decimal]:
    if not isinstance(value, Mapping):
        raise InvalidParameter("configuration: 'device_reserves_usd' must be a table")
    reserves = dict(DEFAULT_RESERVES_USD)
    for kind, amount in value.items():
        parsed = _amount(f"device_reserves_usd.{kind}", amount, unlimited=False)
        assert parsed is not None
        reserves[str(kind)] = parsed
    return reserves
