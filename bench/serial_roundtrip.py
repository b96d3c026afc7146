"""Challenge-to-response round trip over a pseudo-terminal at 115200 baud, against the wire time.

    python bench/serial_roundtrip.py [--rounds 500]

Starts two boards behind pseudo-terminals, the virtual board (`tokensim board emulate --pty`, the
Python DSC+ emulator) and the host build of the reference firmware (compiled with -O2 into a temporary
directory; skipped without gcc and make), provisions a random secret into each, and times RESPOND
through the bridge. It prints the median and 95th percentile beside the time the request and reply
bytes need on a real 115200-baud line (10 bits per byte: start, 8 data, stop). A pseudo-terminal has
no baud rate, so the measured time is the software's share; on a real board add the wire time and the
board's HMAC time.

This is a script that prints figures, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
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


@contextmanager
def board_process(argv: list[str]) -> Iterator[str]:
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    on_wire = wire_seconds()
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        boards = {
            "virtual board (Python)": [
                sys.executable,
                "-m",
                "tokensim.server.cli",
                "board",
                "emulate",
                "--pty",
                "--provisioning",
            ]
        }
        host = build_host(Path(temp))
        if host is not None:
            boards["host firmware (C, -O2)"] = [str(host), "--provisioning"]
        else:
            print("host firmware skipped: needs gcc and make", file=sys.stderr)
        for name, argv in boards.items():
            with board_process(argv) as url:
                times = measure(url, args.rounds)
            cuts = statistics.quantiles(times, n=20)
            rows.append((name, statistics.median(times), cuts[18]))
    print(f"RESPOND round trip over a pseudo-terminal, {args.rounds} rounds, {wire.BAUD_RATE} baud")
    print(f"wire time of request + reply at {wire.BAUD_RATE} baud (10 bits/byte): {on_wire * 1000:.2f} ms")
    print(f"{'board':<26}{'median':>10}{'p95':>10}{'median + wire':>16}")
    for name, median, p95 in rows:
        print(f"{name:<26}{median * 1000:>8.3f}ms{p95 * 1000:>8.3f}ms{(median + on_wire) * 1000:>14.3f}ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
