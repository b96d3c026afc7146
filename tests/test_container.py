"""The LICENSE, the Dockerfile and compose.yaml: read statically always, built and started where Docker is.

The static checks hold the files to the project they package: the base image's Python satisfies
``requires-python``, the image installs the package from the folders pyproject maps, and its
entrypoint is a ``tokensim serve`` command line the real parser accepts, listening on every
interface; compose hands that server a ``--db`` URL naming its own PostgreSQL service. Building and
starting the containers needs a Docker engine: without one that test skips and says why.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.specifiers import SpecifierSet
from sqlalchemy.engine import make_url

from tokensim.server.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, its continuation lines joined."""

    name: str
    arguments: str

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form ENTRYPOINT, CMD or VOLUME."""
        value = json.loads(self.arguments)
        assert isinstance(value, list), f"{self.name} is not in exec form: {self.arguments}"
        return [str(item) for item in value]


def _dockerfile() -> list[Instruction]:
    instructions: list[Instruction] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = (pending + stripped).strip()
        pending = ""
        name, _, arguments = whole.partition(" ")
        instructions.append(Instruction(name.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends in a continuation line"
    return instructions


def _only(instructions: list[Instruction], name: str) -> Instruction:
    found = [i for i in instructions if i.name == name]
    assert len(found) == 1, f"expected one {name}, found {len(found)}"
    return found[0]


def _compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML (installed with the dev extra) reads compose.yaml")
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _interpolate(text: str, environ: dict[str, str]) -> str:
    """Compose's ``${NAME:-default}`` and ``${NAME}``, as ``docker compose`` fills them in."""

    def value(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        found = environ.get(name)
        return found if found else (default or "")

    return re.sub(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}", value, text)


# -- LICENSE -------------------------------------------------------------------------------------------


def test_the_license_file_matches_pyproject() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "MIT License"
    holder = project["authors"][0]["name"]
    assert re.search(rf"^Copyright \(c\) \d{{4}} {re.escape(holder)}$", text, re.M), text.splitlines()[2]
    # The MIT grant and disclaimer, not just the heading.
    assert "Permission is hereby granted, free of charge" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


# -- Dockerfile, read ----------------------------------------------------------------------------------


def test_the_base_image_has_a_python_the_project_supports() -> None:
    image = _only(_dockerfile(), "FROM").arguments
    match = re.fullmatch(r"python:(?P<version>3\.\d+)(?:\.\d+)?-slim(?:-\w+)?", image)
    assert match, f"expected an official python:3.X-slim image, got {image}"
    assert match.group("version") in SpecifierSet(PYPROJECT["project"]["requires-python"])


def test_the_image_installs_the_project_from_what_it_copies() -> None:
    instructions = _dockerfile()
    copied = {
        Path(source).as_posix()
        for i in instructions
        if i.name == "COPY"
        for source in shlex.split(i.arguments)[:-1]
    }
    folders = set(PYPROJECT["tool"]["setuptools"]["package-dir"].values())
    assert folders <= copied, f"the package folders {sorted(folders - copied)} are not copied"
    assert {"pyproject.toml", "README.md", "LICENSE"} <= copied
    installs = [
        i.arguments
        for i in instructions
        if i.name == "RUN" and re.search(r"\bpip install \.(\s|$)", i.arguments)
    ]
    assert installs, "no RUN pip install . of the project"
    assert "-e" not in shlex.split(installs[0]), "an editable install needs the source tree at run time"
    # .dockerignore keeps everything else out of the build context but lets the copied files through.
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ignore.index("*") < min(
        ignore.index(f"!{name}") for name in ("pyproject.toml", "README.md", "LICENSE")
    )
    for folder in folders:
        assert f"!{folder}/" in ignore


def test_the_entrypoint_runs_tokensim_serve_on_every_interface() -> None:
    instructions = _dockerfile()
    entrypoint = _only(instructions, "ENTRYPOINT").exec_form()
    assert entrypoint[:2] == ["tokensim", "serve"]
    assert "tokensim" in PYPROJECT["project"]["scripts"]  # the console script the install puts on PATH
    args = build_parser().parse_args(entrypoint[1:])  # exits (fails the test) on an unknown option
    assert args.host == "0.0.0.0"  # noqa: S104 - a container listens on its own interfaces
    exposed = _only(instructions, "EXPOSE").arguments.split()
    assert [str(args.port)] == exposed
    assert str(args.data_dir) in _only(instructions, "VOLUME").exec_form()
    assert _only(instructions, "CMD").exec_form() == []  # arguments after the image name go to serve
    user = _only(instructions, "USER").arguments
    assert user not in ("root", "0"), "the server runs as a user of its own"
    health = _only(instructions, "HEALTHCHECK").arguments
    assert f"127.0.0.1:{args.port}/v1/health" in health


# -- compose.yaml, read --------------------------------------------------------------------------------


def test_compose_wires_the_server_to_its_postgres_service() -> None:
    compose = _compose()
    services = compose["services"]
    server, postgres = services["tokensim"], services["postgres"]
    assert server["build"] == "."
    assert str(postgres["image"]).startswith("postgres:")
    entrypoint = _only(_dockerfile(), "ENTRYPOINT").exec_form()
    for environ in ({}, {"POSTGRES_PASSWORD": "s3cret"}):
        command = [_interpolate(part, environ) for part in server["command"]]
        args = build_parser().parse_args([*entrypoint[1:], *command])
        url = make_url(args.db)
        database = {k: _interpolate(str(v), environ) for k, v in postgres["environment"].items()}
        assert url.drivername == "postgresql+psycopg"
        assert (url.host, url.port or 5432) == ("postgres", 5432)  # the service's name on compose's network
        assert url.database == database["POSTGRES_DB"]
        assert url.username == database["POSTGRES_USER"]
        assert (
            url.password == database["POSTGRES_PASSWORD"] == (environ.get("POSTGRES_PASSWORD") or "tokensim")
        )
    # The server starts once PostgreSQL answers, keeps its master key in a volume, and is published
    # on the port the image listens on.
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(str(volume).endswith(":/data") for volume in server["volumes"])
    published = [_interpolate(str(p), {}) for p in server["ports"]]
    assert published == [f"127.0.0.1:8000:{_only(_dockerfile(), 'EXPOSE').arguments}"]
    assert set(compose["volumes"]) >= {str(v).split(":")[0] for v in server["volumes"] + postgres["volumes"]}


# -- built and started ---------------------------------------------------------------------------------


def _docker() -> str:
    """The docker client, once it is known an engine and compose answer; else skip saying which is missing."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on PATH: the image is not built here (the static checks above ran)")
    info = subprocess.run(
        [docker, "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if info.returncode != 0:
        said = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        pytest.skip(
            f"the docker client is installed but no Docker engine answers it ({said}): not built here"
        )
    version = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=60, check=False
    )
    if version.returncode != 0:
        pytest.skip("a Docker engine answers but the docker compose plugin is missing: not built here")
    return docker


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_compose_builds_and_serves_on_postgres() -> None:
    docker = _docker()
    port = _free_port()
    environ = {**os.environ, "TOKENSIM_PORT": str(port), "POSTGRES_PASSWORD": secrets.token_hex(12)}
    project = f"tokensim-test-{uuid.uuid4().hex[:8]}"
    compose = [
        docker,
        "compose",
        "--project-directory",
        str(ROOT),
        "-f",
        str(ROOT / "compose.yaml"),
        "-p",
        project,
    ]

    def run(*argv: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [*compose, *argv], env=environ, capture_output=True, text=True, timeout=timeout, check=False
        )
        assert done.returncode == 0, f"docker compose {' '.join(argv)}\n{done.stdout}{done.stderr}"
        return done.stdout

    try:
        # --wait returns once PostgreSQL and the server report healthy (the image's HEALTHCHECK).
        run("up", "--build", "--detach", "--wait", timeout=1200)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/v1/health", timeout=10).status_code == 200
        token = run("exec", "-T", "tokensim", "cat", "/data/support.token").strip()
        created = httpx.post(
            f"{base}/v1/support/users",
            headers={"authorization": f"Bearer {token}"},
            json={"username": "alice", "password": "correct horse battery staple"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        # The user is a row in compose's PostgreSQL, not in a SQLite file in the container.
        rows = run(
            "exec",
            "-T",
            "postgres",
            "psql",
            "-U",
            "tokensim",
            "-d",
            "tokensim",
            "-tAc",
            "SELECT username FROM users",
        )
        assert "alice" in rows.split()
    finally:
        subprocess.run(
            [*compose, "down", "--volumes", "--remove-orphans"],
            env=environ,
            capture_output=True,
            timeout=300,
            check=False,
        )
