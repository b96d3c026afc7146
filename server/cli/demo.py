"""``tokensim demo``: a login with every device kind against a throw-away in-process server.

It enrolls one user with every device kind, logs in with each emulated device and prints what
happened, including a temporary passcode through its stages (full access, card printing, expired)
and the login that reactivates the misplaced DSC+ after them, and refusals (wrong answer, replay,
expired challenge, locked device).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tokensim.protocol.clock import FixedClock, SystemClock
from tokensim.protocol.messages import ChallengeForm
from tokensim.protocol.provisioning import DeviceKind
from tokensim.server.cli.demo_accounts import DEMO_PIN
from tokensim.server.client import ProblemError, TokensimClient
from tokensim.server.config import ServerConfig
from tokensim.server.core import load_support_token
from tokensim.server.http.app import create_app
from tokensim.server.testing.harness import Enrolled, Harness
from tokensim.server.verify import FULL_SCOPE
from tokensim.server.views import ChallengeView

__all__ = ["register", "run_demo"]


def _describe(view: ChallengeView) -> str:
    challenge = view.challenge
    if challenge.form is ChallengeForm.GRID:
        return "cells " + ", ".join(str(i) for i in challenge.indices)
    if challenge.form is ChallengeForm.NUMERIC:
        return f"{challenge.question}"
    if challenge.form is ChallengeForm.CODE:
        return "(shows a code)" if view.mode == "code" else ""
    if challenge.form is ChallengeForm.OOB:
        return f"{view.mode} to {view.sent_to}"
    if view.mode == "qr":
        assert view.qr is not None
        return view.qr[:20] + "..."
    return "push to phone"


def run_demo(out: Any = None) -> list[tuple[str, ...]]:
    """Log in with every device kind against an in-process server and print the table.

    Returns:
        The rows printed: device, mode, challenge, answer, result, scope.
    """
    stream = sys.stdout if out is None else out
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory(prefix="tokensim-demo-") as folder:
        clock = FixedClock(SystemClock().now())
        environ: Mapping[str, str] = {}
        config = ServerConfig(data_dir=Path(folder))
        app = create_app(config, clock=clock, environ=environ)
        token = load_support_token(config.token_path, environ=environ)
        try:
            with TokensimClient.in_process(app, support_token=token) as client:
                rows = _demo_rows(client, clock)
        finally:
            app.state.service.close()
    header = ("device", "mode", "challenge", "answer", "result", "scope")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(line.format(*row).rstrip(), file=stream)
    return rows


def _demo_rows(client: TokensimClient, clock: FixedClock) -> list[tuple[str, ...]]:
    harness = Harness(client, clock=clock)
    username, password = "alice", "correct horse battery staple"
    client.create_user(username, password, phones=["+15551230001"], equity=2_000_000, start_with_sms=False)
    devices = harness.enroll_all(username, pin=DEMO_PIN)
    clock.advance(30)  # the DSC's activation used this time step; a code is accepted once
    rows: list[tuple[str, ...]] = []
    for enrolled in devices:
        modes: tuple[str | None, ...] = (None,)
        if enrolled.kind == "ib-key":
            modes = ("push", "qr", "numeric", "code")
        elif enrolled.kind == "phone":
            modes = ("sms", "voice")
        for mode in modes:
            result = harness.login(username, password, enrolled, mode=mode)
            rows.append(
                (
                    enrolled.kind,
                    result.challenge.mode,
                    _describe(result.challenge),
                    result.answer,
                    "ok",
                    " ".join(result.grant.scope),
                )
            )
            clock.advance(31)
    rows.extend(_demo_temporary(client, harness, password, clock))
    rows.extend(_demo_refusals(client, harness, username, password, devices, clock))
    return rows


def _demo_temporary(
    client: TokensimClient, harness: Harness, password: str, clock: FixedClock
) -> list[tuple[str, ...]]:
    # A user whose DSC+ is misplaced: support's temporary passcode through its stages, then the
    # login that reactivates the DSC+ once the passcode is over.
    username = "bob"
    client.create_user(username, password, phones=["+15551230002"], equity=2_000_000, start_with_sms=False)
    dsc_plus = harness.enroll(username, DeviceKind.DSC_PLUS.value, pin=DEMO_PIN)
    clock.advance(1)
    check = client.verify_identity(username, method="phone-questions", agent="demo")
    issued = client.issue_temporary_passcode(username, verification_id=check.id)
    assert issued.passcode is not None
    passcode = issued.passcode
    rows: list[tuple[str, ...]] = []
    day = 86400.0
    for label, later in (("day 0", 2 * day), ("day 2", 8 * day), ("day 10", 0.0)):
        started = client.login(username, password)
        stage = ", ".join(f"{t.kind} {t.stage}" for t in started.temporary)
        try:
            view = client.challenge(started.login_id, issued.device.id)
            grant = client.answer(started.login_id, view.id, passcode)
        except ProblemError as e:
            rows.append(("temporary", "static", f"{label}: {stage}", passcode, f"refused: {e.code}", ""))
        else:
            result = "ok (full access)" if grant.scope == FULL_SCOPE else f"{grant.scope[0]} only"
            rows.append(("temporary", "static", f"{label}: {stage}", passcode, result, " ".join(grant.scope)))
        clock.advance(later)
    started = client.login(username, password)  # day 10: the login offers the DSC+ to reactivate
    pending = next(d for d in started.devices if d.status == "pending")
    view = client.challenge(started.login_id, pending.id)
    answer = harness.answer(dsc_plus, view)
    grant = client.answer(started.login_id, view.id, answer)
    rows.append(
        ("dsc-plus", view.mode, _describe(view), answer, "ok (reactivated at login)", " ".join(grant.scope))
    )
    return rows


def _refused(action: Any) -> str:
    try:
        action()
    except ProblemError as e:
        extra = ""
        if "attempts_remaining" in e.body:
            extra = f", {e.body['attempts_remaining']} left"
        if e.retry_after is not None:
            extra += f", retry after {e.retry_after:.0f} s"
        return f"refused: {e.code}{extra}"
    return "accepted (unexpected)"


def _demo_refusals(
    client: TokensimClient,
    harness: Harness,
    username: str,
    password: str,
    devices: list[Enrolled],
    clock: FixedClock,
) -> list[tuple[str, ...]]:
    by_kind = {d.kind: d for d in devices}
    dsc_plus = by_kind["dsc-plus"]
    rows: list[tuple[str, ...]] = []

    started = client.login(username, password)
    view = client.challenge(started.login_id, dsc_plus.device_id)
    rows.append(
        (
            "dsc-plus",
            "numeric",
            _describe(view),
            "00000000",
            _refused(lambda: client.answer(started.login_id, view.id, "00000000")),
            "",
        )
    )
    right = harness.answer(dsc_plus, view)
    grant = client.answer(started.login_id, view.id, right)
    rows.append(("dsc-plus", "numeric", _describe(view), right, "ok", " ".join(grant.scope)))
    rows.append(
        (
            "dsc-plus",
            "numeric",
            _describe(view),
            right + " (again)",
            _refused(lambda: client.answer(started.login_id, view.id, right)),
            "",
        )
    )

    started = client.login(username, password)
    view = client.challenge(started.login_id, dsc_plus.device_id)
    clock.advance(301)  # past the default 300 s a challenge stays answerable
    late = harness.answer(dsc_plus, view)
    rows.append(
        (
            "dsc-plus",
            "numeric",
            _describe(view),
            f"{late} (301 s later)",
            _refused(lambda: client.answer(started.login_id, view.id, late)),
            "",
        )
    )

    gold = by_kind["gold"]
    started = client.login(username, password)

    def wrong_gold_answer() -> None:
        challenge = client.challenge(started.login_id, gold.device_id)
        client.answer(started.login_id, challenge.id, "12345678")

    result = ""
    for _ in range(5):
        result = _refused(wrong_gold_answer)
    rows.append(("gold", "numeric", "(5 times)", "12345678", result, ""))
    rows.append(("gold", "numeric", "", "(a 6th time)", _refused(wrong_gold_answer), ""))
    other = harness.login(username, password, by_kind["scc"])
    rows.append(
        (
            "scc",
            "grid",
            _describe(other.challenge),
            other.answer,
            "ok (other devices still work)",
            " ".join(other.grant.scope),
        )
    )
    return rows


def _run_demo(_args: argparse.Namespace) -> int:
    run_demo()
    return 0


def register(subparsers: Any) -> None:
    """Add ``demo`` to the ``tokensim`` parser."""
    demo = subparsers.add_parser(
        "demo",
        help="log in with every device kind against an in-process server",
        description="Enroll a user with every device kind on a throw-away in-process server, log in with "
        "each emulated device, and print device, challenge, answer, result and scope.",
    )
    demo.set_defaults(handler=_run_demo)
