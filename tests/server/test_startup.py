"""Start-up failures as an operator meets them: one line on stderr naming the problem, a non-zero exit.

Each case runs the real command (``python -m tokensim.server.cli``, as the ``tokensim`` script does)
in a subprocess: a taken port (refused before the banner and before the data folder exists), a data
folder that is a file, a damaged database, a full disk and a read-only one (a small tmpfs, mounted
for the test and always unmounted), a server that is not there. The modes of the data folder and its
files are checked on a real server's folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from tokensim.server.cli import devices as cli_devices
from tokensim.server.cli import main
from tokensim.server.config import MASTER_KEY_ENV, SUPPORT_TOKEN_ENV

from .real_server import FAST_CONFIG, free_port, start_server, stop_server


def _tokensim(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in (MASTER_KEY_ENV, SUPPORT_TOKEN_ENV)}
    return subprocess.run(
        [sys.executable, "-m", "tokensim.server.cli", *argv],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_line_error(result: subprocess.CompletedProcess[str], *parts: str) -> str:
    """The single error line, checked to name every one of ``parts``."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("tokensim: error: ")]
    assert len(errors) == 1, result.stderr
    for part in parts:
        assert part in errors[0], errors[0]
    return errors[0]


def _serve(data: Path, port: int, *extra: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``tokensim serve`` on ``data``, run in ``home`` (where its configuration file is written)."""
    home = data.parent if home is None else home
    config = home / "fast.toml"
    config.write_text(FAST_CONFIG)
    return _tokensim(
        "serve", "--data-dir", str(data), "--port", str(port), "--config", str(config), *extra, cwd=home
    )


def test_a_taken_port_is_refused_before_the_banner_and_before_the_data_folder(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _serve(tmp_path / "data", port, "--demo")
    _one_line_error(result, f"127.0.0.1:{port}")
    assert result.stdout == ""
    assert not (tmp_path / "data").exists()


def test_a_data_dir_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder\n")
    _one_line_error(_serve(tmp_path / "data", free_port()), str(tmp_path / "data"), "is a file")
    result = _tokensim("devices", "list", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    _one_line_error(result, str(tmp_path / "data"), "is a file")


def test_a_damaged_database_is_named_by_serve_and_devices_list(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "tokensim.sqlite3").write_bytes(os.urandom(8192))
    database = str(data / "tokensim.sqlite3")
    _one_line_error(_serve(data, free_port()), database, "not a SQLite database")
    result = _tokensim("devices", "list", "--data-dir", str(data), cwd=tmp_path)
    _one_line_error(result, database, "not a SQLite database")


def test_login_to_a_server_that_is_not_there_says_so(tmp_path: Path) -> None:
    port = free_port()
    result = _tokensim(
        "login", "demo-scc", "--server", f"http://127.0.0.1:{port}", "--password", "x", cwd=tmp_path
    )
    _one_line_error(result, f"http://127.0.0.1:{port}", "cannot connect")


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A small tmpfs at ``where`` for the test, unmounted whatever happens."""
    where.mkdir()
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("a full or read-only disk is made with a tmpfs mount: Linux, as root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(folder: Path) -> Path:
    """Write a file until the disk is full; return it."""
    filler = folder / "filler"
    with filler.open("wb") as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()
    with contextlib.suppress(OSError):  # what the buffer could not write
        handle.close()
    return filler


def test_a_full_disk_stops_the_start_and_makes_health_fail(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "disk", "16m") as disk:
        filler = _fill(disk)
        result = _serve(disk / "data", free_port(), home=tmp_path)
        _one_line_error(result, str(disk / "data"), "No space left on device")
        filler.unlink()

        server = start_server(disk / "run")
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                assert http.get("/v1/health").json()["write"] == "ok"
                filler = _fill(disk)
                failing = http.get("/v1/health")
                assert failing.status_code == 503, failing.text
                body = failing.json()
                assert (body["status"], body["code"]) == (503, "storage-unavailable")
                assert failing.headers["content-type"] == "application/problem+json"
                assert body["write"] == "failed"
                assert "disk is full" in body["detail"]
                filler.unlink()
                assert http.get("/v1/health").status_code == 200
        finally:
            stop_server(server)


def test_a_read_only_disk_stops_the_start(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "disk", "16m") as disk:
        stop_server(start_server(disk / "run"))  # a data folder with its database, key and token
        remounted = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True, check=False)
        assert remounted.returncode == 0, remounted.stderr
        data = disk / "run" / "data"
        config = tmp_path / "fast.toml"
        config.write_text(FAST_CONFIG)
        result = _tokensim(
            "serve",
            "--data-dir",
            str(data),
            "--port",
            str(free_port()),
            "--config",
            str(config),
            cwd=tmp_path,
        )
        _one_line_error(result, str(data), "Read-only file system")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_folder_is_0700_and_its_files_0600_even_when_they_were_looser(tmp_path: Path) -> None:
    first = start_server(tmp_path / "one", "--demo")
    stop_server(first)
    data = first.data_dir
    os.chmod(data, 0o755)  # noqa: S103 - the loose mode the server must tighten
    os.chmod(data / "tokensim.sqlite3", 0o644)
    os.chmod(data / "demo", 0o755)  # noqa: S103 - as an earlier version left it
    server = start_server(tmp_path / "one", "--demo")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert http.get("/v1/health").status_code == 200  # the WAL and shared memory exist now
        assert _mode(data) == 0o700
        assert _mode(data / "demo") == 0o700
        files = [
            "tokensim.sqlite3",
            "tokensim.sqlite3-wal",
            "tokensim.sqlite3-shm",
            "master.key",
            "support.token",
        ]
        assert {name: oct(_mode(data / name)) for name in files} == dict.fromkeys(files, "0o600")
        assert "made it 0700" in server.logs()
    finally:
        stop_server(server)


@pytest.mark.parametrize(
    ("failure", "line"),
    [
        (
            OperationalError("UPDATE users", {}, sqlite3.OperationalError("database or disk is full")),
            "tokensim: error: the database failed: database or disk is full\n",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device", "data/x"),
            "tokensim: error: No space left on device: data/x\n",
        ),
    ],
)
def test_a_failure_past_the_start_up_checks_is_still_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], failure: Exception, line: str
) -> None:
    def fail(_args: object) -> int:
        raise failure

    monkeypatch.setattr(cli_devices, "_run_list", fail)
    assert main(["devices", "list"]) == 1
    assert capsys.readouterr().err == line


def test_a_postgresql_server_that_is_not_there_is_named_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://tokensim:hunter2-secret@127.0.0.1:{free_port()}/tokensim"
    result = _serve(tmp_path / "data", free_port(), "--db", url)
    line = _one_line_error(result, "postgresql+psycopg://tokensim:***@127.0.0.1:", "Connection refused")
    assert "hunter2" not in result.stderr + result.stdout, line


def test_postgresql_with_both_secrets_in_variables_needs_no_data_folder(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    # A container with a read-only root: nothing is kept in the data folder, so none is made.
    secrets = {MASTER_KEY_ENV: os.urandom(32).hex(), SUPPORT_TOKEN_ENV: "token-" + os.urandom(8).hex()}
    server = start_server(tmp_path, "--db", postgres_schema_url, env=secrets)
    try:
        assert httpx.get(f"{server.url}/v1/health", timeout=30).json()["write"] == "ok"
        assert not server.data_dir.exists()
    finally:
        stop_server(server)
