"""`tokensim board ... --help` names every argument and option, with its default."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from tokensim.protocol.provisioning import DEFAULT_SUITES
from tokensim.server import cli

COMMANDS = ["emulate", "check", "enroll", "list-ports"]


def _help(command: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tokensim.server.cli", "board", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"COLUMNS": "200", "PATH": ""},
    )
    return " ".join(result.stdout.split())  # argparse wraps lines: compare with single spaces


def _subparser(command: str) -> argparse.ArgumentParser:
    parser = cli.build_parser()
    board = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["board"]
    commands = next(a for a in board._actions if isinstance(a, argparse._SubParsersAction))
    chosen: argparse.ArgumentParser = commands.choices[command]
    return chosen


@pytest.mark.parametrize("command", COMMANDS)
def test_each_option_is_described_with_its_default(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The text --help prints (the CLI itself is run once, in the test below).
    monkeypatch.setenv("COLUMNS", "200")
    text = " ".join(_subparser(command).format_help().split())
    for action in _subparser(command)._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{command}: {action.dest} has no help"
        names = action.option_strings or [action.dest]
        for name in names:
            assert name in text, f"{command} --help does not name {name}"
        if action.option_strings:
            # Every option says what happens without it: its default, or that it is required.
            assert re.search(r"default|required", action.help), f"{command} {names[0]}: {action.help}"
        if action.default not in (None, False, argparse.SUPPRESS):
            assert str(action.default) in action.help, f"{command} {names[0]} hides its default"


def test_the_timeouts_and_the_kinds_are_named() -> None:
    emulate = _help("emulate")
    assert "--boot-delay SECONDS" in emulate
    assert "(default: 0.05)" in emulate
    for kind in DEFAULT_SUITES:
        assert kind.value in emulate
    check = " ".join(_subparser("check").format_help().split())
    assert re.search(r"--ready-timeout SECONDS seconds to wait .*\(default: 3\.0\)", check)
