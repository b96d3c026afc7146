"""Second-factor verifications per second over HTTP, per challenge form, database and server processes.

    python bench/http_load.py [--count 1000] [--seconds 8] [--forms numeric,grid,code,oob,push]
                              [--databases sqlite,postgresql] [--workers 1,2] [--concurrency 1,8,32]
                              [--privacyidea] [--json bench-http.json]

For each database and number of server processes it seeds one user and device per client (so no two
clients share a device and the throttle never sees a failure), prepares every login and challenge
in-process (password step included, untimed), then starts ``tokensim serve --workers N`` on
127.0.0.1 and times only the verification: ``POST /v1/login/{id}/answer`` with a valid answer (for
push, the phone's signed ``POST /v1/ib-key/decisions`` followed by that answer; for the time code,
the TOTP code is computed as the request leaves). Each run stops at ``--count`` verifications or
``--seconds``, whichever comes first. The same load against ``GET /v1/noop`` (same middleware, no
database) is the ceiling. With ``--privacyidea`` it also runs privacyidea_load.py's load in the same
run and prints the ratio. The load generator is this process (aiohttp, one session and keep-alive
connection per client; bodies encoded before the clock starts), the server another; on a 2-core
machine they share the cores. So each run also prints the CPU time per verification of the server's
processes (read from /proc for its process group) and of the load generator: with one server
process the ratio to the no-op ceiling is about the ratio of the two server figures.

This is a script that prints figures, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _load import (
    BENCH_CONFIG,
    DEFAULT_POSTGRES,
    Figures,
    Step,
    Verification,
    noop_work,
    postgres_schema,
    print_table,
    run_load,
    tokensim_server,
    write_json,
)

from tokensim.emulators.devices.ib_key import IbKeyApp
from tokensim.server.client import TokensimClient
from tokensim.server.config import ServerConfig
from tokensim.server.core import load_support_token
from tokensim.server.http.app import create_app
from tokensim.server.service import Service
from tokensim.server.testing.harness import Enrolled, Harness

PASSWORD = "bench password 1234"  # noqa: S105 - the seeded users' password
PIN = "4826"
FORMS = {"numeric": "dsc-plus", "grid": "scc", "code": "dsc", "oob": "phone", "push": "ib-key"}
#: Forms whose device answers once per verification here: a TOTP step is accepted once per device,
#: and a phone gets a new code no sooner than ``sms_resend_interval`` (2 minutes).
ONCE = ("code", "oob")


@dataclass
class Seeded:
    """The devices of one form: one per client, or (time codes) one per verification."""

    form: str
    devices: list[Enrolled]


def _config(folder: Path, database_url: str | None) -> ServerConfig:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench.toml").write_text(BENCH_CONFIG)
    config = ServerConfig.from_toml(folder / "bench.toml").replace(data_dir=folder / "data")
    return config if database_url is None else config.replace(database_url=database_url)


@contextmanager
def in_process(config: ServerConfig) -> Iterator[tuple[Service, Harness]]:
    app = create_app(config)
    token = load_support_token(config.token_path)
    try:
        with TokensimClient.in_process(app, support_token=token) as client:
            yield app.state.service, Harness(client)
    finally:
        app.state.service.close()


def _progress(label: str, done: int, total: int) -> None:
    if done == total or done % max(1, total // 20) == 0:
        width = 30
        filled = width * done // max(total, 1)
        print(f"\r  {label:<24} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", flush=True)
        if done == total:
            print()


def seed(service: Service, harness: Harness, form: str, clients: int, per_device_once: int) -> Seeded:
    """Users and devices for ``form``: one per client, or ``per_device_once`` of them (see ONCE)."""
    kind = FORMS[form]
    total = per_device_once if form in ONCE else clients
    devices = []
    for i in range(total):
        username = f"bench-{form}-{i}"
        phone = f"+1555{list(FORMS).index(form):03d}{i:05d}"
        service.users.create_user(username, PASSWORD, phones=[phone])
        if form in ONCE:
            # Activated directly: a DSC activated by its own code would use up the current step.
            pin = PIN if form == "code" else None
            enrollment = service.enrollment.enroll(
                username, kind, pin=pin, number=phone if form == "oob" else None
            )
            service.enrollment.activate_without_proof(enrollment.device.id)
            assert enrollment.provisioning is not None
            device = harness.phone(phone) if form == "oob" else None
            devices.append(
                Enrolled(
                    username, kind, enrollment.device.id, device, pin, enrollment, enrollment.provisioning
                )  # type: ignore[arg-type]
            )
        else:
            app_name = f"phone-{i}"
            if form == "push":
                harness.apps[app_name] = harness.app(app_name)
                harness.apps["phone-1"] = harness.apps[app_name]  # Harness.enroll uses the default app
            devices.append(harness.enroll(username, kind, pin=PIN, number=phone if form == "push" else None))
        _progress(f"seed {form}", i + 1, total)
    return Seeded(form, devices)


def prepare(
    service: Service, harness: Harness, seeded: Seeded, concurrency: int, count: int
) -> list[list[Verification]]:
    """Per client, its logins and challenges, ready to answer (untimed)."""
    per_client = max(1, count // concurrency)
    work: list[list[Verification]] = [[] for _ in range(concurrency)]
    total = per_client * concurrency
    done = 0
    code_devices = iter(seeded.devices)
    for _ in range(per_client):
        for client in range(concurrency):
            enrolled = next(code_devices) if seeded.form in ONCE else seeded.devices[client]
            started = service.logins.start(enrolled.username, PASSWORD)
            view = service.logins.challenge(started.login_id, enrolled.device_id)
            answer_path = f"/v1/login/{started.login_id}/answer"
            body: dict[str, Any] = {"challenge_id": view.id}
            if seeded.form == "code":
                assert enrolled.provisioning is not None
                steps = [Step("POST", answer_path, body, totp_key=enrolled.provisioning.secret)]
            elif seeded.form == "push":
                app = enrolled.device
                assert isinstance(app, IbKeyApp)
                assert view.challenge.request is not None
                app.receive_push(view.challenge.request)
                decision = app.approve(view.id, pin=PIN)
                steps = [
                    Step(
                        "POST",
                        "/v1/ib-key/decisions",
                        decision.to_json(),
                        authorization=lambda app=app, key=decision.key_id: app.decision_auth(key).header(),
                    ),
                    Step("POST", answer_path, body),
                ]
            else:
                body["answer"] = harness.answer(enrolled, view)
                steps = [Step("POST", answer_path, body)]
            work[client].append(Verification(steps))
            done += 1
            _progress(f"prepare {seeded.form} x{concurrency}", done, total)
    return work


def bench_tokensim(
    folder: Path,
    database: str,
    database_url: str | None,
    workers: int,
    forms: list[str],
    concurrencies: list[int],
    count: int,
    seconds: float,
) -> list[Figures]:
    config = _config(folder, database_url)
    top = max(concurrencies)
    prepared: dict[tuple[str, int], list[list[Verification]]] = {}
    print(f"== tokensim, {database}, {workers} server process(es): set-up (untimed)")
    with in_process(config) as (service, harness):
        for form in forms:
            seeded = seed(service, harness, form, top, count * len(concurrencies) if form in ONCE else 0)
            if form in ONCE:
                # Each verification uses a device of its own: one TOTP step is accepted once per device.
                chunks = iter(range(len(seeded.devices)))
                for concurrency in concurrencies:
                    part = [seeded.devices[next(chunks)] for _ in range(count // concurrency * concurrency)]
                    prepared[(form, concurrency)] = prepare(
                        service, harness, Seeded(form, part), concurrency, count
                    )
            else:
                for concurrency in concurrencies:
                    prepared[(form, concurrency)] = prepare(service, harness, seeded, concurrency, count)
    results: list[Figures] = []
    with tokensim_server(folder, database_url, workers) as server:
        for concurrency in concurrencies:
            run_load(
                server,
                noop_work(200, concurrency),
                concurrency=concurrency,
                seconds=5,
                target="warm-up",
                form="noop",
                database=database,
                workers=workers,
            )
            figures = run_load(
                server,
                noop_work(count, concurrency),
                concurrency=concurrency,
                seconds=seconds,
                target="tokensim",
                form="noop",
                database=database,
                workers=workers,
            )
            results.append(figures)
            print_table([figures])
        for form in forms:
            for concurrency in concurrencies:
                figures = run_load(
                    server,
                    prepared[(form, concurrency)],
                    concurrency=concurrency,
                    seconds=seconds,
                    target="tokensim",
                    form=form,
                    database=database,
                    workers=workers,
                )
                results.append(figures)
                print_table([figures])
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="verifications per run, at most")
    parser.add_argument("--seconds", type=float, default=8.0, help="time limit of each run")
    parser.add_argument("--forms", default=",".join(FORMS))
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--privacyidea", action="store_true", help="also load privacyIDEA 3.14 (installs it)")
    parser.add_argument("--privacyidea-workers", type=int, default=2, help="its gunicorn sync workers")
    parser.add_argument("--json", type=Path, default=Path("bench-http.json"))
    args = parser.parse_args()
    forms = [f for f in args.forms.split(",") if f]
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    started = time.monotonic()
    results: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="tokensim-bench-") as temp:
        for database in args.databases.split(","):
            for workers in (int(w) for w in args.workers.split(",")):
                folder = Path(temp) / f"{database}-{workers}"
                if database == "postgresql":
                    with postgres_schema(args.postgres_url) as url:
                        results += bench_tokensim(
                            folder, database, url, workers, forms, concurrencies, args.count, args.seconds
                        )
                else:
                    results += bench_tokensim(
                        folder, database, None, workers, forms, concurrencies, args.count, args.seconds
                    )
        if args.privacyidea:
            from privacyidea_load import bench_privacyidea

            results += bench_privacyidea(
                Path(temp) / "privacyidea", concurrencies, args.count, args.seconds, args.privacyidea_workers
            )
    print()
    print(f"HTTP verification load, {args.count} per run at most, {args.seconds:.0f} s limit, 127.0.0.1")
    print_table(results)
    summary = summarize(results)
    for line in summary["lines"]:
        print(line)
    write_json(args.json, {"runs": [r.to_json() for r in results], "summary": summary})
    print(f"JSON: {args.json}   (took {time.monotonic() - started:.0f} s)")
    return 0


def summarize(results: list[Figures]) -> dict[str, Any]:
    """Ratios the targets talk about: against the no-op ceiling and against privacyIDEA."""
    lines: list[str] = []
    ratios: dict[str, float] = {}
    by = {(r.target, r.form, r.database, r.workers, r.concurrency): r for r in results}
    for r in results:
        if r.target != "tokensim" or r.form == "noop":
            continue
        ceiling = by.get(("tokensim", "noop", r.database, r.workers, r.concurrency))
        if ceiling is not None and ceiling.per_second:
            ratios[f"{r.form}/{r.database}/{r.workers}/{r.concurrency} vs noop"] = round(
                r.per_second / ceiling.per_second, 3
            )
    for r in results:
        if r.target != "privacyidea":
            continue
        for form in ("numeric", "code"):
            for workers in (1, 2):
                ours = by.get(("tokensim", form, "sqlite", workers, r.concurrency))
                if ours is not None and r.per_second:
                    key = (
                        f"tokensim {form} (sqlite, {workers} process) / privacyIDEA hotp "
                        f"(sqlite, gunicorn x{r.workers}) at concurrency {r.concurrency}"
                    )
                    ratios[key] = round(ours.per_second / r.per_second, 1)
    for key, value in ratios.items():
        lines.append(f"  {key}: {value}")
    return {"ratios": ratios, "lines": lines}


if __name__ == "__main__":
    sys.exit(main())
