"""``tokensim serve``: the verification server, prepared in the starting process, then run on uvicorn.

``serve`` prepares everything in the starting process (migrations, master key, support token, demo
accounts) and only then starts uvicorn, so ``--workers N`` processes find a ready database::

    $ tokensim serve --demo                     # SQLite in ./data, demo accounts, port 8000
    $ tokensim serve --db postgresql+psycopg://tokensim@db/tokensim --workers 4
    $ tokensim serve --ephemeral --port 8123    # a throw-away test server for suites in any language

``--ephemeral`` keeps everything (SQLite file, master key, support token) in a new temporary folder,
deleted when the server stops, and offers ``POST /v1/support/reset`` to empty it between tests. A
temporary file rather than ``:memory:`` because several worker processes share it and the master key
and support token files live beside it; passwords are hashed with a cheap argon2 cost, as in tests.

The demo accounts are in :mod:`tokensim.server.cli.demo_accounts`, the banner printed at start in
:mod:`tokensim.server.cli.banner`; each worker builds its app with :func:`app_from_environment`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokensim.protocol.errors import InvalidParameter
from tokensim.server.cli.banner import print_banner
from tokensim.server.cli.demo_accounts import DemoAccount, gold_counters, seed_demo_accounts
from tokensim.server.client import TokensimClient
from tokensim.server.config import MASTER_KEY_ENV, SUPPORT_TOKEN_ENV, Argon2Params, ServerConfig
from tokensim.server.core import load_support_token
from tokensim.server.http.app import create_app
from tokensim.server.storage.db import prepare_data_dir

if TYPE_CHECKING:
    from tokensim.server.http.limits import LimitedConfig

__all__ = ["APP_FACTORY", "CONFIG_ENV", "EPHEMERAL_ENV", "app_from_environment", "register"]

#: Environment variable through which ``serve`` hands its configuration to worker processes.
CONFIG_ENV = "TOKENSIM_SERVE_CONFIG"
#: Environment variable through which ``serve --ephemeral`` tells worker processes to allow resets.
EPHEMERAL_ENV = "TOKENSIM_SERVE_EPHEMERAL"
#: What each server process imports to build its app.
APP_FACTORY = "tokensim.server.cli.serve:app_from_environment"


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
    from tokensim.server.http.workers import own_sockets_possible, run_server, serve_workers

    accounts, counters = _prepare(config, demo=args.demo, ephemeral=args.ephemeral)
    print_banner(config, args.host, args.port, accounts, counters)
    if args.ephemeral:
        print(f"  ephemeral:     {config.data_dir} is deleted at exit; POST /v1/support/reset empties it")
        sys.stdout.flush()
    os.environ[CONFIG_ENV] = _config_to_env(config)
    os.environ[EPHEMERAL_ENV] = "1" if args.ephemeral else "0"
    uvicorn_config = _uvicorn_config(args, config)
    if args.workers > 1 and own_sockets_possible(args.port):
        # Each worker listens on a socket of its own, so new connections spread over them.
        serve_workers(uvicorn_config, args.workers)
    else:
        return run_server(uvicorn_config)
    return 0


def _prepare(
    config: ServerConfig, *, demo: bool, ephemeral: bool
) -> tuple[list[DemoAccount], dict[str, int]]:
    """Make the data folder and database ready; the demo accounts and their Gold counters, if ``demo``.

    Done in this process: migrations, the master key and the support token exist before any worker
    starts, and a wrong master key stops here with a clear message.
    """
    if _uses_data_dir(config, demo=demo):
        prepare_data_dir(config.data_dir)
    app = create_app(config, ephemeral=ephemeral)
    accounts: list[DemoAccount] = []
    counters: dict[str, int] = {}
    service = app.state.service
    try:
        # A database that reads but cannot be written (a full or read-only disk) stops here.
        service.core.db.probe_write()
        if demo:
            token = load_support_token(config.token_path)
            with TokensimClient.in_process(app, support_token=token) as client:
                accounts = seed_demo_accounts(client, config.data_dir / "demo")
            counters = gold_counters(service, accounts)
    finally:
        service.close()
    return accounts, counters


def _uvicorn_config(args: argparse.Namespace, config: ServerConfig) -> LimitedConfig:
    """uvicorn's settings for this server: the app factory, the address and the request limits."""
    from tokensim.server.http.limits import LimitedConfig

    return LimitedConfig(
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


def register(subparsers: Any) -> None:
    """Add ``serve`` to the ``tokensim`` parser."""
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
