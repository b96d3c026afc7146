"""No secret, PIN, code, token or password reaches a log, even with every logger at DEBUG."""

from __future__ import annotations

import logging
import re

import pytest

from tokensim.protocol.clock import FixedClock
from tokensim.server.client import ProblemError, TokensimClient
from tokensim.server.testing.harness import ALL_KINDS, Harness

from .conftest import PASSWORD

PIN = "8531"


def _appears(secret: str, text: str) -> bool:
    # Short secrets (PINs, 6-digit codes) are looked for as whole words, so an identifier or a
    # timestamp that happens to contain the same digits does not count.
    return re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", text) is not None


def test_logins_with_every_device_log_no_secret(
    caplog: pytest.LogCaptureFixture, client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # SQL logging on, as an operator might
    secrets = {PASSWORD, PIN}
    devices = harness.enroll_all(alice, ALL_KINDS, pin=PIN)
    clock.advance(30)
    for enrolled in devices:
        provisioning = enrolled.provisioning
        assert provisioning is not None
        secrets.update(s.hex() for s in (provisioning.secret, provisioning.totp_secret) if s)
        result = harness.login(alice, PASSWORD, enrolled)
        secrets.add(result.grant.token)
        if not result.answer.startswith("signed"):
            secrets.add(result.answer)
        started = client.login(alice, PASSWORD)
        challenge = client.challenge(started.login_id, enrolled.device_id)
        wrong = "00000000" if enrolled.kind != "scc" else "ZZZZZZ"
        with pytest.raises(ProblemError):
            client.answer(started.login_id, challenge.id, wrong)
        clock.advance(31)
    check = client.verify_identity(alice, method="phone-questions", agent="agent-7")
    passcode = client.issue_temporary_passcode(alice, verification_id=check.id).passcode
    assert passcode is not None
    secrets.add(passcode)
    secrets.update(m.text for m in client.outbox())
    with pytest.raises(ProblemError):
        client.login(alice, "the wrong password")
    text = caplog.text
    assert "POST" in text  # the logs were captured at all
    assert "SELECT" in text
    leaked = sorted(s[:6] for s in secrets if _appears(s, text))
    assert leaked == []
