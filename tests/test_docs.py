"""Every example in the guides under docs/ runs, as a reader would copy and paste it.

A fenced block is preceded by a marker that says how it is run:

``<!-- test: pytest -->``       a test module, run by pytest (pytester) with the tokensim plugin
``<!-- test: ini -->``          the ini file of the guide's following ``pytest`` blocks
``<!-- test: python -->``       a script, run with this Python
``<!-- test: console -->``      ``$ `` commands run by bash in a fresh folder; the lines after a command are
                                its expected output (``...`` matches anything); a command ending in ``&``
                                runs in the background until the guide's examples end
``<!-- test: interactive -->``  commands that wait for a person (the keypad): their arguments are parsed
``<!-- test: typed -->``        commands not run here (placeholders to fill in, minutes of load): each line is
                                checked for what a reader types, as the README's are

Each guide runs in its own temporary folder, its blocks in order, as in a clone after ``make run``:
the folder has a ``.venv`` (a link to this venv) and no venv is on the PATH, so a command that says
plain ``tokensim`` fails as it would for a reader who did not activate the venv.
"""

from __future__ import annotations

import doctest
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

# Loaded before pytester's in-process runs, which forget modules a run imports for the first time
# (importing them again would make second copies of their classes).
import tokensim.emulators.devices.dsc_plus
import tokensim.server.http.app
import tokensim.server.pytest_plugin
import tokensim.server.testing.harness  # noqa: F401
from tokensim.emulators import load
from tokensim.emulators.printed_card import PrintedCard
from tokensim.server.cli import build_parser
from tokensim.server.config import MASTER_KEY_ENV, SUPPORT_TOKEN_ENV

ROOT = Path(__file__).resolve().parent.parent
#: The pages under docs/ with examples; the README links each one.
GUIDES = ("developer.md", "qa.md", "hobbyist.md", "performance.md")
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


def _as_clone(folder: Path) -> dict[str, str]:
    """Make ``folder`` look like a clone after ``make run`` (a ``.venv``, a link to this venv); its shell's
    environment, with no venv on the PATH."""
    (folder / ".venv").symlink_to(Path(sys.executable).parent.parent, target_is_directory=True)
    return _without_venv_on_path()


class _Console:
    """Runs console blocks in one folder made to look like a clone (:func:`_as_clone`); keeps background
    commands until :meth:`close`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.environ = _as_clone(folder)
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
            elif block.kind in ("interactive", "typed"):
                for command, _expected in _commands(block.body):
                    _check_command_line(command, where)
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


def test_the_readme_code_examples_print_what_it_shows(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Check a code by hand") :]
    section = section[: section.index("\n## ", 1)]
    bodies = [m.group("body") for m in _BLOCK.finditer(section) if m.group("lang") == "sh"]
    commands = _commands("".join(bodies).replace("\\\n", " "))
    assert len(commands) >= 6
    environ = _as_clone(tmp_path)
    for command, expected in commands:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (done.returncode, done.stdout) == (0, expected), f"README: $ {command}\n{done.stderr}"


def _readme_commands() -> list[tuple[int, str]]:
    """Every command line of the README's ``sh`` blocks, with its line number: after ``$ `` in a block
    that shows output, else every line; a line ending in ``\\`` goes on on the next."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found: list[tuple[int, str]] = []
    for match in _BLOCK.finditer(readme):
        if match.group("lang") != "sh":
            continue
        first = readme.count("\n", 0, match.start("body")) + 1
        lines = match.group("body").splitlines()
        prompted = any(line.startswith("$ ") for line in lines)
        pending: tuple[int, str] | None = None
        for number, line in enumerate(lines, first):
            if pending is not None:
                number, line = pending[0], f"{pending[1]} {line.strip()}"
                pending = None
            elif prompted:
                if not line.startswith("$ "):
                    continue  # output
                line = line[2:]
            if line.endswith("\\"):
                pending = (number, line[:-1])
            elif line.strip():
                found.append((number, line))
    return found


def test_the_readme_quick_start_is_two_make_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Quick start") :]
    section = section[: section.index("\n## ", 1)]
    lines = [m.group("body") for m in _BLOCK.finditer(section) if m.group("lang") == "sh"]
    commands = [shlex.split(line, comments=True) for line in "".join(lines).splitlines()]
    assert [c for c in commands if c] == [["make", "run"], ["make", "test"]]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:", makefile, re.M)
    assert re.search(r"^test:", makefile, re.M)


def test_every_readme_command_runs_from_the_clone_as_typed() -> None:
    # The blocks not run above need a board, a person at the keypad or minutes of load: each is
    # checked for what a reader types (the venv's programs by their path, tokensim's options).
    commands = _readme_commands()
    assert len(commands) >= 20, commands
    for number, command in commands:
        _check_command_line(command, f"README.md:{number}")


#: Programs the venv of ``make run`` provides: typed in the clone, they need their ``.venv/bin`` path.
_VENV_PROGRAMS = ("tokensim", "python", "python3", "pip", "pip3", "pytest", "ruff", "mypy")


def _words(command: str) -> list[list[str]]:
    """The simple commands of a shell command line, each as its words, ``VAR=value`` prefixes left out."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""  # bash starts a comment only at a word's start, shlex anywhere in one
    segments: list[list[str]] = [[]]
    for token in lexer:
        if token.startswith("#"):
            break
        if token in ("|", "||", "&&", "&", ";"):
            segments.append([])
        elif segments[-1] or not re.fullmatch(r"[A-Za-z_]\w*=.*", token):
            segments[-1].append(token)
    return [words for words in segments if words]


def _check_command_line(command: str, where: str) -> None:
    """A command line a reader types in the clone after ``make run``, with no venv activated: the venv's
    programs called by their ``.venv/bin`` path, ``tokensim``'s arguments accepted by its parser, a
    Python script that exists."""
    for words in _words(command):
        program, name = words[0], Path(words[0]).name
        if name in _VENV_PROGRAMS:
            assert program == f".venv/bin/{name}", (
                f"{where}: {command}\n  {program!r} needs an activated venv: write .venv/bin/{name}"
            )
        if name == "tokensim":
            try:
                build_parser().parse_args(words[1:])
            except SystemExit as refused:
                pytest.fail(f"{where}: {command}\n  tokensim refuses these arguments (exit {refused.code})")
        elif name.startswith("python") and len(words) > 1 and not words[1].startswith("-"):
            assert (ROOT / words[1]).is_file(), f"{where}: {command}\n  no script {words[1]}"


# -- the banner of ``tokensim serve --demo`` ----------------------------------------------------

_FAST = "[argon2]\ntime_cost = 1\nmemory_kib = 8\nparallelism = 1\n"
#: A command of the banner's device column: up to the next ``;``, note or end of line.
_CODE_COMMAND = re.compile(r"(\S*tokensim code [^;#\n]*?)\s*(?:;|  #|$)", re.M)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _without_venv_on_path() -> dict[str, str]:
    """The environment of a new shell in the clone: the venv not activated, no key variables."""
    venv_bin = str(Path(sys.executable).parent)
    environ = {
        k: v for k, v in os.environ.items() if k not in (MASTER_KEY_ENV, SUPPORT_TOKEN_ENV, "VIRTUAL_ENV")
    }
    environ["PATH"] = os.pathsep.join(p for p in environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return environ


def _shell(command: str, cwd: Path, environ: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"$ {command}\nexit {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def banner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path, dict[str, str]]]:
    """``tokensim serve --demo`` started in the clone as ``make run`` does: (banner, url, data, env)."""
    folder = tmp_path_factory.mktemp("banner")
    config = folder / "fast.toml"
    config.write_text(_FAST)
    port = _free_port()
    environ = _without_venv_on_path()
    script = Path(sys.executable).parent / "tokensim"
    out = folder / "serve.out"
    command = [str(script), "serve", "--demo", "--port", str(port), "--data-dir", str(folder / "data")]
    with out.open("wb") as handle:
        process = subprocess.Popen(
            [*command, "--config", str(config), "--log-level", "warning"],
            cwd=ROOT,
            env=environ,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, out.read_text()
            # urllib, not httpx: the guides' in-process pytest runs may leave a second copy of httpx
            # whose exceptions are not this module's httpx classes.
            try:
                with urllib.request.urlopen(f"{url}/v1/health", timeout=2) as health:  # noqa: S310
                    if health.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        yield out.read_text(), url, folder / "data", environ
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _account_lines(text: str) -> dict[str, str]:
    """username -> the banner's line for that demo account."""
    lines = {}
    for line in text.splitlines():
        words = line.split()
        if line.startswith("  demo-") and len(words) > 2:
            lines[words[0]] = line
    return lines


def _challenge(url: str, username: str, *, mode: str | None = None) -> tuple[str, str, dict[str, object]]:
    """Log in with the demo password; the login id, the challenge id and the challenge."""
    with httpx.Client(base_url=url, timeout=30) as http:
        started = http.post("/v1/login", json={"username": username, "password": "demo-password"}).json()
        device = started["devices"][0]["id"]
        body: dict[str, object] = {"device_id": device}
        if mode is not None:
            body["mode"] = mode
        view = http.post(f"/v1/login/{started['login_id']}/challenge", json=body)
        assert view.status_code in (200, 201), view.text
        return started["login_id"], view.json()["id"], view.json()


def _answer(url: str, login_id: str, challenge_id: str, answer: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=30) as http:
        return http.post(
            f"/v1/login/{login_id}/answer", json={"challenge_id": challenge_id, "answer": answer}
        )


def test_the_banner_commands_need_no_activated_venv(banner: tuple[str, str, Path, dict[str, str]]) -> None:
    text, url, _data, environ = banner
    commands = _CODE_COMMAND.findall(text)
    assert len(commands) == 6, text  # DSC, DSC+, Gold, Platinum, IB Key numeric and code
    tokensim = commands[0].split(" code ")[0]
    assert shutil.which(tokensim, path=environ["PATH"]) is None or "/" in tokensim
    assert f"  {tokensim} login demo-scc --server {url}" in text
    assert "--counter 1 " in _account_lines(text)["demo-gold"]  # activation used 0


@pytest.mark.parametrize(
    ("username", "mode", "which"),
    [
        ("demo-dsc-plus", None, 0),
        ("demo-gold", None, 0),
        ("demo-platinum", None, 0),
        ("demo-ib-key", "numeric", 0),
        ("demo-ib-key", "code", 1),
        ("demo-dsc", None, 0),
    ],
)
def test_each_code_command_of_the_banner_answers_its_device(
    banner: tuple[str, str, Path, dict[str, str]], username: str, mode: str | None, which: int
) -> None:
    text, url, _data, environ = banner
    command = _CODE_COMMAND.findall(_account_lines(text)[username])[which]
    login_id, challenge_id, view = _challenge(url, username, mode=mode)
    question = view.get("question")
    if "CHALLENGE" in command:
        assert question, view
        command = command.replace("CHALLENGE", str(question))
    code = _shell(command, ROOT, environ).strip()
    answered = _answer(url, login_id, challenge_id, code)
    if username == "demo-dsc" and answered.status_code != 201:
        # What the banner warns of: right after start-up, the activation used this time step's code.
        assert answered.json()["code"] == "replayed-answer", answered.text
        assert "wait for the next 30 s step" in _account_lines(text)[username]
        return
    assert answered.status_code == 201, (command, answered.text)


def test_the_banner_login_and_curl_lines_run_as_printed(
    banner: tuple[str, str, Path, dict[str, str]],
) -> None:
    text, _url, data, environ = banner
    login = next(line.strip() for line in text.splitlines() if " login demo-scc " in line)
    process = subprocess.Popen(
        ["bash", "-c", login],
        cwd=ROOT,
        env=environ,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # no terminal: the password is read from standard input
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        process.stdin.write(b"demo-password\n")
        process.stdin.flush()
        prompt = b""
        while not prompt.endswith(b": "):  # "Type the values of cells 12 and 34, ...: "
            byte = process.stdout.read(1)
            assert byte, prompt
            prompt += byte
        cells = [int(n) for n in re.findall(rb"cells (\d+) and (\d+)", prompt)[0]]
        card = load(json.loads((data / "demo" / "demo-scc.device.json").read_text()))
        assert isinstance(card, PrintedCard)
        out, err = process.communicate(card.answer(cells).encode() + b"\n", timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, (prompt, out, err)
    assert b"Logged in as demo-scc with scc" in out
    curl = next(line.strip() for line in text.splitlines() if line.strip().startswith("curl "))
    started = json.loads(_shell(curl, ROOT, environ))
    assert started["login_id"]
    assert started["devices"][0]["kind"] == "scc"


def _named_paths(text: str) -> set[str]:
    """The file and folder names a page writes in backticks: ``x.py``, ``routes/``, ``a/b.py``."""
    return {m for m in re.findall(r"`([\w./<>-]+(?:\.py|/))`", text) if "<" not in m}


def test_the_architecture_page_names_modules_as_they_are() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    homes = [ROOT, ROOT / "emulators" / "keypad", ROOT / "server"]
    homes += [p for p in (ROOT / "server").iterdir() if p.is_dir()]
    named = _named_paths(page)
    assert {"login.py", "http/", "verify.py", "routes/"} <= named
    missing = sorted(name for name in named if not any((home / name).exists() for home in homes))
    assert missing == []


def test_the_architecture_page_lists_every_service_of_the_service() -> None:
    from tokensim.server.service import Service

    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"`(\w+)`", page.split("composes one\n  object per subject:")[1].split(".")[0]))
    assert listed == set(Service.__slots__) - {"core"}
