"""``tokensim serve`` (the verification server) and ``tokensim demo`` (a login with every device).

``serve`` prepares everything in the starting process (migrations, master key, support token, demo
accounts) and only then starts uvicorn, so ``--workers N`` processes find a ready database::

    $ tokensim serve --demo                     # SQLite in ./data, demo accounts, port 8000
    $ tokensim serve --db postgresql+psycopg://tokensim@db/tokensim --workers 4
    $ tokensim serve --ephemeral --port 8123    # a throw-away test server for suites in any language

``--ephemeral`` keeps everything (SQLite file, master key, support token) in a new temporary folder,
deleted when the server stops, and offers ``POST /v1/support/reset`` to empty it between tests. A
temporary file rather than ``:memory:`` because several worker processes share it and the master key
and support token files live beside it; passwords are hashed with a cheap argon2 cost, as in tests.

``demo`` runs an in-process server on a throw-away database, enrolls one user with every device kind,
logs in with each emulated device and prints what happened, including a temporary passcode through
its stages (full access, card printing, expired) and the login that reactivates the misplaced DSC+
after them, and refusals (wrong answer, replay, expired challenge, locked device).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tokensim.protocol.clock import Clock, FixedClock, SystemClock
from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.messages import ChallengeForm
from tokensim.protocol.provisioning import DeviceKind
from tokensim.server.client import ProblemError, TokensimClient
from tokensim.server.config import MASTER_KEY_ENV, SUPPORT_TOKEN_ENV, Argon2Params, ServerConfig
from tokensim.server.core import load_support_token
from tokensim.server.http.app import create_app
from tokensim.server.storage.db import prepare_data_dir
from tokensim.server.storage.models import Device, User
from tokensim.server.testing.harness import ALL_KINDS, Enrolled, Harness
from tokensim.server.verify import FULL_SCOPE
from tokensim.server.views import ChallengeView

__all__ = [
    "APP_FACTORY",
    "CONFIG_ENV",
    "DEMO_EQUITY_USD",
    "DEMO_PASSWORD",
    "EPHEMERAL_ENV",
    "DemoAccount",
    "app_from_environment",
    "command_name",
    "register",
    "run_demo",
    "seed_demo_accounts",
]

#: Environment variable through which ``serve`` hands its configuration to worker processes.
CONFIG_ENV = "TOKENSIM_SERVE_CONFIG"
#: Environment variable through which ``serve --ephemeral`` tells worker processes to allow resets.
EPHEMERAL_ENV = "TOKENSIM_SERVE_EPHEMERAL"
#: What each server process imports to build its app.
APP_FACTORY = "tokensim.server.cli.serve:app_from_environment"
#: The password of every demo account.
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a published demo password, by design
#: The demo accounts' balance: above the DSC+ threshold (docs/rules.md).
DEMO_EQUITY_USD = 1_000_000
_DEMO_PIN = "1234"
_KIND_NAMES = {
    "scc": "Security Code Card",
    "online-scc": "Online Security Code Card",
    "dsc": "Digital Security Card",
    "dsc-plus": "DSC+",
    "gold": "Gold",
    "platinum": "Platinum",
    "ib-key": "IB Key",
    "phone": "SMS / voice",
}


def _config_to_env(config: ServerConfig) -> str:
    data: dict[str, Any] = {
        "data_dir": str(config.data_dir.resolve()),
        "database_url": config.database,
        "master_key_file": str(config.key_path.resolve()),
        "support_token_file": str(config.token_path.resolve()),
        "argon2": {
            "time_cost": config.argon2.time_cost,
            "memory_kib": config.argon2.memory_kib,
            "parallelism": config.argon2.parallelism,
        },
    }
    for name, value in config.to_mapping().items():
        data.setdefault(name, value)
    return json.dumps(data)


def app_from_environment() -> Any:
    """The app a uvicorn worker serves, configured by ``serve`` through :data:`CONFIG_ENV`.

    Raises:
        InvalidParameter: the variable is missing or not a configuration.
    """
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise InvalidParameter(f"{CONFIG_ENV} is not set; start the server with 'tokensim serve'")
    config = ServerConfig.from_mapping(json.loads(text))
    # The starting process migrated already; workers only check the master key.
    app = create_app(config, migrate=False, ephemeral=os.environ.get(EPHEMERAL_ENV) == "1")
    # Everything loaded so far (modules, the app, the engine) lives as long as the process: moved out
    # of the collector's sight, a full collection under load takes a few milliseconds instead of the
    # ~90 ms that stalled every request in flight once per couple of thousand requests.
    gc.freeze()
    return app


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """A demo user and how to answer with its device.

    Attributes:
        username: the login name (the password is :data:`DEMO_PASSWORD`).
        kind: the device kind.
        how: how to produce the answer (commands spelled ``tokensim ...``).
    """

    username: str
    kind: str
    how: str


def _demo_username(kind: str) -> str:
    return "demo-sms" if kind == DeviceKind.PHONE.value else f"demo-{kind}"


def _how(kind: str, enrolled: Enrolled, folder: Path) -> str:
    provisioning = enrolled.provisioning
    if kind in ("scc", "online-scc"):
        return f"type the two cells' values from {folder / (enrolled.username + '.card.txt')}"
    if kind == "phone":
        assert enrolled.enrollment.device.number is not None
        number = enrolled.enrollment.device.number.replace("+", "%2B")
        return f"read the code: GET /v1/outbox?to={number} (support token)"
    assert provisioning is not None
    if kind == "ib-key":
        assert provisioning.totp_secret is not None
        ocra_key, totp_key = provisioning.secret.hex(), provisioning.totp_secret.hex()
        return (
            f"mode numeric: tokensim code ocra --suite {provisioning.suite} --key {ocra_key} "
            f"--question CHALLENGE; mode code: tokensim code totp --key {totp_key}; "
            f"push/qr: the app saved in {folder / 'ib-key-app.json'}"
        )
    key = provisioning.secret.hex()
    if kind == "dsc":
        return f"tokensim code totp --key {key}"
    # The Gold's counter is shown when the banner prints it: the one the server expects next.
    counter = " --counter N" if kind == "gold" else ""
    suite = provisioning.suite
    return f"tokensim code ocra --suite {suite} --key {key} --pin {_DEMO_PIN}{counter} --question CHALLENGE"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def seed_demo_accounts(
    client: TokensimClient, folder: Path, *, clock: Clock | None = None
) -> list[DemoAccount]:
    """Create one demo user per device kind, each with an active device; keep what exists.

    The emulators' states (the cards, the IB Key app) are saved in ``folder`` so a person can use
    them; a second run reuses the accounts and the saved notes.

    Args:
        client: a client with the support token.
        folder: where the devices and notes are saved.
        clock: the emulators' clock, the server's own (the system clock when ``None``).
    """
    harness = Harness(client, clock=SystemClock() if clock is None else clock)
    # The folder holds device secrets: private, also when an earlier version left it 0755.
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    accounts: list[DemoAccount] = []
    notes_path = folder / "accounts.json"
    notes: dict[str, str] = json.loads(notes_path.read_text()) if notes_path.exists() else {}
    for position, kind in enumerate(ALL_KINDS, start=1):
        username = _demo_username(kind)
        try:
            client.user(username)
        except ProblemError as e:
            if e.code != "not-found":
                raise
        else:
            accounts.append(DemoAccount(username, kind, notes.get(username, "(created by an earlier run)")))
            continue
        phone = f"+1555010{position:04d}"
        # Each demo account holds exactly its one device (no signup SMS), whatever the server's default,
        # and is funded, so its online card runs its 21 days from now and a DSC+ may be requested.
        client.create_user(
            username, DEMO_PASSWORD, phones=[phone], start_with_sms=False, equity=DEMO_EQUITY_USD
        )
        enrolled = harness.enroll(username, kind, pin=_DEMO_PIN)
        card = enrolled.enrollment.card
        if card is not None:
            _write_private(folder / f"{username}.card.txt", card.text())
        if kind == "ib-key":
            _write_private(folder / "ib-key-app.json", json.dumps(harness.app().save(), indent=2))
        elif kind != "phone":
            _write_private(folder / f"{username}.device.json", json.dumps(enrolled.device.save(), indent=2))
        notes[username] = _how(kind, enrolled, folder)
        accounts.append(DemoAccount(username, kind, notes[username]))
    _write_private(notes_path, json.dumps(notes, indent=2))
    return accounts


def command_name() -> str:
    """How to type ``tokensim`` in this shell, from the program that is running now.

    ``tokensim`` when the command on the PATH is this one (an activated venv, pipx); else the path
    of the venv's script, relative when it lies under the current folder (``.venv/bin/tokensim``
    after ``make run``), so what the banner prints runs as typed.
    """
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is None or script.name not in ("tokensim", "tokensim.exe"):
        script = Path(sys.executable).parent / "tokensim"
    if not script.exists():
        return f"{sys.executable} -m tokensim.server.cli"
    found = shutil.which("tokensim")
    if found is not None and os.path.samefile(found, script):
        return "tokensim"
    absolute = script.resolve() if not script.is_absolute() else script
    try:
        relative = absolute.relative_to(Path.cwd().resolve())
    except ValueError:
        return shlex.quote(str(absolute))
    return shlex.quote(str(relative) if relative.parent != Path() else f"./{relative}")


_COUNTER = re.compile(r"--counter N( \(0, then \+1 each time\))?")


def _banner_how(account: DemoAccount, tokensim: str, counters: Mapping[str, int]) -> str:
    how = account.how.replace("tokensim code ", f"{tokensim} code ")
    # Notes follow a command as shell comments, so the whole line runs as printed.
    if account.username in counters:
        how = _COUNTER.sub(f"--counter {counters[account.username]}", how) + "  # then +1 at each login"
    if account.kind == "dsc":
        # The activation answered with the code of the step it ran in: that code is used up.
        how += "  # each code works once; just after the first start, wait for the next 30 s step"
    return how


def _gold_counters(service: Any, accounts: list[DemoAccount]) -> dict[str, int]:
    """The counter each demo Gold device's next answer must use, as the server expects it."""
    names = [a.username for a in accounts if a.kind == "gold"]
    if not names:
        return {}
    with service.core.db.read() as session:
        rows = session.execute(
            select(User.username, Device.counter)
            .join(Device, Device.user_id == User.id)
            .where(User.username.in_(names), Device.kind == "gold", Device.status == "active")
        )
        return {username: counter or 0 for username, counter in rows}


def _print_banner(
    config: ServerConfig,
    host: str,
    port: int,
    accounts: list[DemoAccount],
    counters: Mapping[str, int] | None = None,
) -> None:
    url = f"http://{host}:{port}"
    tokensim = command_name()
    print(f"tokensim server: {url}  (API docs: {url}/docs)")
    print(f"  database:      {config.database}")
    key_source = f"${MASTER_KEY_ENV}" if os.environ.get(MASTER_KEY_ENV) else str(config.key_path)
    print(f"  master key:    {key_source}")
    token_source = f"${SUPPORT_TOKEN_ENV}" if os.environ.get(SUPPORT_TOKEN_ENV) else str(config.token_path)
    print(f"  support token: {token_source}  (Authorization: Bearer ... on /v1/support and /v1/outbox)")
    if not accounts:
        sys.stdout.flush()
        return
    print()
    print(f"Demo accounts, password {DEMO_PASSWORD!r}, device PINs {_DEMO_PIN}:")
    width = max(len(a.username) for a in accounts)
    for account in accounts:
        kind = _KIND_NAMES.get(account.kind, account.kind)
        print(f"  {account.username:<{width}}  {kind:<26} {_banner_how(account, tokensim, counters or {})}")
    print()
    print("Log in with any of them, by hand or from code:")
    print(f"  {tokensim} login {accounts[0].username} --server {url}")
    print(
        f"  curl -s {url}/v1/login -H 'content-type: application/json' "
        f'-d \'{{"username": "{accounts[0].username}", "password": "{DEMO_PASSWORD}"}}\''
    )
    print("  then POST /v1/login/{login_id}/challenge {device_id} and POST /v1/login/{login_id}/answer")
    print("  {challenge_id, answer}; the session's scope says what it may do.")
    sys.stdout.flush()


def _build_config(args: argparse.Namespace) -> ServerConfig:
    config = ServerConfig() if args.config is None else ServerConfig.from_toml(args.config)
    changes: dict[str, Any] = {}
    if args.data_dir is not None:
        changes["data_dir"] = args.data_dir
    if args.db is not None:
        changes["database_url"] = args.db
    return config.replace(**changes) if changes else config


def _run_serve(args: argparse.Namespace) -> int:
    from tokensim.server.http.workers import check_free

    if args.workers < 1:
        raise InvalidParameter("--workers must be at least 1")
    # Checked before anything is created or printed: the port first (then the data folder).
    if args.port != 0:
        check_free(args.host, args.port)
    if not args.ephemeral:
        return _serve(args, _build_config(args))
    if args.data_dir is not None or args.db is not None:
        raise InvalidParameter(
            "--ephemeral keeps its state in a temporary folder: leave out --data-dir and --db"
        )
    folder = Path(tempfile.mkdtemp(prefix="tokensim-ephemeral-"))
    # uvicorn shuts down on SIGTERM, then raises the signal again; with the default handler that
    # would end the process before the folder is removed, so SIGTERM ends it through SystemExit.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        config = _build_config(args).replace(
            data_dir=folder, argon2=Argon2Params(time_cost=1, memory_kib=8, parallelism=1)
        )
        return _serve(args, config)
    except SystemExit as stopped:
        return stopped.code if isinstance(stopped.code, int) else 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(folder, ignore_errors=True)


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _uses_data_dir(config: ServerConfig, *, demo: bool) -> bool:
    """Whether anything is kept in the data folder (PostgreSQL with both secrets in variables: no)."""
    return (
        demo
        or config.database_url is None
        or (config.master_key_file is None and not os.environ.get(MASTER_KEY_ENV))
        or (config.support_token_file is None and not os.environ.get(SUPPORT_TOKEN_ENV))
    )


def _serve(args: argparse.Namespace, config: ServerConfig) -> int:
    from tokensim.server.http.limits import LimitedConfig
    from tokensim.server.http.workers import own_sockets_possible, run_server, serve_workers

    if _uses_data_dir(config, demo=args.demo):
        prepare_data_dir(config.data_dir)
    # Prepare in this process: migrations, the master key and the support token exist before any
    # worker starts, and a wrong master key stops here with a clear message.
    app = create_app(config, ephemeral=args.ephemeral)
    accounts: list[DemoAccount] = []
    counters: dict[str, int] = {}
    service = app.state.service
    try:
        # A database that reads but cannot be written (a full or read-only disk) stops here.
        service.core.db.probe_write()
        if args.demo:
            token = load_support_token(config.token_path)
            with TokensimClient.in_process(app, support_token=token) as client:
                accounts = seed_demo_accounts(client, config.data_dir / "demo")
            counters = _gold_counters(service, accounts)
    finally:
        service.close()
    _print_banner(config, args.host, args.port, accounts, counters)
    if args.ephemeral:
        print(f"  ephemeral:     {config.data_dir} is deleted at exit; POST /v1/support/reset empties it")
        sys.stdout.flush()
    os.environ[CONFIG_ENV] = _config_to_env(config)
    os.environ[EPHEMERAL_ENV] = "1" if args.ephemeral else "0"
    uvicorn_config = LimitedConfig(
        APP_FACTORY,
        factory=True,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        server_header=False,
        # Clients reach the server directly: X-Forwarded-For would let any local client pick the
        # address the password throttle counts (uvicorn trusts it from 127.0.0.1 by default).
        proxy_headers=False,
        workers=args.workers,
        limit_concurrency=config.max_connections,
        timeout_keep_alive=config.keep_alive_timeout,
        max_header_bytes=config.max_header_bytes,
        header_timeout=config.header_timeout,
        body_timeout=config.body_timeout,
    )
    if args.workers > 1 and own_sockets_possible(args.port):
        # Each worker listens on a socket of its own, so new connections spread over them.
        serve_workers(uvicorn_config, args.workers)
    else:
        return run_server(uvicorn_config)
    return 0


# -- demo --------------------------------------------------------------------------------------


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
    devices = harness.enroll_all(username, pin=_DEMO_PIN)
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
    dsc_plus = harness.enroll(username, DeviceKind.DSC_PLUS.value, pin=_DEMO_PIN)
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
    """Add ``serve`` and ``demo`` to the ``tokensim`` parser."""
    serve = subparsers.add_parser(
        "serve",
        help="run the verification server",
        description="Run the verification server (FastAPI on uvicorn). SQLite in the data folder by default.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--db",
        help="database URL, e.g. postgresql+psycopg://user@host/db (default: SQLite in the data folder)",
    )
    serve.add_argument(
        "--data-dir",
        type=Path,
        help="folder for SQLite, the master key, the support token and the demo devices, made private "
        "(0700) (default: ./data, or data_dir in --config)",
    )
    serve.add_argument("--workers", type=int, default=1, help="server processes (default %(default)s)")
    serve.add_argument("--demo", action="store_true", help="create demo accounts, one per device kind")
    serve.add_argument(
        "--ephemeral",
        action="store_true",
        help="a throw-away test server: state in a temporary folder deleted at exit, "
        "POST /v1/support/reset to empty it",
    )
    serve.add_argument(
        "--config",
        type=Path,
        help="a TOML file of configuration values: time limits, throttling, request limits, argon2 "
        "cost (keys as in tokensim.server.config.ServerConfig; default: none, the built-in values)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="what the server logs: critical, error, warning, info (one line per request) or debug "
        "(default %(default)s)",
    )
    serve.set_defaults(handler=_run_serve)

    demo = subparsers.add_parser(
        "demo",
        help="log in with every device kind against an in-process server",
        description="Enroll a user with every device kind on a throw-away in-process server, log in with "
        "each emulated device, and print device, challenge, answer, result and scope.",
    )
    demo.set_defaults(handler=_run_demo)
