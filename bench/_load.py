"""Shared parts of the HTTP benchmarks: server processes, PostgreSQL schemas, the load and its figures.

Not a script: ``http_load.py``, ``privacyidea_load.py`` and ``scale.py`` import it (each script's folder
is on ``sys.path`` when it runs). Every load is bounded twice, by a request count and by a time limit,
and goes to 127.0.0.1 only. The load generator is aiohttp (one session, and so one keep-alive
connection, per simulated user), chosen because it costs the client less CPU per request than the
server spends on a no-op: on 2 cores the client and the server share the CPU. The untimed set-up
(waiting for a server to answer, enrolling privacyIDEA tokens) uses httpx.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from yarl import URL

#: Where the PostgreSQL runs go unless --postgres-url says otherwise.
DEFAULT_POSTGRES = os.environ.get(
    "TOKENSIM_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: The bench servers' configuration. Argon2 is cheap because only the untimed set-up (the password
#: step of each login) hashes; no timed request hashes anything. Logins and challenges live an hour
#: so a prepared batch outlasts its run; every other value is the production default.
BENCH_CONFIG = """\
login_ttl = 3600.0
challenge_ttl = 3600.0
oob_ttl = 3600.0
push_ttl = 3600.0
db_pool_size = 20

[argon2]
time_cost = 1
memory_kib = 8
parallelism = 1
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    """A server under load: its base URL and its process group.

    The group is the first process's pid (every server here starts in a session of its own, so its
    workers share that group); the load reads the group's CPU time from /proc before and after.
    """

    base: str
    group: int


@dataclass
class Step:
    """One HTTP request of a verification.

    ``totp_key`` means the answer is a TOTP code computed as the request leaves; ``accept`` judges a
    2xx reply's JSON (for servers that answer a refusal with 200); ``authorization`` makes the
    ``Authorization`` header as the request leaves (an IB Key phone signs each request with its time).
    """

    method: str
    path: str
    body: dict[str, Any] | None = None
    totp_key: bytes | None = None
    accept: Callable[[Any], bool] | None = None
    authorization: Callable[[], str] | None = None


@dataclass
class Verification:
    """The requests of one verification, sent in order; it succeeds when each gets a 2xx."""

    steps: list[Step]


@dataclass
class Figures:
    """What one run measured."""

    target: str
    form: str
    database: str
    workers: int
    concurrency: int
    requests: int
    ok: int
    errors: int
    seconds: float
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    error_rate: float
    statuses: dict[str, int] = field(default_factory=dict)
    #: The machine's 1-minute load average when the run ended: other work on the machine shows here.
    load_average: float = 0.0
    #: CPU time per verification of the server's processes and of this load generator, in ms (None
    #: where /proc cannot be read). On 2 shared cores these say where the throughput goes.
    server_cpu_ms: float | None = None
    client_cpu_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _answer_now(key: bytes) -> str:
    from tokensim.protocol.otp import totp

    return totp(key, time.time())


#: The headers of a request with a JSON body (the bodies are encoded before the clock starts).
_JSON = {"Content-Type": "application/json"}


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class _Ready:
    """A step as the timed loop sends it: its URL parsed and its body encoded before the clock starts."""

    method: str
    url: URL
    data: bytes | None
    step: Step


def _ready(base: str, work: Sequence[Sequence[Verification]]) -> list[list[list[_Ready]]]:
    root = base.rstrip("/")
    return [
        [
            [
                _Ready(
                    step.method,
                    URL(root + step.path),
                    # A time code is computed as the request leaves, so that body is encoded then.
                    None if step.body is None or step.totp_key is not None else _encode(step.body),
                    step,
                )
                for step in item.steps
            ]
            for item in mine
        ]
        for mine in work
    ]


def group_cpu_seconds(group: int) -> float | None:
    """CPU seconds (user and system) used so far by the live processes of process group ``group``.

    None where there is no /proc to read (the benchmarks are Linux scripts; only this figure needs it).
    """
    try:
        entries = os.listdir("/proc")
    except FileNotFoundError:
        return None
    ticks = 0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue  # the process ended since the listing
        # proc(5): the fields after "(command) " start at the state (field 3); pgrp is field 5,
        # utime and stime fields 14 and 15. The command may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == group:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class _Driven:
    latencies: list[float]
    statuses: dict[str, int]
    errors: int
    elapsed: float
    server_cpu: float | None
    client_cpu: float


async def _drive(server: Server, work: Sequence[Sequence[Verification]], seconds: float) -> _Driven:
    base = server.base
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    ready = _ready(base, work)
    deadline = time.perf_counter() + seconds

    async def worker(mine: list[list[_Ready]], http: aiohttp.ClientSession) -> None:
        nonlocal errors
        clock = time.perf_counter
        for item in mine:
            if clock() >= deadline:
                break
            start = clock()
            failed = False
            for sending in item:
                step, data = sending.step, sending.data
                if step.totp_key is not None:
                    data = _encode(dict(step.body or {}) | {"answer": _answer_now(step.totp_key)})
                headers = None if data is None else _JSON
                if step.authorization is not None:
                    headers = {**(headers or {}), "Authorization": step.authorization()}
                try:
                    async with http.request(
                        sending.method, sending.url, data=data, headers=headers
                    ) as response:
                        # Read to the end, so the connection goes back to the pool for the next request.
                        raw = await response.read()
                    status = str(response.status)
                    failed = failed or response.status >= 300
                    if not failed and step.accept is not None and not _accepts(step.accept, raw):
                        status, failed = f"{status} refused", True
                except (aiohttp.ClientError, TimeoutError) as e:
                    status, failed = type(e).__name__, True
                statuses[status] = statuses.get(status, 0) + 1
                if failed:
                    break
            latencies.append(clock() - start)
            errors += failed

    # One session with a one-connection pool, and so one keep-alive connection, per simulated user.
    # On the no-op (2 cores, tokensim serve --workers 1) this client spends 0.12 to 0.2 ms of CPU per
    # request, httpx.AsyncClient 0.9 to 1.5 ms, more than the server's own (about 0.4 ms); one aiohttp
    # session shared by all users (a pool as large as the concurrency) cost the same or a little more.
    timeout = aiohttp.ClientTimeout(total=30)
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=timeout) for _ in work]
    health = URL(base.rstrip("/") + "/v1/health")

    async def connect(http: aiohttp.ClientSession) -> None:
        async with http.get(health) as response:
            await response.read()

    try:
        # Connect every client before the clock starts.
        await asyncio.gather(*(connect(http) for http in sessions))
        # The prepared work is a large heap of long-lived objects; frozen, the collector's full passes
        # skip it, so the load generator's own pauses stay out of the measured latencies.
        gc.collect()
        gc.freeze()
        server_before = group_cpu_seconds(server.group)
        client_before = time.process_time()
        began = time.perf_counter()
        deadline = began + seconds
        await asyncio.gather(*(worker(mine, http) for mine, http in zip(ready, sessions, strict=True)))
        elapsed = time.perf_counter() - began
        client_cpu = time.process_time() - client_before
        server_after = group_cpu_seconds(server.group)
    finally:
        await asyncio.gather(*(http.close() for http in sessions))
        gc.unfreeze()
    server_cpu = None if server_before is None or server_after is None else server_after - server_before
    return _Driven(latencies, statuses, errors, elapsed, server_cpu, client_cpu)


def _accepts(accept: Callable[[Any], bool], raw: bytes) -> bool:
    """``accept``'s verdict on a 2xx reply; a reply that is not JSON is refused."""
    try:
        reply = json.loads(raw)
    except ValueError:
        return False
    return accept(reply)


def run_load(
    server: Server,
    work: Sequence[Sequence[Verification]],
    *,
    concurrency: int,
    seconds: float,
    target: str,
    form: str,
    database: str,
    workers: int,
) -> Figures:
    """Send each client's share of ``work`` (one list per client) until done or ``seconds`` pass."""
    assert len(work) == concurrency
    driven = asyncio.run(_drive(server, work, seconds))
    latencies, errors, elapsed = driven.latencies, driven.errors, driven.elapsed
    done = len(latencies)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if done >= 2 else [0.0] * 99

    def per_verification(cpu: float | None) -> float | None:
        return None if cpu is None or not done else round(cpu / done * 1000, 3)

    return Figures(
        target=target,
        form=form,
        database=database,
        workers=workers,
        concurrency=concurrency,
        requests=done,
        ok=done - errors,
        errors=errors,
        seconds=round(elapsed, 3),
        per_second=round((done - errors) / elapsed, 1) if elapsed else 0.0,
        p50_ms=round(cuts[49] * 1000, 2),
        p95_ms=round(cuts[94] * 1000, 2),
        p99_ms=round(cuts[98] * 1000, 2),
        error_rate=round(errors / done, 4) if done else 0.0,
        statuses=driven.statuses,
        load_average=round(os.getloadavg()[0], 2),
        server_cpu_ms=per_verification(driven.server_cpu),
        client_cpu_ms=per_verification(driven.client_cpu),
    )


def noop_work(count: int, concurrency: int, path: str = "/v1/noop") -> list[list[Verification]]:
    return [
        [Verification([Step("GET", path)]) for _ in range(count // concurrency)] for _ in range(concurrency)
    ]


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A URL whose connections use a fresh schema, dropped afterwards."""
    schema = f"tokensim_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {limit} s:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started in its own session: its process group (the pid), TERM then KILL."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def tokensim_server(folder: Path, database_url: str | None, workers: int) -> Iterator[Server]:
    """``tokensim serve`` on a free port of 127.0.0.1 (access log off: --log-level warning)."""
    port = free_port()
    command = [sys.executable, "-m", "tokensim.server.cli", "serve", "--port", str(port)]
    command += ["--data-dir", str(folder / "data"), "--config", str(folder / "bench.toml")]
    command += ["--workers", str(workers), "--log-level", "warning"]
    if database_url is not None:
        command += ["--db", database_url]
    log = folder / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/v1/health", process, log)
        yield Server(base, process.pid)
    finally:
        stop(process)


def print_table(rows: Sequence[Figures], out: Callable[[str], None] = print) -> None:
    header = (
        "target",
        "form",
        "db",
        "workers",
        "conc",
        "n",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "load",
        "srv cpu ms",
        "cli cpu ms",
    )
    lines = [header]
    for r in rows:
        lines.append(
            (
                r.target,
                r.form,
                r.database,
                str(r.workers),
                str(r.concurrency),
                str(r.requests),
                f"{r.per_second:.0f}",
                f"{r.p50_ms:.1f}",
                f"{r.p95_ms:.1f}",
                f"{r.p99_ms:.1f}",
                f"{r.error_rate:.1%}",
                f"{r.load_average:.1f}",
                "-" if r.server_cpu_ms is None else f"{r.server_cpu_ms:.2f}",
                "-" if r.client_cpu_ms is None else f"{r.client_cpu_ms:.2f}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        out(
            "  ".join(
                cell.rjust(w) if i >= 3 else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
