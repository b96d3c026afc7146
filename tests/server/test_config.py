"""Configuration from TOML and mappings."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import anyio.to_thread
import pytest

from tokensim.protocol.errors import InvalidParameter
from tokensim.server.client import TokensimClient
from tokensim.server.config import Argon2Params, ServerConfig
from tokensim.server.http.app import create_app

from .conftest import NO_ENV, fast_config


def test_toml_sets_values_and_paths(tmp_path: Path) -> None:
    path = tmp_path / "tokensim.toml"
    path.write_text(
        'data_dir = "/srv/tokensim"\ndevice_max_failures = 3\nchallenge_ttl = 60\n'
        "[argon2]\ntime_cost = 1\nmemory_kib = 8\nparallelism = 1\n"
    )
    config = ServerConfig.from_toml(path)
    assert config.data_dir == Path("/srv/tokensim")
    assert config.device_max_failures == 3
    assert config.challenge_ttl == 60.0
    assert config.argon2 == Argon2Params(1, 8, 1)
    assert config.database == "sqlite:////srv/tokensim/tokensim.sqlite3"
    assert config.key_path == Path("/srv/tokensim/master.key")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"no_such_key": 1}, "unknown key"),
        ({"device_max_failures": "5"}, "wrong type"),
        ({"device_max_failures": True}, "wrong type"),
        ({"card_strict": 1}, "wrong type"),
        ({"account_max_failures": 101}, "no more than 100|1 to 100"),
        ({"device_max_failures": 0}, "at least 1"),
        ({"challenge_ttl": 0}, "positive"),
        ({"request_threads": -1}, "request_threads"),
        ({"argon2": {"time_cost": 0}}, "argon2"),
        ({"argon2": {"speed": 1}}, "argon2"),
    ],
)
def test_bad_values_are_named(data: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        ServerConfig.from_mapping(data)


def test_a_broken_toml_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("this is = = not toml")
    with pytest.raises(InvalidParameter, match=r"bad\.toml"):
        ServerConfig.from_toml(path)


@pytest.mark.parametrize(
    ("backend", "configured", "on_loop", "pool"),
    [
        ("sqlite", 0, True, None),
        ("sqlite", 2, False, 2),
        ("postgresql", 0, False, 40),
        ("postgresql", 16, False, 16),
    ],
)
def test_request_threads_choose_where_endpoints_run(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    backend: str,
    configured: int,
    on_loop: bool,
    pool: int | None,
) -> None:
    """0 runs SQLite requests on the event loop and PostgreSQL ones on 40 threads; a number sizes the pool."""
    config = fast_config(tmp_path, request_threads=configured)
    if backend == "postgresql":
        config = config.replace(database_url=request.getfixturevalue("postgres_schema_url"))
    app = create_app(config, environ=NO_ENV)

    @app.get("/where")
    def where() -> dict[str, object]:
        # A plain function, like every endpoint: it finds a running event loop only when run on it.
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return {"on_loop": False, "thread": threading.current_thread().name}
        return {"on_loop": True, "thread": threading.current_thread().name}

    with TokensimClient.in_process(app) as client:
        answers = [client.request("GET", "/where").json() for _ in range(3)]
        # Endpoints keep their checks wherever they run: a bad body is still a problem.
        refused = client.request("POST", "/v1/login", json={"username": 7})

    async def pool_size_while_serving() -> float:
        async with app.router.lifespan_context(app):
            return anyio.to_thread.current_default_thread_limiter().total_tokens

    size = anyio.run(pool_size_while_serving)
    assert [a["on_loop"] for a in answers] == [on_loop] * 3
    if on_loop:
        assert len({a["thread"] for a in answers}) == 1  # the event loop's own thread
    else:
        assert size == pool
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid-request"
