"""Fixtures for the reference firmware: the host build, compiled once into a temporary directory, and
board processes behind pseudo-terminals, each stopped by a finalizer.

Without a C compiler or make the tests that need them skip with the reason printed (``-ra``).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOST = ROOT / "firmware-notes" / "host"
HEADER = ROOT / "firmware-notes" / "tsim" / "src" / "tsim.h"
#: Longest wait for a process to print its first line; a safety net, not a timed assertion.
START_TIMEOUT = 20.0
#: What a copy of firmware-notes/ leaves behind: build outputs and node modules are not sources.
_NOT_SOURCES = shutil.ignore_patterns("build", "node_modules", "__pycache__")


@dataclass(frozen=True)
class Build:
    """The host build: the board (tsim_host) and the known-answer calculator (tsim_unit)."""

    host: Path
    unit: Path


@pytest.fixture(scope="session")
def firmware_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler (gcc or cc) on PATH: the reference firmware cannot be built here")
    if shutil.which("make") is None:
        pytest.skip("no make on PATH: the reference firmware's host build needs it")
    # The documented command, from a clean copy of the tree: make creates the OUT folder itself.
    tree = tmp_path_factory.mktemp("tsim-tree")
    shutil.copytree(ROOT / "firmware-notes", tree / "firmware-notes", ignore=_NOT_SOURCES)
    result = subprocess.run(
        ["make", "-C", "firmware-notes/host", "OUT=build/host", f"CC={compiler}"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"host build failed:\n{result.stdout}\n{result.stderr}"
    out = tree / "firmware-notes" / "host" / "build" / "host"
    return Build(host=out / "tsim_host", unit=out / "tsim_unit")


def read_first_line(process: subprocess.Popen[str], timeout: float = START_TIMEOUT) -> str:
    """The first line a process prints, or a failure naming what it said on stderr."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline().strip() if ready else ""
    if not line:
        process.kill()
        _, err = process.communicate(timeout=5)
        pytest.fail(f"board process printed no path: {err}")
    return line


def stop(process: subprocess.Popen[str]) -> None:
    """Stop a process and reap it; kill it if SIGTERM is not enough."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


Spawn = Callable[..., str]


def _spawner() -> Iterator[Spawn]:
    processes: list[subprocess.Popen[str]] = []

    def start(*argv: str | os.PathLike[str]) -> str:
        process = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        return read_first_line(process)

    yield start
    for process in processes:
        stop(process)


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start a board process from an argument list and return the URL it prints; stopped afterwards."""
    yield from _spawner()


@pytest.fixture(scope="module")
def module_spawn() -> Iterator[Spawn]:
    """:func:`spawn` for boards shared by a test module."""
    yield from _spawner()


NOTES = ROOT / "firmware-notes"
SIMAVR_HEADER = Path("/usr/include/simavr/sim_avr.h")
ARDUINO_CORE = Path("/usr/share/arduino/hardware/arduino/avr/cores/arduino/Arduino.h")


@dataclass(frozen=True)
class AvrBuild:
    """The Uno sketch built for the ATmega328P, and the simavr harness that runs it."""

    out: Path
    elf: Path
    simavr: Path
    report: str  # what `make avr` printed: flash and RAM use


def _missing_avr_tools() -> str | None:
    for tool in ("avr-gcc", "avr-size", "make", "cc"):
        if shutil.which(tool) is None:
            return f"no {tool} on PATH (Debian: gcc-avr avr-libc binutils-avr; .ci/run installs them)"
    if not ARDUINO_CORE.exists():
        return f"no Arduino AVR core at {ARDUINO_CORE.parent} (Debian: arduino-core-avr)"
    if not SIMAVR_HEADER.exists():
        return f"no simavr headers at {SIMAVR_HEADER.parent} (Debian: libsimavr-dev)"
    return None


def _make_notes(
    factory: pytest.TempPathFactory, what: str, missing: str | None, *targets: str
) -> tuple[Path, str]:
    """`make -C firmware-notes TARGETS` into a new temporary directory: the directory and the output.
    Skips, naming ``what`` and the missing tool, when ``missing`` says what is not there."""
    if missing is not None:
        pytest.skip(f"{what} needs its tools: {missing}")
    out = factory.mktemp("tsim-" + "-".join(targets))
    result = subprocess.run(
        ["make", "-C", str(NOTES), f"OUT={out}", *targets],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"make {' '.join(targets)} failed:\n{result.stdout}\n{result.stderr}"
    return out, result.stdout


@pytest.fixture(scope="session")
def avr_build(tmp_path_factory: pytest.TempPathFactory) -> AvrBuild:
    """`make avr simavr` once per session, into a temporary directory."""
    out, report = _make_notes(tmp_path_factory, "the simulated Uno", _missing_avr_tools(), "avr", "simavr")
    return AvrBuild(
        out=out,
        elf=out / "avr" / "dscplus_uno.elf",
        simavr=out / "simavr" / "tsim_simavr",
        report=report,
    )


@dataclass(frozen=True)
class BoardKind:
    """How to start one kind of board: the host build or the simulated Uno.

    ``argv(state, provisioning)`` is the command line of a board keeping its stored image (EEPROM)
    in ``state`` (nothing kept when ``None``) and booting with the provisioning jumper held or not.
    """

    name: str
    board_id: str
    argv: Callable[[Path | None, bool], list[str]]
    image_size: int  # bytes of the state file


def host_kind(build: Build) -> BoardKind:
    def argv(state: Path | None, provisioning: bool) -> list[str]:
        return [
            str(build.host),
            "--board-id",
            "host-test",
            *(["--state", str(state)] if state is not None else []),
            *(["--provisioning"] if provisioning else []),
        ]

    return BoardKind("host", "host-test", argv, 60)


def uno_kind(build: AvrBuild) -> BoardKind:
    def argv(state: Path | None, provisioning: bool) -> list[str]:
        return [
            str(build.simavr),
            str(build.elf),
            *(["--eeprom", str(state)] if state is not None else []),
            *(["--provisioning"] if provisioning else []),
        ]

    return BoardKind("uno", "uno-1", argv, 1024)


PICOLIBC_SPECS = Path("/usr/lib/picolibc/arm-none-eabi/picolibc.specs")
RP2040JS = NOTES / "node_modules" / "rp2040js" / "package.json"


@dataclass(frozen=True)
class Rp2040Build:
    """The bare-metal RP2040 board, and the rp2040js runner that serves it on TCP."""

    elf: Path
    runner: Path
    node: str


def _missing_rp2040_tools() -> str | None:
    for tool in ("arm-none-eabi-gcc", "make"):
        if shutil.which(tool) is None:
            return f"no {tool} on PATH (Debian: gcc-arm-none-eabi picolibc-arm-none-eabi; .ci/run has them)"
    if not PICOLIBC_SPECS.exists():
        return f"no {PICOLIBC_SPECS} (Debian: picolibc-arm-none-eabi)"
    if shutil.which("node") is None:
        return "no node on PATH (Debian: nodejs)"
    if not RP2040JS.exists():
        return "rp2040js is not installed: run `npm ci` in firmware-notes/ (.ci/run does)"
    return None


@pytest.fixture(scope="session")
def rp2040_build(tmp_path_factory: pytest.TempPathFactory) -> Rp2040Build:
    """`make rp2040` once per session, into a temporary directory."""
    out, _ = _make_notes(tmp_path_factory, "the simulated RP2040", _missing_rp2040_tools(), "rp2040")
    node = shutil.which("node")
    assert node is not None
    return Rp2040Build(elf=out / "rp2040" / "tsim_rp2040.elf", runner=NOTES / "rp2040" / "run.mjs", node=node)


def rp2040_kind(build: Rp2040Build) -> BoardKind:
    def argv(state: Path | None, provisioning: bool) -> list[str]:
        return [
            build.node,
            str(build.runner),
            str(build.elf),
            *(["--state", str(state)] if state is not None else []),
            *(["--provisioning"] if provisioning else []),
        ]

    return BoardKind("rp2040", "rp2040-1", argv, 60)


@pytest.fixture(scope="session", params=["host", "uno", "rp2040"])
def board_kind(request: pytest.FixtureRequest) -> BoardKind:
    """Each kind of board in turn: the conformance tests run against all of them."""
    if request.param == "host":
        return host_kind(request.getfixturevalue("firmware_build"))
    if request.param == "uno":
        return uno_kind(request.getfixturevalue("avr_build"))
    return rp2040_kind(request.getfixturevalue("rp2040_build"))
