"""Every example in the guides under docs/ runs, as a reader would copy and paste it.

A fenced block is preceded by a marker that says how it is run:

``<!-- test: pytest -->``       a test module, run by pytest (pytester) with the tokensim plugin
``<!-- test: ini -->``          the ini file of the guide's following ``pytest`` blocks
``<!-- test: python -->``       a script, run with this Python
``<!-- test: console -->``      ``$ `` commands run by bash in a fresh folder; the lines after a command are
                                its expected output (``...`` matches anything); a command ending in ``&``
                                runs in the background until the guide's examples end
``<!-- test: interactive -->``  commands that wait for a person (the keypad): their arguments are parsed

Each guide runs in its own temporary folder, its blocks in order, with ``tokensim`` on the PATH.
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# Loaded before pytester's in-process runs, which forget modules a run imports for the first time
# (importing them again would make second copies of their classes).
import tokensim.emulators.devices.dsc_plus
import tokensim.server.api
import tokensim.server.harness
import tokensim.server.pytest_plugin  # noqa: F401
from tokensim.server.cli import build_parser
from tokensim.server.config import MASTER_KEY_ENV, SUPPORT_TOKEN_ENV

ROOT = Path(__file__).resolve().parent.parent
GUIDES = ("developer.md", "qa.md", "hobbyist.md")
_BLOCK = re.compile(
    r"(?:<!-- test: (?P<kind>[a-z]+) -->\n)?```(?P<lang>[a-z]*)\n(?P<body>.*?)^```", re.S | re.M
)
_CHECKER = doctest.OutputChecker()


@dataclass(frozen=True)
class Block:
    """One fenced block of a guide."""

    kind: str | None
    lang: str
    body: str
    line: int


def _blocks(guide: str) -> list[Block]:
    text = (ROOT / "docs" / guide).read_text(encoding="utf-8")
    return [
        Block(m.group("kind"), m.group("lang"), m.group("body"), text.count("\n", 0, m.start()) + 1)
        for m in _BLOCK.finditer(text)
    ]


def _commands(body: str) -> list[tuple[str, str]]:
    """The ``$ `` commands of a console block, each with the output written after it."""
    found: list[tuple[str, str]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            found.append((line[2:], ""))
        elif found:
            command, expected = found[-1]
            found[-1] = (command, expected + line + "\n")
    return found


@pytest.mark.parametrize("guide", GUIDES)
def test_every_python_and_console_example_is_marked(guide: str) -> None:
    unmarked = [b.line for b in _blocks(guide) if b.lang in ("python", "console", "ini") and b.kind is None]
    assert unmarked == [], f"{guide}: blocks at lines {unmarked} have no <!-- test: ... --> marker"


def test_the_readme_links_every_guide() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for guide in GUIDES:
        assert f"(docs/{guide})" in readme


class _Console:
    """Runs console blocks in one folder; keeps background commands until :meth:`close`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.environ = {k: v for k, v in os.environ.items() if k not in (MASTER_KEY_ENV, SUPPORT_TOKEN_ENV)}
        self.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.environ.get('PATH', '')}"
        self.background: list[subprocess.Popen[bytes]] = []

    def run(self, block: Block, guide: str) -> None:
        for command, expected in _commands(block.body):
            where = f"{guide}:{block.line}: $ {command}"
            if command.endswith("&"):
                self.background.append(
                    subprocess.Popen(
                        ["bash", "-c", command[:-1]],
                        cwd=self.folder,
                        env=self.environ,
                        start_new_session=True,
                    )
                )
                continue
            result = subprocess.run(
                ["bash", "-c", command],
                cwd=self.folder,
                env=self.environ,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, (
                f"{where}\nexit {result.returncode}\n{result.stdout}{result.stderr}"
            )
            if expected:
                got = result.stdout if result.stdout.endswith("\n") else result.stdout + "\n"  # curl
                ok = _CHECKER.check_output(expected, got, doctest.ELLIPSIS)
                assert ok, f"{where}\nexpected:\n{expected}got:\n{result.stdout}"

    def close(self) -> None:
        for process in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.background:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guide_examples_run(guide: str, pytester: pytest.Pytester) -> None:
    blocks = [b for b in _blocks(guide) if b.kind is not None]
    assert blocks, f"{guide} has no example to run"
    console = _Console(pytester.path)
    try:
        for number, block in enumerate(blocks):
            where = f"{guide}:{block.line}"
            if block.kind == "ini":
                pytester.makeini(block.body)
            elif block.kind == "pytest":
                module = pytester.makepyfile(**{f"test_{Path(guide).stem}_{number}": block.body})
                result = pytester.runpytest(str(module), "-p", "no:cacheprovider", "--strict-markers")
                outcomes = result.parseoutcomes()
                assert result.ret == 0, f"{where}\n{result.stdout.str()}"
                assert outcomes.get("passed", 0) >= 1, where
            elif block.kind == "python":
                script = pytester.path / f"example_{number}.py"
                script.write_text(block.body, encoding="utf-8")
                done = subprocess.run(
                    [sys.executable, str(script)],
                    cwd=pytester.path,
                    env=console.environ,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                assert done.returncode == 0, f"{where}\n{done.stdout}{done.stderr}"
            elif block.kind == "console":
                console.run(block, guide)
            elif block.kind == "interactive":
                for command, _expected in _commands(block.body):
                    words = shlex.split(command)
                    assert words[0] == "tokensim", f"{where}: {command}"
                    build_parser().parse_args(words[1:])  # exits (fails the test) on an unknown option
            else:
                pytest.fail(f"{where}: unknown marker {block.kind!r}")
    finally:
        console.close()


def _guides_with(kind: str) -> list[str]:
    return [guide for guide in GUIDES if any(b.kind == kind for b in _blocks(guide))]


@pytest.mark.parametrize("guide", _guides_with("pytest"))
def test_the_guide_pytest_examples_pass_in_strict_mode(guide: str, pytester: pytest.Pytester) -> None:
    # The guide recommends tokensim_strict: each of its examples, refusals included, passes under it.
    pytester.makeini("[pytest]\ntokensim_strict = true\n")
    for number, block in enumerate(_blocks(guide)):
        if block.kind != "pytest":
            continue
        module = pytester.makepyfile(**{f"test_strict_{Path(guide).stem}_{number}": block.body})
        result = pytester.runpytest(str(module), "-p", "no:cacheprovider", "--strict-markers")
        outcomes = result.parseoutcomes()
        where = f"{guide}:{block.line} under tokensim_strict = true"
        assert result.ret == 0, f"{where}\n{result.stdout.str()}"
        assert outcomes.get("passed", 0) >= 1, where
        assert not outcomes.get("errors"), where


def test_the_readme_code_examples_print_what_it_shows() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Check a code by hand") :]
    section = section[: section.index("\n## ", 1)]
    bodies = [m.group("body") for m in _BLOCK.finditer(section) if m.group("lang") == "sh"]
    commands = _commands("".join(bodies).replace("\\\n", " "))
    assert len(commands) >= 6
    environ = {k: v for k, v in os.environ.items() if k not in (MASTER_KEY_ENV, SUPPORT_TOKEN_ENV)}
    environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environ.get('PATH', '')}"
    for command, expected in commands:
        done = subprocess.run(
            ["bash", "-c", command], env=environ, capture_output=True, text=True, timeout=60, check=False
        )
        assert (done.returncode, done.stdout) == (0, expected), f"README: $ {command}\n{done.stderr}"
