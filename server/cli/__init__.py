"""The ``tokensim`` command.

Each subcommand lives in its own module with a ``register(subparsers)`` function that adds its
parser and sets ``handler``; :data:`SUBCOMMANDS` lists those modules in the order ``--help`` shows
them. A handler returns the exit status. The other modules here serve those: ``board_check`` (the
cases of ``board check``), ``demo_accounts`` and ``banner`` (the accounts ``serve --demo`` creates
and what ``serve`` prints at start).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

import httpx
from sqlalchemy.exc import DBAPIError

from tokensim.protocol.errors import TokensimError

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

#: Modules that each add one subcommand.
SUBCOMMANDS = (
    "tokensim.server.cli.code",
    "tokensim.server.cli.board",
    "tokensim.server.cli.serve",
    "tokensim.server.cli.demo",
    "tokensim.server.cli.login",
    "tokensim.server.cli.keypad",
    "tokensim.server.cli.phone",
    "tokensim.server.cli.devices",
)


def _version() -> str:
    try:
        return version("tokensim")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The whole argument parser, with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="tokensim",
        description="Hardware-token emulators, OATH calculators and a verification server "
        "for a Secure Login System.",
    )
    parser.add_argument("--version", action="version", version=f"tokensim {_version()}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        status: int = handler(args)
    except TokensimError as e:
        print(f"tokensim: error: {e}", file=sys.stderr)
        return 2
    except httpx.TransportError as e:
        print(f"tokensim: error: {_unreachable(e)}", file=sys.stderr)
        return 1
    except DBAPIError as e:
        # A database failure outside the start-up checks (which name the database): still one line.
        reason = str(e.orig if e.orig is not None else e).strip().splitlines()[0]
        print(f"tokensim: error: the database failed: {reason}", file=sys.stderr)
        return 1
    except OSError as e:
        # A file the command reads or writes (a full or read-only disk, a missing file): one line.
        where = f": {e.filename}" if e.filename is not None else ""
        print(f"tokensim: error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status


def _unreachable(error: httpx.TransportError) -> str:
    """One line for a server that cannot be reached: which one and why."""
    try:
        url = error.request.url
    except RuntimeError:  # raised without a request
        return f"cannot reach the server: {error}"
    target = f"{url.scheme}://{url.netloc.decode()}"
    reason = str(error) or type(error).__name__
    if isinstance(error, httpx.ConnectError):
        return f"cannot connect to {target}: {reason} (is the server running? see --server)"
    return f"no answer from {target}: {reason}"
