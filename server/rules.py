"""The Secure Login System rules that need no database: time windows, stages, rankings, limits.

Everything here is a pure function of its arguments (the caller passes ``now`` and the
configuration), so each boundary is tested directly, and the operations (:mod:`.money`,
:mod:`.sharing`, :mod:`.enrollment`, :mod:`.support`, ...) apply the answers inside their transactions.

Times are Unix seconds; days are UTC calendar days; business days are Monday to Friday.

Example:
    >>> from datetime import datetime, timezone
    >>> monday = datetime(2024, 1, 8, 12, tzinfo=timezone.utc).timestamp()
    >>> datetime.fromtimestamp(window_start(monday, 5), timezone.utc).strftime("%a %d")
    'Tue 02'
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.provisioning import DeviceKind
from tokensim.server.config import ServerConfig, WithdrawalLimit
from tokensim.server.verify import TEMPORARY_KIND

__all__ = [
    "CURRENT_KINDS",
    "LEGACY_KINDS",
    "MONEY_KINDS",
    "PHONE_OSES",
    "PHYSICAL_KINDS",
    "SHARE_RANK",
    "SLS_KINDS",
    "TEMPORARY_KINDS",
    "TRADING_PLATFORMS",
    "day_start",
    "identity_digest",
    "limit_for",
    "remaining",
    "temporary_stage",
    "window_start",
]

#: Devices that only bridge a gap: a temporary passcode and the online card.
TEMPORARY_KINDS = (TEMPORARY_KIND, DeviceKind.ONLINE_SCC.value)
#: Secure Login System devices proper: what bank instruction and email changes and ACH/EFT deposits
#: beyond the threshold need. SMS is what users without one get; a temporary passcode is not one; the
#: online card lifts the temporary passcode's restrictions, so it counts.
SLS_KINDS = (
    DeviceKind.SCC.value,
    DeviceKind.ONLINE_SCC.value,
    DeviceKind.DSC.value,
    DeviceKind.DSC_PLUS.value,
    DeviceKind.GOLD.value,
    DeviceKind.PLATINUM.value,
    DeviceKind.IB_KEY.value,
)
#: Devices that may authorise a withdrawal (every kind but the temporary passcode).
MONEY_KINDS = (*SLS_KINDS, DeviceKind.PHONE.value)
#: Devices a user holds in the hand, which IB Key migration asks for instead of an SMS.
PHYSICAL_KINDS = (
    DeviceKind.SCC.value,
    DeviceKind.DSC.value,
    DeviceKind.DSC_PLUS.value,
    DeviceKind.GOLD.value,
    DeviceKind.PLATINUM.value,
)
#: Kinds "no longer issued" (the M2FS table's footnote and the overview's asterisks): support still
#: enrolls them (QA needs them), flagged ``legacy``; a user's own request never gets one.
LEGACY_KINDS = (
    DeviceKind.SCC.value,
    DeviceKind.DSC.value,
    DeviceKind.GOLD.value,
    DeviceKind.PLATINUM.value,
)
#: What a user may ask for: the DSC+ by mail (POST /v1/devices) and IB Key from its app.
CURRENT_KINDS = (DeviceKind.DSC_PLUS.value, DeviceKind.IB_KEY.value)
#: The IB Key phone's operating systems: they differ in how IB Key is recovered.
PHONE_OSES = ("android", "ios")
#: The devices that may be shared, strongest first: DSC+ above IB Key above the code card.
SHARE_RANK: Mapping[str, int] = {
    DeviceKind.DSC_PLUS.value: 3,
    DeviceKind.IB_KEY.value: 2,
    DeviceKind.SCC.value: 1,
}
#: Login platforms that are trading platforms (opt-out and IP restrictions apply to them).
TRADING_PLATFORMS = ("trading", "mobile")


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def day_start(now: float) -> float:
    """Midnight (UTC) of the day of ``now``: the start of the per-day withdrawal total."""
    moment = _utc(now)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC).timestamp()


def window_start(now: float, business_days: int) -> float:
    """The start of the rolling window of ``business_days`` business days that ends with today.

    The window is today plus the ``business_days - 1`` business days before it, from midnight UTC,
    so weekend days inside it count and a withdrawal leaves the window at the midnight that starts
    the ``business_days``-th business day after it.

    Raises:
        InvalidParameter: ``business_days`` below 1.
    """
    if business_days < 1:
        raise InvalidParameter("a window has at least one business day")
    day = _utc(day_start(now))
    back = business_days - 1
    while back > 0:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            back -= 1
    return day.timestamp()


def limit_for(kind: str | None, limits: Mapping[str, WithdrawalLimit]) -> WithdrawalLimit:
    """The withdrawal limit of a device kind (``None`` or ``none`` for no device).

    Raises:
        InvalidParameter: the kind has no limit configured (it cannot authorise withdrawals).
    """
    key = "none" if kind is None else kind
    try:
        return limits[key]
    except KeyError:
        raise InvalidParameter(f"a {key} cannot authorise withdrawals") from None


def remaining(limit: Decimal | None, used: Decimal) -> Decimal | None:
    """What is left of ``limit`` after ``used`` (never negative); ``None`` when unlimited."""
    if limit is None:
        return None
    return max(limit - used, Decimal(0))


def temporary_stage(issued_at: float, now: float, config: ServerConfig) -> str:
    """Where a temporary passcode is in its life.

    Returns:
        ``full`` for the first ``temporary_full_access`` seconds, then ``card-printing`` for
        ``temporary_card_printing`` seconds, then ``expired``. Each stage ends at its boundary: at
        exactly two days the passcode only prints the online card.
    """
    age = now - issued_at
    if age < config.temporary_full_access:
        return "full"
    if age < config.temporary_full_access + config.temporary_card_printing:
        return "card-printing"
    return "expired"


def identity_digest(key: bytes, fields: Mapping[str, str]) -> str:
    """An HMAC of normalised identification data, so users are compared without storing the data.

    Each value is stripped, upper-cased and inner spaces collapsed; the field names are part of the
    MAC, so a passport number never matches a national ID with the same digits.

    Raises:
        InvalidParameter: a field is empty.
    """
    parts = []
    for name in sorted(fields):
        value = " ".join(fields[name].split()).upper()
        if not value:
            raise InvalidParameter(f"identity: {name} is empty")
        parts.append(f"{name}={value}")
    return hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()
