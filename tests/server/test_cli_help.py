"""``--help`` of serve, demo, login, devices and code: each argument and option described with its default.

The parsers are walked as argparse built them (``tokensim.server.cli.build_parser``), so an option
added later without help text fails here. board, keypad and phone have their own checks.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from tokensim.server.cli import build_parser

CHECKED = ("serve", "demo", "login", "devices", "code")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """Every checked command and its subcommands, as ``tokensim serve``, ``tokensim devices list``..."""
    found = []
    pending = [(f"tokensim {name}", _subparsers(build_parser())[name]) for name in CHECKED]
    while pending:
        name, parser = pending.pop(0)
        found.append((name, parser))
        pending.extend((f"{name} {sub}", child) for sub, child in _subparsers(parser).items())
    return found


def _undescribed(parser: argparse.ArgumentParser) -> list[str]:
    missing = []
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        if not action.help or action.help == argparse.SUPPRESS:
            missing.append(f"{name}: no help text")
            continue
        shown = formatter._expand_help(action)
        # An option or optional argument that takes a value says what it is when left out.
        takes_value = action.nargs != 0 and (action.option_strings or action.nargs in ("?", "*"))
        if takes_value and not action.required and "default" not in shown:
            missing.append(f"{name}: no default shown (default {action.default!r})")
        if action.choices is not None and not all(str(choice) in shown for choice in action.choices):
            missing.append(f"{name}: not every choice is named")
    return missing


def test_every_checked_command_is_walked() -> None:
    names = [name for name, _parser in _parsers()]
    assert "tokensim devices list" in names
    assert "tokensim code ocra" in names
    assert len(names) == 5 + 4 + 3


@pytest.mark.parametrize(("name", "parser"), _parsers(), ids=lambda p: p if isinstance(p, str) else "")
def test_every_argument_and_option_says_what_it_is_and_its_default(
    name: str, parser: argparse.ArgumentParser
) -> None:
    assert parser.description or parser.format_usage(), name
    assert _undescribed(parser) == [], name


def test_help_runs_as_a_user_types_it() -> None:
    for command in (["serve"], ["login"], ["devices", "list"], ["code", "ocra"]):
        shown = subprocess.run(
            [sys.executable, "-m", "tokensim.server.cli", *command, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert "default" in shown, command
