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


@pytest.fixture
def spawn(request: pytest.FixtureRequest) -> Iterator[Spawn]:
    """Start a board process from an argument list and return the URL it prints; stopped afterwards."""
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
