"""``tokensim demo`` shows a temporary passcode through its stages and the reactivation after them."""

from __future__ import annotations

import io

from tokensim.server.cli.demo import run_demo
from tokensim.server.verify import FULL_SCOPE


def test_the_demo_shows_the_temporary_stages_and_the_reactivation_after_them() -> None:
    out = io.StringIO()
    rows = run_demo(out)
    temporary = [row for row in rows if row[0] == "temporary"]
    assert [(row[2], row[4], row[5]) for row in temporary] == [
        ("day 0: temporary full", "ok (full access)", " ".join(FULL_SCOPE)),
        ("day 2: temporary card-printing", "card-printing only", "card-printing"),
        ("day 10: temporary expired", "refused: device-unavailable", ""),
    ]
    after = rows[rows.index(temporary[-1]) + 1]
    assert (after[0], after[4], after[5]) == ("dsc-plus", "ok (reactivated at login)", " ".join(FULL_SCOPE))
    assert "ok (reactivated at login)" in out.getvalue()
