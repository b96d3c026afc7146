"""Fixtures of the server tests: a fast configuration, an in-process app and client, PostgreSQL.

Argon2 is made cheap here through the configuration only (the production defaults stay as they are).
PostgreSQL tests read ``TOKENSIM_TEST_POSTGRES_URL``: unset, they skip and say why; set but
unreachable, they fail. Each test gets its own schema, dropped afterwards, so runs never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tokensim.protocol.clock import FixedClock
from tokensim.server.client import TokensimClient
from tokensim.server.config import Argon2Params, ServerConfig
from tokensim.server.core import load_support_token
from tokensim.server.http.app import create_app
from tokensim.server.service import Service
from tokensim.server.testing.harness import Harness

from .real_server import Server, start_server, stop_server

POSTGRES_ENV = "TOKENSIM_TEST_POSTGRES_URL"
FAST_ARGON2 = Argon2Params(time_cost=1, memory_kib=8, parallelism=1)
START = 1_700_000_000.0
PASSWORD = "correct horse battery staple"
PHONE = "+15551230001"
NO_ENV: dict[str, str] = {}


def fast_config(data_dir: Path, **changes: object) -> ServerConfig:
    """A configuration for tests: cheap argon2, everything else as in production."""
    return ServerConfig(data_dir=data_dir, argon2=FAST_ARGON2).replace(**changes)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def config(tmp_path: Path) -> ServerConfig:
    return fast_config(tmp_path / "data")


@pytest.fixture
def service(config: ServerConfig, clock: FixedClock) -> Iterator[Service]:
    opened = Service.open(config, clock=clock, environ=NO_ENV)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def client(config: ServerConfig, clock: FixedClock) -> Iterator[TokensimClient]:
    app = create_app(config, clock=clock, environ=NO_ENV)
    token = load_support_token(config.token_path, environ=NO_ENV)
    try:
        with TokensimClient.in_process(app, support_token=token) as made:
            yield made
    finally:
        app.state.service.close()


@pytest.fixture
def harness(client: TokensimClient, clock: FixedClock) -> Harness:
    return Harness(client, clock=clock)


@pytest.fixture
def alice(client: TokensimClient) -> str:
    # Without the signup SMS device, so each test sees exactly the devices it enrolls.
    client.create_user("alice", PASSWORD, phones=[PHONE], equity=2_000_000, start_with_sms=False)
    return "alice"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set, so the PostgreSQL tests do not run")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as e:
        pytest.fail(f"{POSTGRES_ENV} is set but PostgreSQL is unreachable: {e.orig}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose connections work in a fresh schema of their own; the schema is dropped afterwards."""
    schema = f"tokensim_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real ``tokensim serve`` for the test module, in a folder named after the module."""
    started = start_server(tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2]))
    try:
        yield started
    finally:
        stop_server(started)


@pytest.fixture
def remote(server: Server) -> Iterator[TokensimClient]:
    """A client of the module's real server, with the support token."""
    with TokensimClient(server.url, support_token=server.token()) as client:
        yield client
