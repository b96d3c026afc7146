from __future__ import annotations

import pytest

from tokensim.protocol.clock import printed_time


@pytest.mark.parametrize(
    ("timestamp", "printed"),
    [
        (0, "1970-01-01T00:00:00Z (Thursday 1 January 1970, 00:00 UTC)"),
        (1_798_021_253, "2026-12-23T10:20:53Z (Wednesday 23 December 2026, 10:20 UTC)"),
        (1_709_251_199.9, "2024-02-29T23:59:59Z (Thursday 29 February 2024, 23:59 UTC)"),
    ],
)
def test_printed_time_is_iso_8601_utc_then_words(timestamp: float, printed: str) -> None:
    assert printed_time(timestamp) == printed


def test_the_short_form_is_the_date_and_time_to_the_minute() -> None:
    assert printed_time(1_798_021_253, short=True) == "2026-12-23 10:20 UTC"
