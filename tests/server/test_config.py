"""Configuration from TOML and mappings."""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread
import pytest

from tokensim.protocol.errors import InvalidParameter
from tokensim.server.api import create_app
from tokensim.server.config import Argon2Params, ServerConfig

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


@pytest.mark.parametrize(("configured", "expected"), [(0, 1), (2, 2), (16, 16)])
def test_request_threads_size_the_servers_thread_pool(tmp_path: Path, configured: int, expected: int) -> None:
    """0 chooses 1 thread on SQLite; any other value is taken as it is."""
    app = create_app(fast_config(tmp_path, request_threads=configured), environ=NO_ENV)

    async def pool_size_while_serving() -> float:
        async with app.router.lifespan_context(app):
            return anyio.to_thread.current_default_thread_limiter().total_tokens

    assert anyio.run(pool_size_while_serving) == expected
