"""``tokensim login``: log in to a running server by hand, as the login page would ask.

It asks for the password, lists the user's devices (M2FS), shows the chosen device's challenge and
reads the answer from the keyboard; for IB Key push and QR it waits for the phone's decision (a QR
login draws its code in the terminal and prints its text, for ``tokensim phone scan``). It
prints the session's scope and never prints the password or the session token (``--show-token``
prints the token for use with curl)::

    $ tokensim login demo-dsc-plus --server http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import io
import time
from collections.abc import Callable
from typing import Any

import segno

from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.messages import ChallengeForm
from tokensim.server.client import ProblemError, TokensimClient
from tokensim.server.views import ChallengeView, SessionGrant

__all__ = ["interactive_login", "qr_text_block", "register"]

_PROMPTS = {
    ChallengeForm.GRID: "Type the values of cells {indices}, one after the other, no space",
    ChallengeForm.NUMERIC: "Challenge {question}: type it into the device, then its response",
    ChallengeForm.CODE: "Type the code the device shows",
    ChallengeForm.OOB: "Type the code sent by {mode} to {sent_to}",
    ChallengeForm.STATIC: "Type the temporary passcode",
}


def _prompt(view: ChallengeView) -> str:
    challenge = view.challenge
    return _PROMPTS[challenge.form].format(
        indices=" and ".join(str(i) for i in challenge.indices),
        question=challenge.question,
        mode=view.mode,
        sent_to=view.sent_to,
    )


def qr_text_block(payload: str) -> str:
    """The QR code of ``payload`` drawn with block characters, two module rows per line, for a terminal.

    Light modules are full blocks and dark ones spaces (a quiet zone of 4 around it), as segno's
    compact terminal output draws them; a phone camera reads it from the screen.
    """
    out = io.StringIO()
    segno.make(payload, error="m").terminal(out=out, compact=True)
    return out.getvalue().rstrip("\n")


def interactive_login(
    client: TokensimClient,
    username: str,
    password: str,
    *,
    device: str | None = None,
    mode: str | None = None,
    ask: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
    wait: Callable[[float], None] = time.sleep,
    push_timeout: float = 120.0,
) -> SessionGrant:
    """Run one login, asking the person for the device and the answer.

    Args:
        client: the API client.
        username: who logs in.
        password: their password.
        device: the device kind or id to use; asked when the user has several and this is ``None``.
        mode: how the device answers (``push``, ``qr``, ``numeric``, ``code``, ``sms``, ``voice``).
        ask: reads one line from the person.
        say: shows one line to the person.
        wait: sleeps between polls while a push waits for the phone.
        push_timeout: how long to wait for the phone.

    Raises:
        ProblemError: the server refused a step.
        InvalidParameter: no such device for this user.
    """
    started = client.login(username, password)
    for stage in started.temporary:  # the temporary passcode's and online card's stages
        until = "" if stage.stage_ends_at is None else f" until Unix time {stage.stage_ends_at:.0f}"
        say(f"Temporary access: {stage.kind} {stage.stage}{until}")
    devices = list(started.devices)
    if not devices:
        raise InvalidParameter(f"{username} has no active device")
    chosen = None
    if device is not None:
        chosen = next((d for d in devices if device in (d.id, d.kind, d.serial)), None)
        if chosen is None:
            raise InvalidParameter(f"{username} has no active device {device!r}")
    elif len(devices) == 1:
        chosen = devices[0]
    else:
        for number, candidate in enumerate(devices, start=1):
            again = " - answering reactivates it" if candidate.status == "pending" else ""
            say(f"  {number}. {candidate.kind:<11} {candidate.label} ({candidate.serial}){again}")
        while chosen is None:
            picked = ask("Select second factor device: ").strip()
            if picked.isdigit() and 1 <= int(picked) <= len(devices):
                chosen = devices[int(picked) - 1]
    view = client.challenge(started.login_id, chosen.id, mode=mode)
    if view.challenge.form is ChallengeForm.PUSH:
        if view.qr is not None:
            say("Scan this QR code with IB Key (or give its text to 'tokensim phone scan'):")
            # On a terminal without block characters, the text below is the same code.
            with contextlib.suppress(UnicodeEncodeError):
                say(qr_text_block(view.qr))
            say(view.qr)
        else:
            say("Approve the notification on your IB Key phone ...")
        deadline = time.monotonic() + push_timeout
        while True:
            try:
                return client.answer(started.login_id, view.id)
            except ProblemError as e:
                if e.code != "push-pending" or time.monotonic() > deadline:
                    raise
                wait(e.retry_after or 1.0)
    answer = ask(_prompt(view) + ": ").strip()
    return client.answer(started.login_id, view.id, answer)


def _run(args: argparse.Namespace) -> int:
    password = (
        args.password if args.password is not None else getpass.getpass(f"Password for {args.username}: ")
    )
    with TokensimClient(args.server) as client:
        try:
            grant = interactive_login(client, args.username, password, device=args.device, mode=args.mode)
        except ProblemError as e:
            print(f"tokensim: login refused: {e.code}: {e.detail}")
            return 1
    print(f"Logged in as {grant.username} with {grant.device_kind}; scope: {' '.join(grant.scope)}")
    if args.show_token:
        print(f"session token: {grant.token}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``login`` to the ``tokensim`` parser."""
    parser = subparsers.add_parser(
        "login",
        help="log in to a running server by hand",
        description="Log in as a user: password, device choice, challenge and answer; prints the scope.",
    )
    parser.add_argument("username", help="who logs in, e.g. demo-scc (the demo accounts of serve --demo)")
    parser.add_argument("--server", default="http://127.0.0.1:8000", help="the server (default %(default)s)")
    parser.add_argument(
        "--device", help="device kind, id or serial (default: the only one, or asked when there are several)"
    )
    parser.add_argument(
        "--mode", help="push, qr, numeric, code, sms or voice (default: the server's choice for the device)"
    )
    parser.add_argument(
        "--password",
        help="the password, visible to other users of the machine (default: asked without echo)",
    )
    parser.add_argument("--show-token", action="store_true", help="print the session token")
    parser.set_defaults(handler=_run)
