"""Challenge-to-response round trip over a pseudo-terminal at 115200 baud, against the wire time.

    python bench/serial_roundtrip.py [--rounds 500] [--uno-rounds 100]

Starts boards behind pseudo-terminals: the virtual board (`tokensim board emulate --pty`, the Python
DSC+ emulator), the host build of the reference firmware (compiled with -O2 into a temporary
directory; skipped without gcc and make), and the Uno sketch built with avr-gcc on a simulated
ATmega328P (`make -C firmware-notes avr simavr`; skipped without the AVR tools), once held to 16 MHz
(simulated time follows wall time, as on a board) and once at the host's full speed. It provisions a
random secret into each and times RESPOND through the bridge, printing the median and 95th
percentile beside the time the request and reply bytes need on a real 115200-baud line (10 bits per
byte: start, 8 data, stop). A pseudo-terminal has no baud rate, so the measured time is the software's
share; on a real board add the wire time.

For the Uno it also prints the cycles of one DSC+ response on the AVR, counted by the simulator from
the request's last byte reaching UART0 to the reply's first byte leaving it, and that simulated time
at 16 MHz: what a real Uno spends between the two.

This is a script that prints figures, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tokensim.emulators.bridge import connect
from tokensim.protocol import wire
from tokensim.protocol.framing import FrameType, encode_frame

ROOT = Path(__file__).resolve().parent.parent
BITS_PER_BYTE = 10


AVR_HZ = 16_000_000


@contextmanager
def board_process(argv: list[str], stderr: Path | None = None) -> Iterator[str]:
    err = stderr.open("w") if stderr is not None else subprocess.DEVNULL
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        if stderr is not None:
            err.close()  # type: ignore[union-attr]
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def wire_seconds() -> float:
    request = encode_frame(wire.encode_message(wire.Respond("123456", "1234"), 1))
    reply = encode_frame(wire.encode_message(wire.Result(FrameType.RESPOND, "12345678"), 1))
    return (len(request) + len(reply)) * BITS_PER_BYTE / wire.BAUD_RATE


def measure(url: str, rounds: int) -> list[float]:
    with connect(url, baudrate=wire.BAUD_RATE) as bridge:
        bridge.provision(secrets.token_bytes(20))
        for _ in range(20):  # warm-up
            bridge.respond(f"{secrets.randbelow(10**6):06d}", "1234")
        times = []
        for _ in range(rounds):
            challenge = f"{secrets.randbelow(10**6):06d}"
            start = time.perf_counter()
            bridge.respond(challenge, "1234")
            times.append(time.perf_counter() - start)
        return times


def build_host(out: Path) -> Path | None:
    if shutil.which("gcc") is None or shutil.which("make") is None:
        return None
    subprocess.run(
        [
            "make",
            "-C",
            str(ROOT / "firmware-notes" / "host"),
            f"OUT={out}",
            "CC=gcc",
            "CFLAGS=-std=c99 -O2 -Wall -Wextra -Werror",
            f"{out}/tsim_host",
        ],
        check=True,
        capture_output=True,
    )
    return out / "tsim_host"


def build_uno(out: Path) -> tuple[Path, Path] | None:
    if any(shutil.which(tool) is None for tool in ("avr-gcc", "make", "cc")):
        return None
    result = subprocess.run(
        ["make", "-C", str(ROOT / "firmware-notes"), f"OUT={out}", "avr", "simavr"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        print(f"simulated Uno skipped: the AVR build failed\n{result.stderr}", file=sys.stderr)
        return None
    return out / "simavr" / "tsim_simavr", out / "avr" / "dscplus_uno.elf"


def reply_cycles(trace: Path, last: int) -> list[int]:
    """The cycles of the last ``last`` replies the simavr harness traced (the timed RESPONDs)."""
    cycles = [int(m.group(1)) for m in re.finditer(r"reply after (\d+) cycles", trace.read_text())]
    return cycles[-last:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500, help="timed rounds per board (default: 500)")
    parser.add_argument(
        "--uno-rounds", type=int, default=100, help="timed rounds on the simulated Uno (default: 100)"
    )
    args = parser.parse_args()
    on_wire = wire_seconds()
    rows = []
    uno_cycles: list[int] = []
    with tempfile.TemporaryDirectory() as temp:
        boards: dict[str, tuple[list[str], int]] = {
            "virtual board (Python)": (
                [sys.executable, "-m", "tokensim.server.cli", "board", "emulate", "--pty", "--provisioning"],
                args.rounds,
            )
        }
        host = build_host(Path(temp))
        if host is not None:
            boards["host firmware (C, -O2)"] = ([str(host), "--provisioning"], args.rounds)
        else:
            print("host firmware skipped: needs gcc and make", file=sys.stderr)
        uno = build_uno(Path(temp) / "uno")
        if uno is not None:
            simavr, elf = uno
            held = [str(simavr), str(elf), "--provisioning", "--trace-cycles"]
            boards["simulated Uno, 16 MHz"] = (held, args.uno_rounds)
            boards["simulated Uno, full"] = ([*held, "--full-speed"], args.uno_rounds)
        else:
            print("simulated Uno skipped: needs avr-gcc, the Arduino AVR core and simavr", file=sys.stderr)
        for name, (argv, rounds) in boards.items():
            trace = Path(temp) / "trace.txt"
            with board_process(argv, stderr=trace) as url:
                times = measure(url, rounds)
            if name.startswith("simulated Uno"):
                uno_cycles += reply_cycles(trace, rounds)
            cuts = statistics.quantiles(times, n=20)
            rows.append((name, statistics.median(times), cuts[18]))
    print(f"RESPOND round trip over a pseudo-terminal, {args.rounds} rounds, {wire.BAUD_RATE} baud")
    print(f"wire time of request + reply at {wire.BAUD_RATE} baud (10 bits/byte): {on_wire * 1000:.2f} ms")
    print(f"{'board':<26}{'median':>10}{'p95':>10}{'median + wire':>16}")
    for name, median, p95 in rows:
        print(f"{name:<26}{median * 1000:>8.3f}ms{p95 * 1000:>8.3f}ms{(median + on_wire) * 1000:>14.3f}ms")
    if uno_cycles:
        cycles = statistics.median(uno_cycles)
        print(
            f"DSC+ response on the ATmega328P (simulated): median {cycles:,.0f} cycles "
            f"(min {min(uno_cycles):,}, max {max(uno_cycles):,}, {len(uno_cycles)} responses) "
            f"= {cycles / AVR_HZ * 1000:.2f} ms at 16 MHz; with the wire time "
            f"{(cycles / AVR_HZ + on_wire) * 1000:.2f} ms on a real Uno"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
