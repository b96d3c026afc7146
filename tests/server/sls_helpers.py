"""Helpers of the Secure Login System rule tests: log in, answer step-ups, catch problems, set dates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from tokensim.protocol.clock import FixedClock
from tokensim.protocol.messages import ChallengeForm
from tokensim.server.client import ProblemError, TokensimClient
from tokensim.server.config import ServerConfig
from tokensim.server.core import load_support_token
from tokensim.server.http.app import create_app
from tokensim.server.testing.harness import Enrolled, Harness
from tokensim.server.views import SessionGrant, WithdrawalReceipt

from .conftest import NO_ENV, PASSWORD


def at(text: str) -> float:
    """Unix time of a UTC date and time such as ``2024-01-09 10:00:00``."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


def problem(action: Callable[[], Any]) -> ProblemError:
    """The problem ``action`` raises (the test fails if it raises none)."""
    with pytest.raises(ProblemError) as caught:
        action()
    return caught.value


def session(harness: Harness, username: str, enrolled: Enrolled, *, platform: str = "portal") -> str:
    """A whole login with ``enrolled``; the session token."""
    return harness.login(username, PASSWORD, enrolled, platform=platform).grant.token


def static_login(client: TokensimClient, username: str, device_id: str, passcode: str) -> SessionGrant:
    """A login with a temporary passcode."""
    started = client.login(username, PASSWORD)
    challenge = client.challenge(started.login_id, device_id)
    return client.answer(started.login_id, challenge.id, passcode)


def step_up(
    client: TokensimClient, harness: Harness, token: str, enrolled: Enrolled, action: str
) -> tuple[str, str | None]:
    """A fresh ``action`` challenge answered by the emulator: (challenge id, what to send)."""
    challenge = client.step_up(token, enrolled.device_id, action)
    answer = harness.answer(enrolled, challenge)
    return challenge.id, None if challenge.challenge.form is ChallengeForm.PUSH else answer


def withdraw(
    client: TokensimClient, harness: Harness, token: str, enrolled: Enrolled, amount: str
) -> WithdrawalReceipt:
    """A withdrawal authorised by a fresh answer of ``enrolled``."""
    challenge_id, answer = step_up(client, harness, token, enrolled, "withdrawal")
    return client.withdraw(token, amount, challenge_id=challenge_id, answer=answer)


def temporary_passcode(client: TokensimClient, username: str) -> tuple[str, str]:
    """Verify the identity and issue a temporary passcode: (device id, passcode)."""
    check = client.verify_identity(username, method="phone-questions", agent="agent-7")
    issued = client.issue_temporary_passcode(username, verification_id=check.id)
    assert issued.passcode is not None
    return issued.device.id, issued.passcode


@contextmanager
def in_process_client(config: ServerConfig, clock: FixedClock) -> Iterator[TokensimClient]:
    """A support client of an in-process server with ``config`` (for a rule's other configured value)."""
    app = create_app(config, clock=clock, environ=NO_ENV)
    token = load_support_token(config.token_path, environ=NO_ENV)
    try:
        with TokensimClient.in_process(app, support_token=token) as made:
            yield made
    finally:
        app.state.service.close()
