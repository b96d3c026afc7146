"""Bulk enrollment of 1 thousand, 100 thousand and 1 million DSC+ devices, and verification latency at each.

    python bench/scale.py [--sizes 1000,100000,1000000] [--count 2000] [--concurrency 8]
                          [--seconds 20] [--plot bench-scale.svg] [--json bench-scale.json]
                          [--postgres-url URL]  (default: SQLite)

Enrollment grows the database in place to each size: users and active DSC+ devices are written in
batches of 20,000 rows per transaction with SQLAlchemy Core ``executemany``, each device's secrets
sealed with AES-GCM under the master key exactly as :meth:`DeviceEnrollment.enroll` seals them (one AESGCM
object, a fresh OS nonce per row, the row id in the associated data). Every user gets the same
argon2id password hash, computed once: hashing a million passwords would measure argon2, not
enrollment. Device secrets are derived from a seed and the device's index, so the load generator can
answer any device without keeping a million keys. After each size, logins to devices drawn at
random from the whole population are prepared in-process (untimed) and the answers are timed over
HTTP against ``tokensim serve`` on 127.0.0.1, as in http_load.py. The plot shows p50/p95/p99 against
enrolled devices.

This is a script that prints figures, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _load import (
    BENCH_CONFIG,
    Figures,
    Step,
    Verification,
    postgres_schema,
    print_table,
    run_load,
    tokensim_server,
    write_json,
)
from sqlalchemy import func, insert, select

from tokensim.protocol.ocra import ocra
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind
from tokensim.server.config import ServerConfig
from tokensim.server.service import Service
from tokensim.server.storage.models import Device, User
from tokensim.server.verify import DeviceSecrets

PASSWORD = "bench password 1234"  # noqa: S105 - the seeded users' password
PIN = "4826"
SUITE = DEFAULT_SUITES[DeviceKind.DSC_PLUS]
BATCH = 20_000


def device_secret(seed: bytes, index: int) -> bytes:
    return hashlib.sha256(seed + index.to_bytes(8, "big")).digest()[:20]


def progress(label: str, done: int, total: int, started: float) -> None:
    width = 40
    filled = width * done // max(total, 1)
    rate = done / max(time.monotonic() - started, 1e-9)
    eta = (total - done) / rate if rate else 0.0
    bar = f"[{'#' * filled}{'.' * (width - filled)}]"
    print(f"\r  {label} {bar} {done:>9,}/{total:,}  {rate:>8,.0f}/s  eta {eta:4.0f} s", end="", flush=True)
    if done >= total:
        print()


def bulk_enroll(service: Service, seed: bytes, start: int, stop: int) -> float:
    """Enroll users ``bulk-{start}`` .. ``bulk-{stop - 1}``, one active DSC+ each; return the seconds."""
    core = service.core
    keys = core.keys
    password_hash = core.hasher.hash(PASSWORD)
    began = time.monotonic()
    total = stop - start
    for low in range(start, stop, BATCH):
        high = min(low + BATCH, stop)
        now = core.clock.now()
        users: list[dict[str, Any]] = []
        devices: list[dict[str, Any]] = []
        for index in range(low, high):
            user_id, device_id = os.urandom(16).hex(), os.urandom(16).hex()
            users.append(
                {
                    "id": user_id,
                    "username": f"bulk-{index}",
                    "password_hash": password_hash,
                    "jurisdiction": "US",
                    "primary_user": True,
                    "equity": 0,
                    "status": "open",
                    "created_at": now,
                }
            )
            sealed = keys.seal(
                DeviceSecrets(secret=device_secret(seed, index), pin=PIN).to_bytes(),
                "devices",
                device_id,
                "secrets",
            )
            devices.append(
                {
                    "id": device_id,
                    "user_id": user_id,
                    "kind": DeviceKind.DSC_PLUS.value,
                    "serial": f"DSP{index:010d}",
                    "label": "dsc-plus",
                    "status": "active",
                    "secrets": sealed,
                    "suite": SUITE,
                    "digits": 6,
                    "step": 30,
                    "algorithm": "SHA1",
                    "firmware": "current",
                    "issued_at": now,
                    "created_at": now,
                    "activated_at": now,
                }
            )
        with core.db.write() as session:
            session.execute(insert(User), users)
            session.execute(insert(Device), devices)
            core.audit.record(
                session,
                now,
                "device.enrolled",
                actor="support",
                outcome="ok",
                detail={
                    "kind": DeviceKind.DSC_PLUS.value,
                    "bulk": high - low,
                    "first_serial": f"DSP{low:010d}",
                },
            )
        progress(f"enroll {start:>9,}..{stop:<9,}", high - start, total, began)
    return time.monotonic() - began


def prepare(
    service: Service, seed: bytes, enrolled: int, concurrency: int, count: int
) -> list[list[Verification]]:
    """Logins to devices drawn at random from all ``enrolled`` ones (distinct per client), untimed."""
    picker = random.Random(enrolled)
    per_client = max(1, count // concurrency)
    chosen = picker.sample(range(enrolled), min(enrolled, per_client * concurrency))
    work: list[list[Verification]] = [[] for _ in range(concurrency)]
    with service.core.db.read() as session:
        ids = dict(
            session.execute(
                select(User.username, Device.id)
                .join(Device, Device.user_id == User.id)
                .where(User.username.in_([f"bulk-{i}" for i in chosen]))
            ).all()
        )
    began = time.monotonic()
    for position, index in enumerate(chosen):
        username = f"bulk-{index}"
        started = service.logins.start(username, PASSWORD)
        view = service.logins.challenge(started.login_id, ids[username])
        assert view.challenge.question is not None
        answer = ocra(SUITE, device_secret(seed, index), view.challenge.question, pin=PIN)
        body = {"challenge_id": view.id, "answer": answer}
        work[position % concurrency].append(
            Verification([Step("POST", f"/v1/login/{started.login_id}/answer", body)])
        )
        if (position + 1) % 100 == 0 or position + 1 == len(chosen):
            progress("prepare logins          ", position + 1, len(chosen), began)
    return work


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["devices"] for r in rows]
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        axes.plot(sizes, [r[key] for r in rows], marker="o", label=label)
    axes.set_xscale("log")
    axes.set_xlabel("enrolled devices (DSC+)")
    axes.set_ylabel("verification latency (ms)")
    first = rows[0]
    axes.set_title(f"tokensim: POST answer latency, {first['database']}, concurrency {first['concurrency']}")
    axes.set_ylim(bottom=0)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--count", type=int, default=2000, help="verifications timed at each size, at most")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="time limit of each timed run")
    parser.add_argument("--postgres-url", help="run on PostgreSQL (a fresh schema) instead of SQLite")
    parser.add_argument("--plot", type=Path, default=Path("bench-scale.svg"))
    parser.add_argument("--json", type=Path, default=Path("bench-scale.json"))
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    seed = os.urandom(16)
    rows: list[dict[str, Any]] = []
    database = "postgresql" if args.postgres_url else "sqlite"
    with tempfile.TemporaryDirectory(prefix="tokensim-scale-") as temp:
        folder = Path(temp)
        (folder / "bench.toml").write_text(BENCH_CONFIG)
        config = ServerConfig.from_toml(folder / "bench.toml").replace(data_dir=folder / "data")

        def run(url: str | None) -> None:
            active = config if url is None else config.replace(database_url=url)
            enrolled = 0
            for size in sizes:
                with Service.open(active) as service:
                    seconds = bulk_enroll(service, seed, enrolled, size)
                    enrolled = size
                    with service.core.db.read() as session:
                        count = session.scalar(select(func.count()).select_from(Device))
                    assert count == size, (count, size)
                    work = prepare(service, seed, size, args.concurrency, args.count)
                with tokensim_server(folder, url, 1) as server:
                    run_load(
                        server,
                        [w[:20] for w in work],
                        concurrency=args.concurrency,
                        seconds=5,
                        target="warm-up",
                        form="numeric",
                        database=database,
                        workers=1,
                    )
                    figures: Figures = run_load(
                        server,
                        [w[20:] for w in work],
                        concurrency=args.concurrency,
                        seconds=args.seconds,
                        target="tokensim",
                        form="numeric",
                        database=database,
                        workers=1,
                    )
                print_table([figures])
                row = figures.to_json() | {"devices": size, "enroll_seconds": round(seconds, 1)}
                row["database_bytes"] = _size(folder / "data" / "tokensim.sqlite3") if url is None else None
                rows.append(row)

        if args.postgres_url:
            with postgres_schema(args.postgres_url) as url:
                run(url)
        else:
            run(None)
    print()
    print(f"Verification latency against enrolled devices ({database}, concurrency {args.concurrency})")
    heads = ("req/s", "p50 ms", "p95 ms", "p99 ms")
    print(f"{'devices':>10}  {'enrolled in':>12}  " + "  ".join(f"{h:>7}" for h in heads) + "  errors")
    for r in rows:
        print(
            f"{r['devices']:>10,}  {r['enroll_seconds']:>10.1f} s  {r['per_second']:>7.0f}  "
            f"{r['p50_ms']:>7.1f}  {r['p95_ms']:>7.1f}  {r['p99_ms']:>7.1f}  {r['error_rate']:>6.1%}"
        )
    ratio = rows[-1]["p99_ms"] / rows[0]["p99_ms"] if rows[0]["p99_ms"] else float("nan")
    print(f"p99 at {rows[-1]['devices']:,} / p99 at {rows[0]['devices']:,}: {ratio:.2f}")
    total_enroll = sum(r["enroll_seconds"] for r in rows)
    print(f"enrollment of {rows[-1]['devices']:,} devices in all: {total_enroll:.0f} s")
    plot(rows, args.plot)
    write_json(args.json, {"rows": rows, "p99_ratio": ratio, "enroll_seconds_total": total_enroll})
    print(f"plot: {args.plot}   JSON: {args.json}")
    return 0


def _size(path: Path) -> int | None:
    return path.stat().st_size if path.exists() else None


if __name__ == "__main__":
    sys.exit(main())
