"""The pure rules (windows, stages, identity digests) and their configuration, at their boundaries."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tokensim.protocol.errors import InvalidParameter
from tokensim.server.config import DEFAULT_WITHDRAWAL_LIMITS, ServerConfig, WithdrawalLimit
from tokensim.server.rules import (
    day_start,
    identity_digest,
    limit_for,
    remaining,
    temporary_stage,
    window_start,
)

from .sls_helpers import at


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%a %Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize(
    ("now", "start"),
    [
        ("2024-01-12 23:59:59", "Mon 2024-01-08 00:00:00"),  # Friday: Monday to Friday
        ("2024-01-13 12:00:00", "Tue 2024-01-09 00:00:00"),  # Saturday: Saturday and 4 business days
        ("2024-01-15 00:00:00", "Tue 2024-01-09 00:00:00"),  # Monday: back over the weekend
        ("2024-01-16 00:00:00", "Wed 2024-01-10 00:00:00"),  # Tuesday: last Tuesday has left
    ],
)
def test_the_five_business_day_window_reaches_over_weekends(now: str, start: str) -> None:
    assert _day(window_start(at(now), 5)) == start


def test_a_one_day_window_is_today_and_days_start_at_utc_midnight() -> None:
    assert window_start(at("2024-01-14 08:00:00"), 1) == at("2024-01-14 00:00:00")
    assert day_start(at("2024-01-14 23:59:59")) == at("2024-01-14 00:00:00")
    assert day_start(at("2024-01-15 00:00:00")) == at("2024-01-15 00:00:00")
    with pytest.raises(InvalidParameter):
        window_start(0, 0)


def test_the_temporary_passcode_stages_end_at_their_boundaries() -> None:
    config = ServerConfig()
    day = 86400
    assert temporary_stage(0, 2 * day - 1, config) == "full"
    assert temporary_stage(0, 2 * day, config) == "card-printing"
    assert temporary_stage(0, 10 * day - 1, config) == "card-printing"  # 8 days, the newer page
    assert temporary_stage(0, 10 * day, config) == "expired"
    older = config.replace(temporary_card_printing=10.0 * day)  # the older page's 10 days
    assert temporary_stage(0, 12 * day - 1, older) == "card-printing"
    assert temporary_stage(0, 12 * day, older) == "expired"
    short = config.replace(temporary_full_access=60.0, temporary_card_printing=60.0)
    assert [temporary_stage(0, t, short) for t in (59, 60, 119, 120)] == [
        "full",
        "card-printing",
        "card-printing",
        "expired",
    ]


def test_limits_and_what_remains() -> None:
    limits = DEFAULT_WITHDRAWAL_LIMITS
    expected = {
        "none": (50_000, 100_000),
        "phone": (200_000, 600_000),
        "scc": (200_000, 600_000),
        "online-scc": (200_000, 600_000),
        "ib-key": (200_000, 600_000),
        "dsc": (1_000_000, 1_500_000),
        "dsc-plus": (None, None),
        "gold": (None, None),
        "platinum": (None, None),
    }
    for kind, (day, window) in expected.items():
        limit = limit_for(kind, limits)
        assert (limit.per_day, limit.per_window) == (
            None if day is None else Decimal(day),
            None if window is None else Decimal(window),
        )
    assert limit_for(None, limits) == limits["none"]
    with pytest.raises(InvalidParameter, match="temporary"):
        limit_for("temporary", limits)
    assert remaining(Decimal(100), Decimal(30)) == Decimal(70)
    assert remaining(Decimal(100), Decimal(130)) == Decimal(0)
    assert remaining(None, Decimal(10**9)) is None


def test_every_rule_default_is_configurable_from_toml_values() -> None:
    config = ServerConfig.from_mapping(
        {
            "temporary_full_access": 3600,
            "temporary_card_printing": 7200,
            "temporary_passcode_length": 16,
            "replacement_activation_window": 86400,
            "sms_resend_interval": 60,
            "dsc_plus_min_equity_usd": 500_000,
            "sls_deposit_threshold_usd": 10_000,
            "withdrawal_business_days": 3,
            "withdrawal_limits": {"phone": [1000, "unlimited"]},
            "device_reserves_usd": {"dsc-plus": "25.50"},
            "no_opt_out_jurisdictions": ["HK"],
            "signup_sms": False,
            "identity_check_ttl": 60,
            "device_return_window": 86400,
            "ib_key_removes_sms": False,
            "ib_key_ios_recovery_sms": True,
        }
    )
    assert (config.device_return_window, config.ib_key_removes_sms, config.ib_key_ios_recovery_sms) == (
        86400.0,
        False,
        True,
    )
    assert config.withdrawal_limits["phone"] == WithdrawalLimit(Decimal(1000), None)
    assert config.withdrawal_limits["dsc"] == DEFAULT_WITHDRAWAL_LIMITS["dsc"]
    assert config.device_reserves_usd["dsc-plus"] == Decimal("25.50")
    assert config.no_opt_out_jurisdictions == ("HK",)
    assert ServerConfig.from_mapping(config.to_mapping()) == config
    for bad in (
        {"temporary_passcode_length": 9},
        {"withdrawal_business_days": 0},
        {"withdrawal_limits": {"phone": [1]}},
        {"withdrawal_limits": {"phone": [-1, 5]}},
        {"device_reserves_usd": {"dsc": "lots"}},
        {"no_opt_out_jurisdictions": "HK"},
    ):
        with pytest.raises(InvalidParameter):
            ServerConfig.from_mapping(bad)


def test_identity_digests_compare_normalised_data_and_never_mix_fields() -> None:
    key = b"k" * 32
    fields = {"date_of_birth": "1980-02-29", "id_type": "passport", "id_number": "x123 45"}
    same = {"date_of_birth": " 1980-02-29", "id_type": "PASSPORT", "id_number": "X123  45 "}
    assert identity_digest(key, fields) == identity_digest(key, same)
    assert identity_digest(key, fields) != identity_digest(key, fields | {"id_type": "national-id"})
    assert identity_digest(key, fields) != identity_digest(b"j" * 32, fields)
    with pytest.raises(InvalidParameter):
        identity_digest(key, fields | {"id_number": "  "})
