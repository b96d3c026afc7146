"""What only the AVR build shows: RAM use against the measured stack, and constants kept in flash.

The conformance of the simulated Uno (vectors, faults, persistence) is in test_boards.py.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from tokensim.server import cli

NOTES = Path(__file__).resolve().parents[2] / "firmware-notes"
NOTES_TEXT = b"hold the provisioning jumper at boot"


def _section(elf: Any, name: str) -> bytes:
    out = elf.with_suffix(f"{name}.bin")
    subprocess.run(["avr-objcopy", "-O", "binary", "-j", name, str(elf), str(out)], check=True, timeout=60)
    return out.read_bytes()


def test_the_build_reports_flash_and_ram(avr_build: Any) -> None:
    flash = re.search(r"flash: (\d+) of 32256 bytes", avr_build.report)
    ram = re.search(r"RAM: static (\d+) of 2048 bytes", avr_build.report)
    assert flash, avr_build.report
    assert ram, avr_build.report
    assert 4000 < int(flash.group(1)) < 32256
    assert 0 < int(ram.group(1)) < 2048


def test_constant_strings_stay_in_flash(avr_build: Any) -> None:
    # The AVR copies .data to RAM at boot: the core's messages and suite texts must not be there.
    data = _section(avr_build.elf, ".data")
    text = _section(avr_build.elf, ".text")
    assert NOTES_TEXT in text
    assert NOTES_TEXT not in data
    assert b"OCRA-1:HOTP-" not in data
    assert len(data) < 100, f".data holds {len(data)} bytes"


def test_the_ram_check_uses_the_stack_measured_under_a_board_check(avr_build: Any, capsys: Any) -> None:
    stack_file = avr_build.out / "avr" / "stack.txt"
    process = subprocess.Popen(
        [str(avr_build.simavr), str(avr_build.elf), "--provisioning", "--stack-file", str(stack_file)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert cli.main(["board", "check", url]) == 0, capsys.readouterr().out
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert "lowest stack pointer 0x" in err
    stack = int(stack_file.read_text().strip())
    # The check reaches the SHA-256 suites: hash state, HMAC and OCRA frames are deep in the stack.
    assert 400 < stack < 2048, stack

    measured = _ram_check(avr_build)
    assert measured.returncode == 0, measured.stderr
    assert f"worst stack {stack} (measured by simavr)" in measured.stdout
    left = int(re.search(r"; (-?\d+) left", measured.stdout).group(1))  # type: ignore[union-attr]
    assert left >= 256
    # The same build with a stack that would leave under 256 bytes fails.
    too_deep = _ram_check(avr_build, f"STACK={stack + left - 255}")
    assert too_deep.returncode != 0
    assert "under 256 bytes of RAM left" in too_deep.stderr


def _ram_check(avr_build: Any, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "-C", str(NOTES), f"OUT={avr_build.out}", "avr-ram", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
