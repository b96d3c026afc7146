"""``tokensim demo``, ``tokensim login`` and the demo accounts of ``tokensim serve --demo``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tokensim.emulators import load
from tokensim.emulators.challenge_response import OcraKeypadDevice
from tokensim.emulators.printed_card import PrintedCard
from tokensim.protocol.clock import FixedClock
from tokensim.server.cli import main
from tokensim.server.cli.demo import run_demo
from tokensim.server.cli.demo_accounts import DEMO_PASSWORD, seed_demo_accounts
from tokensim.server.cli.login import interactive_login
from tokensim.server.client import ProblemError, TokensimClient
from tokensim.server.testing.harness import ALL_KINDS, Harness
from tokensim.server.verify import FULL_SCOPE

from .conftest import PASSWORD

SCOPE = " ".join(FULL_SCOPE)


def test_demo_logs_in_with_every_kind_and_shows_the_refusals() -> None:
    out = io.StringIO()
    rows = run_demo(out)
    text = out.getvalue()
    assert text.splitlines()[0].split() == ["device", "mode", "challenge", "answer", "result", "scope"]
    successes = {(row[0], row[1]) for row in rows if row[4] == "ok"}
    assert {kind for kind, _ in successes} == set(ALL_KINDS)
    assert {("ib-key", m) for m in ("push", "qr", "numeric", "code")} <= successes
    assert {("phone", "sms"), ("phone", "voice")} <= successes
    assert all(row[5] == SCOPE for row in rows if row[4].startswith("ok"))
    results = [row[4] for row in rows]
    assert "refused: wrong-answer, 4 left" in results
    assert "refused: replayed-answer" in results
    assert "refused: challenge-expired" in results
    assert "refused: device-locked, retry after 60 s" in results
    assert results[-1] == "ok (other devices still work)"
    assert len(text.splitlines()) == len(rows) + 2


def test_demo_accounts_are_created_once_and_their_saved_devices_log_in(
    client: TokensimClient, clock: FixedClock, tmp_path: Path
) -> None:
    folder = tmp_path / "demo"
    first = seed_demo_accounts(client, folder, clock=clock)
    second = seed_demo_accounts(client, folder, clock=clock)
    assert [a.username for a in first] == [a.username for a in second]
    assert [a.how for a in first] == [a.how for a in second]
    assert len(first) == len(ALL_KINDS)
    dsc_plus = next(a for a in first if a.kind == "dsc-plus")
    assert dsc_plus.how.startswith("tokensim code ocra --suite OCRA-1:HOTP-SHA1-8:QN06-PSHA1 --key ")
    card = load(json.loads((folder / "demo-scc.device.json").read_text()))
    assert isinstance(card, PrintedCard)
    assert "demo-scc.card.txt" in first[0].how
    started = client.login("demo-scc", DEMO_PASSWORD)
    challenge = client.challenge(started.login_id, started.device("scc").id)
    assert (
        client.answer(started.login_id, challenge.id, card.answer(challenge.challenge.indices)).scope
        == FULL_SCOPE
    )
    assert oct((folder / "demo-scc.device.json").stat().st_mode & 0o777) == "0o600"


def test_interactive_login_asks_for_the_device_and_the_answer(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    harness.enroll(alice, "dsc-plus")
    shown: list[str] = []
    questions: list[str] = []

    def ask(question: str) -> str:
        questions.append(question)
        if question.startswith("Select"):
            return "1"
        indices = tuple(int(n) for n in question.split("cells ")[1].split(",")[0].split(" and "))
        assert isinstance(card.device, PrintedCard)
        return card.device.answer(indices)

    grant = interactive_login(client, alice, PASSWORD, ask=ask, say=shown.append)
    assert grant.scope == FULL_SCOPE
    assert shown[0].startswith("  1. scc")
    assert questions[0] == "Select second factor device: "


def test_interactive_login_waits_for_a_push(client: TokensimClient, harness: Harness, alice: str) -> None:
    ib_key = harness.enroll(alice, "ib-key")
    waits: list[float] = []

    def approve_while_waiting(seconds: float) -> None:
        waits.append(seconds)
        app = harness.app()
        key_id = app.key_id(alice)
        for request in client.push_requests(key_id, app.listing_auth(key_id)):
            app.receive_push(request)
            client.decide(app.approve(request.id, pin="1234"), app.decision_auth(key_id))

    shown: list[str] = []
    grant = interactive_login(
        client, alice, PASSWORD, device="ib-key", say=shown.append, wait=approve_while_waiting
    )
    assert grant.device_kind == "ib-key"
    assert waits == [1.0]
    assert shown == ["Approve the notification on your IB Key phone ..."]
    assert ib_key.kind == "ib-key"


def test_interactive_login_reports_a_wrong_answer(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    harness.enroll(alice, "dsc-plus")
    with pytest.raises(ProblemError, match="wrong-answer"):
        interactive_login(client, alice, PASSWORD, device="dsc-plus", ask=lambda _q: "00000000", say=print)


def test_saved_dsc_plus_answers_like_the_printed_instructions(
    client: TokensimClient, clock: FixedClock, tmp_path: Path
) -> None:
    accounts = seed_demo_accounts(client, tmp_path / "demo", clock=clock)
    how = next(a.how for a in accounts if a.kind == "dsc-plus").split()
    key = how[how.index("--key") + 1]
    device = load(json.loads((tmp_path / "demo" / "demo-dsc-plus.device.json").read_text()))
    assert isinstance(device, OcraKeypadDevice)
    assert device.provisioning.secret.hex() == key


@pytest.mark.parametrize("argv", [["serve", "--workers", "0"], ["serve", "--config", "/nonexistent.toml"]])
def test_serve_refuses_bad_arguments(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 2
    assert "tokensim: error:" in capsys.readouterr().err


def test_help_lists_serve_demo_and_login(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("serve", "demo", "login"):
        assert command in out
