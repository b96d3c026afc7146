"""The card files a person prints: the online card says when it was issued and when it expires."""

from __future__ import annotations

from pathlib import Path

from tokensim.protocol.clock import FixedClock
from tokensim.server.cli.demo_accounts import seed_demo_accounts
from tokensim.server.client import TokensimClient

from .conftest import START


def test_the_demo_online_card_file_prints_its_dates(
    client: TokensimClient, clock: FixedClock, tmp_path: Path
) -> None:
    assert START == 1_700_000_000  # 2023-11-14 22:13:20 UTC, a Tuesday; the card lasts 21 days
    seed_demo_accounts(client, tmp_path, clock=clock)
    online = (tmp_path / "demo-online-scc.card.txt").read_text(encoding="utf-8").splitlines()
    assert online[0].startswith("tokensim online-scc ")
    assert online[1] == "issued      2023-11-14T22:13:20Z (Tuesday 14 November 2023, 22:13 UTC)"
    assert online[2] == "valid until 2023-12-05T22:13:20Z (Tuesday 5 December 2023, 22:13 UTC)"
    assert "Unix time" not in "\n".join(online)
    # A security code card does not expire: its file says when it was issued, and nothing more.
    card = (tmp_path / "demo-scc.card.txt").read_text(encoding="utf-8").splitlines()
    assert card[1] == "issued      2023-11-14T22:13:20Z (Tuesday 14 November 2023, 22:13 UTC)"
    assert not any(line.startswith("valid until") for line in card)
