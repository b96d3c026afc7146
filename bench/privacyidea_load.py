"""The same HTTP load against privacyIDEA 3.14's ``/validate/check`` with HOTP tokens, for comparison.

    python bench/privacyidea_load.py [--count 2000] [--seconds 8] [--concurrency 1,8,32] [--workers 2]

(``http_load.py --privacyidea`` runs this in the same run as tokensim's load and prints the ratio.)

It makes a throwaway virtualenv in a temporary folder, ``pip install "privacyidea==3.14.*" gunicorn``
into it, writes a ``pi.cfg`` with SQLite, creates the encryption key, the audit signing keys, the
tables and an admin (``pi-manage setup ...``), and serves privacyIDEA with gunicorn (sync workers,
``--workers`` of them; the small-setup deployment of its documentation) on 127.0.0.1. Every other
setting is privacyIDEA's default (audit log signed, response signed). One HOTP token is enrolled per
client through ``POST /token/init``; each verification is ``POST /validate/check`` with the token's
serial and its next HOTP value (no token PIN), counted as a success only when the reply says
``"value": true``. If privacyIDEA cannot be installed, the pip error is printed and no figure is made.

This is a script that prints figures, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from _load import (
    Figures,
    Server,
    Step,
    Verification,
    free_port,
    print_table,
    run_load,
    stop,
    wait_until_up,
    write_json,
)

VERSION = "privacyidea==3.14.*"
ADMIN = "benchadmin"
WSGI = """\
import os

from privacyidea.app import create_app

CONFIG = os.environ["PRIVACYIDEA_CONFIGFILE"]
application = create_app(config_name="production", config_file=CONFIG, silent=True)
"""


def hotp(key: bytes, counter: int, digits: int = 6) -> str:
    """RFC 4226 HOTP, written out here so the check does not lean on tokensim's own code."""
    mac = hmac.new(key, counter.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


class InstallFailed(RuntimeError):
    """pip could not install privacyIDEA; the message is pip's own output."""


def install(folder: Path) -> Path:
    """A virtualenv with privacyIDEA 3.14.x and gunicorn; returns its bin folder."""
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    print(f"  pip install {VERSION!r} gunicorn  (into {venv})", flush=True)
    result = subprocess.run(
        [str(bin_dir / "pip"), "install", "--quiet", "--disable-pip-version-check", VERSION, "gunicorn"],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if result.returncode != 0:
        raise InstallFailed(result.stdout[-4000:] + result.stderr[-4000:])
    version = subprocess.run(
        [str(bin_dir / "python"), "-c", "import importlib.metadata as m; print(m.version('privacyidea'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"  privacyIDEA {version} installed", flush=True)
    return bin_dir


def configure(folder: Path, bin_dir: Path) -> tuple[dict[str, str], str]:
    """pi.cfg with SQLite, keys, tables and an admin; returns the environment and the admin password."""
    etc = folder / "etc"
    etc.mkdir()
    config = etc / "pi.cfg"
    config.write_text(
        f"SQLALCHEMY_DATABASE_URI = 'sqlite:///{etc / 'privacyidea.sqlite'}'\n"
        f"SECRET_KEY = '{secrets.token_hex(24)}'\n"
        f"PI_PEPPER = '{secrets.token_hex(24)}'\n"
        f"PI_ENCFILE = '{etc / 'enckey'}'\n"
        f"PI_AUDIT_KEY_PRIVATE = '{etc / 'private.pem'}'\n"
        f"PI_AUDIT_KEY_PUBLIC = '{etc / 'public.pem'}'\n"
        f"PI_LOGFILE = '{etc / 'privacyidea.log'}'\n"
        "PI_LOGLEVEL = 30\n"
    )
    (etc / "piapp.py").write_text(WSGI)
    env = os.environ | {"PRIVACYIDEA_CONFIGFILE": str(config)}
    password = secrets.token_urlsafe(16)
    for command in (
        ["setup", "create_enckey"],
        ["setup", "create_audit_keys"],
        ["setup", "create_tables"],
        ["admin", "add", ADMIN, "-p", password],
    ):
        subprocess.run([str(bin_dir / "pi-manage"), *command], env=env, check=True, capture_output=True)
    return env, password


@contextmanager
def gunicorn(folder: Path, bin_dir: Path, env: dict[str, str], workers: int) -> Iterator[Server]:
    port = free_port()
    log = folder / "gunicorn.log"
    command = [str(bin_dir / "gunicorn"), "--workers", str(workers), "--bind", f"127.0.0.1:{port}"]
    command += ["--chdir", str(folder / "etc"), "--log-level", "warning", "piapp:application"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/healthz/", process, log)
        yield Server(base, process.pid)
    finally:
        stop(process)


def _accepted(reply: object) -> bool:
    return isinstance(reply, dict) and reply.get("result", {}).get("value") is True


def enroll_and_prepare(base: str, password: str, concurrency: int, count: int) -> list[list[Verification]]:
    """One HOTP token per client, then its next HOTP values in order."""
    with httpx.Client(base_url=base, timeout=60) as http:
        auth = http.post("/auth", json={"username": ADMIN, "password": password})
        auth.raise_for_status()
        headers = {"Authorization": auth.json()["result"]["value"]["token"]}
        work: list[list[Verification]] = []
        for client in range(concurrency):
            key = secrets.token_bytes(20)
            serial = f"BENCH{concurrency:02d}{client:03d}{secrets.token_hex(3)}"
            made = http.post(
                "/token/init",
                json={"type": "hotp", "otpkey": key.hex(), "genkey": 0, "serial": serial, "otplen": 6},
                headers=headers,
            )
            made.raise_for_status()
            work.append(
                [
                    Verification(
                        [
                            Step(
                                "POST",
                                "/validate/check",
                                {"serial": serial, "pass": hotp(key, n)},
                                accept=_accepted,
                            )
                        ]
                    )
                    for n in range(count // concurrency)
                ]
            )
    return work


def bench_privacyidea(
    folder: Path, concurrencies: list[int], count: int, seconds: float, workers: int = 2
) -> list[Figures]:
    """Install, configure, serve and load privacyIDEA; no figures (the reason printed) if pip fails."""
    folder.mkdir(parents=True, exist_ok=True)
    print(f"== privacyIDEA 3.14, SQLite, gunicorn --workers {workers}: set-up (untimed)", flush=True)
    try:
        bin_dir = install(folder)
    except InstallFailed as e:
        print(f"privacyIDEA could not be installed, so it is not measured. pip said:\n{e}")
        return []
    env, password = configure(folder, bin_dir)
    results: list[Figures] = []
    with gunicorn(folder, bin_dir, env, workers) as server:
        for concurrency in concurrencies:
            work = enroll_and_prepare(server.base, password, concurrency, count)
            warm = [w[:5] for w in work]
            run_load(
                server,
                warm,
                concurrency=concurrency,
                seconds=5,
                target="warm-up",
                form="hotp",
                database="sqlite",
                workers=workers,
            )
            figures = run_load(
                server,
                [w[5:] for w in work],
                concurrency=concurrency,
                seconds=seconds,
                target="privacyidea",
                form="hotp",
                database="sqlite",
                workers=workers,
            )
            results.append(figures)
            print_table([figures])
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--json", type=Path, default=Path("bench-privacyidea.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tokensim-privacyidea-") as temp:
        results = bench_privacyidea(
            Path(temp), [int(c) for c in args.concurrency.split(",")], args.count, args.seconds, args.workers
        )
    print_table(results)
    write_json(args.json, {"runs": [r.to_json() for r in results]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
