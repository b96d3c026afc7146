"""``tokensim phone``: be the IB Key phone from the command line, over a saved app file.

``tokensim serve --demo`` saves its IB Key app in ``data/demo/ib-key-app.json``; this command loads
that file (or another ``--app``), does one thing as the phone would, and saves the app back (its
PIN failures and the time of its last signed request change)::

    $ tokensim phone list                      # pending push requests of every user in the app
    $ tokensim phone approve --wait 60         # approve the oldest (waiting up to 60 s for one)
    $ tokensim phone deny REQUEST_ID
    $ tokensim phone scan 'tokensim-qr:eyJ...' # approve a QR login
    $ tokensim phone code --challenge 123456   # the time-based code and a challenge's response

Requests to the server are signed with the registration's key (no PIN); approving, denying,
scanning and codes need the user's PIN (asked without echo when ``--pin`` is absent; on the command
line it is visible to other users of the machine) or ``--biometric`` when the user enrolled it. The
PIN and codes are never logged; codes are printed, as the phone's screen would show them.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tokensim.emulators.devices.ib_key import IbKeyApp
from tokensim.protocol.clock import SystemClock
from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.messages import PushRequest, parse_qr_payload
from tokensim.server.client import ProblemError, TokensimClient

__all__ = ["DEFAULT_APP", "load_app", "register", "save_app"]

#: Where ``tokensim serve --demo`` saves its IB Key app (under the default data folder).
DEFAULT_APP = Path("data") / "demo" / "ib-key-app.json"
_DEFAULT_SERVER = "http://127.0.0.1:8000"
# Seconds between two listings while ``--wait`` waits for a push.
_POLL = 1.0


def load_app(path: Path) -> IbKeyApp:
    """The IB Key app saved in ``path``, on the system clock.

    Raises:
        InvalidParameter: the file is missing, not JSON, or not a saved IB Key app.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidParameter(
            f"{path}: no saved IB Key app (tokensim serve --demo writes one; or pass --app)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidParameter(f"{path}: not a saved IB Key app ({type(e).__name__})") from None
    return IbKeyApp.load(data, clock=SystemClock())


def save_app(app: IbKeyApp, path: Path) -> None:
    """Write the app back to ``path`` (owner-only, replaced in one rename so a crash loses nothing).

    Raises:
        InvalidParameter: the folder is not writable.
    """
    try:
        fd, temporary = tempfile.mkstemp(prefix=".ib-key-app.", dir=path.parent)
    except OSError as e:
        raise InvalidParameter(f"{path}: cannot save the app ({e.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(app.save(), indent=2))
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except OSError as e:
        Path(temporary).unlink(missing_ok=True)
        raise InvalidParameter(f"{path}: cannot save the app ({e.strerror})") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _users(app: IbKeyApp, chosen: str | None) -> list[str]:
    users = app.users()
    if chosen is not None:
        if chosen not in users:
            raise InvalidParameter(
                f"user {chosen!r} is not activated in this app (it has: {', '.join(users)})"
            )
        return [chosen]
    if not users:
        raise InvalidParameter("no user is activated in this app")
    return users


def _one_user(app: IbKeyApp, chosen: str | None) -> str:
    users = _users(app, chosen)
    if len(users) > 1:
        raise InvalidParameter(f"the app has several users ({', '.join(users)}): pass --user")
    return users[0]


def _fetch(client: TokensimClient, app: IbKeyApp, users: list[str]) -> list[PushRequest]:
    """List every chosen user's pending requests on the server and hand them to the app."""
    found: list[PushRequest] = []
    for user in users:
        key_id = app.key_id(user)
        for request in client.push_requests(key_id, app.listing_auth(key_id)):
            if request.id not in {r.id for r in app.pending()}:
                app.receive_push(request)
            found.append(request)
    return found


def _describe(request: PushRequest, now: float) -> str:
    details = "".join(f", {key}: {value}" for key, value in sorted(request.details.items()))
    left = max(0, round(request.expires_at - now))
    what = f"{request.action} for {request.username} from {request.origin}{details}"
    return f"{request.id}  {what} ({left} s left)"


def _unlock(args: argparse.Namespace, username: str) -> tuple[str | None, bool]:
    if args.biometric:
        return None, True
    pin: str | None = args.pin
    if pin is None:
        pin = getpass.getpass(f"IB Key PIN for {username}: ")
    return pin, False


def _list(args: argparse.Namespace, app: IbKeyApp, client: TokensimClient) -> int:
    requests = _fetch(client, app, _users(app, args.user))
    now = time.time()
    if not requests:
        print("no pending request")
    for request in requests:
        print(_describe(request, now))
    return 0


def _decide(args: argparse.Namespace, app: IbKeyApp, client: TokensimClient, approved: bool) -> int:
    users = _users(app, args.user)
    deadline = time.monotonic() + args.wait
    while True:
        requests = _fetch(client, app, users)
        if args.request_id is not None:
            requests = [r for r in requests if r.id == args.request_id]
        if requests or time.monotonic() >= deadline:
            break
        time.sleep(_POLL)
    if not requests:
        wanted = "no pending request" if args.request_id is None else f"no pending request {args.request_id}"
        print(f"tokensim: {wanted}")
        return 1
    request = requests[0]
    pin, biometric = _unlock(args, request.username)
    decide = app.approve if approved else app.deny
    decision = decide(request.id, pin=pin, biometric=biometric)
    status = client.decide(decision, app.decision_auth(decision.key_id))
    print(f"{status}: {request.action} for {request.username} from {request.origin} ({request.id})")
    return 0


def _scan(args: argparse.Namespace, app: IbKeyApp, client: TokensimClient) -> int:
    payload = args.payload
    if payload == "-":
        payload = input()
    request = parse_qr_payload(payload)
    pin, biometric = _unlock(args, request.username)
    decision = app.scan_qr(payload, pin=pin, biometric=biometric)
    status = client.decide(decision, app.decision_auth(decision.key_id))
    print(f"{status}: {request.action} for {request.username} from {request.origin} ({request.id})")
    return 0


def _code(args: argparse.Namespace, app: IbKeyApp, _client: TokensimClient | None) -> int:
    user = _one_user(app, args.user)
    pin, biometric = _unlock(args, user)
    print(f"time code for {user}: {app.time_code(user, pin=pin, biometric=biometric)}")
    if args.challenge is not None:
        response = app.respond(user, args.challenge, pin=pin, biometric=biometric)
        print(f"response to challenge {args.challenge}: {response}")
    return 0


def _run(args: argparse.Namespace) -> int:
    app = load_app(args.app)
    action: Callable[[argparse.Namespace, IbKeyApp, Any], int] = args.action
    try:
        if action is _code:
            return action(args, app, None)
        with TokensimClient(args.server) as client:
            try:
                return action(args, app, client)
            except ProblemError as e:
                print(f"tokensim: refused: {e.code}: {e.detail}")
                return 1
            except httpx.HTTPError as e:
                print(f"tokensim: cannot reach the server at {args.server}: {type(e).__name__}")
                return 1
    finally:
        save_app(app, args.app)


def register(subparsers: Any) -> None:
    """Add ``phone`` to the ``tokensim`` parser."""
    parser = subparsers.add_parser(
        "phone",
        help="be the IB Key phone: list, approve or deny pushes, scan a QR code, show codes",
        description="Act as the IB Key phone app saved in a file (tokensim serve --demo saves "
        f"{DEFAULT_APP}): list, approve or deny the pending push, scan a QR login, show the time-based "
        "code. The app file is saved back after each command.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--app",
        type=Path,
        default=DEFAULT_APP,
        help="the saved IB Key app (default: %(default)s)",
    )
    common.add_argument(
        "--server", default=_DEFAULT_SERVER, help="the verification server (default: %(default)s)"
    )
    common.add_argument(
        "--user", help="the app's user to act for (default: every user; for 'code', the only one)"
    )
    unlock = argparse.ArgumentParser(add_help=False)
    unlock.add_argument(
        "--pin",
        help="the user's IB Key PIN (default: asked without echo; on the command line others can see it)",
    )
    unlock.add_argument(
        "--biometric",
        action="store_true",
        help="unlock with the enrolled fingerprint instead of the PIN (default: off)",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list",
        parents=[common],
        help="list the pending push requests",
        description="List pending push requests.",
    )
    listing.set_defaults(handler=_run, action=_list)

    for name, approved in (("approve", True), ("deny", False)):
        verb = "Approve" if approved else "Deny"
        sub = actions.add_parser(
            name,
            parents=[common, unlock],
            help=f"{name} a pending push request",
            description=f"{verb} a pending push request (the oldest, or REQUEST_ID).",
        )
        sub.add_argument(
            "request_id", nargs="?", metavar="REQUEST_ID", help="the request (default: the oldest pending)"
        )
        sub.add_argument(
            "--wait",
            type=float,
            default=0.0,
            help="seconds to wait for a request to arrive, listing every second (default: %(default)s)",
        )
        sub.set_defaults(handler=_run, action=_decide_approve if approved else _decide_deny)

    scan = actions.add_parser(
        "scan",
        parents=[common, unlock],
        help="scan a QR login code and approve it",
        description="Approve the QR login whose code text is PAYLOAD (tokensim-qr:...).",
    )
    scan.add_argument(
        "payload", metavar="PAYLOAD", help="the QR code's text, tokensim-qr:... ('-': read a line)"
    )
    scan.set_defaults(handler=_run, action=_scan)

    code = actions.add_parser(
        "code",
        parents=[common, unlock],
        help="show the time-based code (and a challenge's response)",
        description="Show the user's time-based code, and with --challenge the challenge/response answer. "
        "Needs no server.",
    )
    code.add_argument(
        "--challenge", metavar="DIGITS", help="a login page's challenge to answer (default: none)"
    )
    code.set_defaults(handler=_run, action=_code)


def _decide_approve(args: argparse.Namespace, app: IbKeyApp, client: TokensimClient) -> int:
    return _decide(args, app, client, True)


def _decide_deny(args: argparse.Namespace, app: IbKeyApp, client: TokensimClient) -> int:
    return _decide(args, app, client, False)
