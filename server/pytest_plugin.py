"""The tokensim pytest plugin: a verification server, users with emulated devices, a clock to move.

Installed with tokensim as the ``tokensim`` plugin (a ``pytest11`` entry point), so every test run in
the environment can ask for its fixtures; nothing starts until a test uses one. Turn it off with
``-p no:tokensim``.

One in-process server per test session, emptied before each test that uses it (users, devices,
challenges, sessions, outbox, audit log) with its clock set back to the start::

    def test_login(tokensim_user, tokensim_clock):
        alice = tokensim_user(devices=["dsc-plus", "scc"])
        result = alice.login("dsc-plus")            # password, challenge, the emulator's answer
        assert "trading" in result.grant.scope
        tokensim_clock.advance(301)                 # no sleeping: the server's time moves

==============================  ==========================================================================
fixture                         what
==============================  ==========================================================================
``tokensim``                    the server for this test (:class:`TokensimServer`): client, clock, users,
                                outbox and audit assertions, the request journal
``tokensim_user``               a factory: ``tokensim_user(devices=[...])`` -> :class:`TokensimUser`
``tokensim_client``             a :class:`~tokensim.server.client.TokensimClient` with the support token
``tokensim_clock``              the server's and the emulators' :class:`~tokensim.protocol.clock.FixedClock`
``tokensim_url``                the same server on a real socket, for code that speaks HTTP itself
``tokensim_support_token``      the support API's bearer token
``tokensim_server``             the session-scoped server, not reset (for fixtures of your own)
``tokensim_config``             the session's :class:`~tokensim.server.config.ServerConfig`; override it
==============================  ==========================================================================

Settings in the ini file (``[tool.pytest.ini_options]`` or ``pytest.ini``), each overridable per test
with ``@pytest.mark.tokensim(...)`` (the same names without ``tokensim_``):

=========================================  =======  ===================================================
key                                        default  what
=========================================  =======  ===================================================
``tokensim_strict``                        false    every check below
``tokensim_require_answered_challenges``   false    fail a test that left a challenge it caused with no
                                                    answer at all (a wrong answer counts: the test saw
                                                    the refusal; ``tokensim.leave_unanswered(challenge)``
                                                    excuses one left open on purpose)
``tokensim_fail_on_server_error``          true     fail a test during which the server answered a 5xx
``tokensim_start_time``                    (start)  Unix seconds the clock starts at in every test
                                                    (default: the session's start, in whole minutes)
``tokensim_config``                        (none)   a TOML file of server settings, as for ``serve``
=========================================  =======  ===================================================

The server hashes passwords with a cheap argon2 cost and keeps its database, master key and support
token in a temporary folder: it is a test double, never a place for real secrets.

This module is the plugin itself: its ini keys, marker and fixtures. What the fixtures hand out lives in
the harness room :mod:`tokensim.server.testing` (``server``, ``users``, ``asgi``) and is importable from
here too. The harness imports :mod:`tokensim.emulators` and the web stack lazily, so loading the plugin
costs nothing until a fixture is used.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# What the fixtures hand out, re-exported (``X as X``): tests and type hints import it from the plugin.
from tokensim.server.testing.asgi import RequestRecord as RequestRecord
from tokensim.server.testing.server import LOGIN_EVENTS as LOGIN_EVENTS
from tokensim.server.testing.server import TokensimServer as TokensimServer
from tokensim.server.testing.users import DEFAULT_PASSWORD as DEFAULT_PASSWORD
from tokensim.server.testing.users import TokensimUser as TokensimUser
from tokensim.server.testing.users import UserFactory as UserFactory

if TYPE_CHECKING:
    from tokensim.protocol.clock import FixedClock
    from tokensim.server.client import TokensimClient
    from tokensim.server.config import ServerConfig

__all__ = [
    "DEFAULT_PASSWORD",
    "INI_SETTINGS",
    "LOGIN_EVENTS",
    "RequestRecord",
    "TokensimServer",
    "TokensimUser",
    "UserFactory",
    "pytest_addoption",
    "pytest_configure",
    "tokensim",
    "tokensim_client",
    "tokensim_clock",
    "tokensim_config",
    "tokensim_server",
    "tokensim_support_token",
    "tokensim_url",
    "tokensim_user",
]

#: The boolean ini keys and their defaults (the marker takes the same names without ``tokensim_``).
INI_SETTINGS: Mapping[str, bool] = {
    "tokensim_strict": False,
    "tokensim_require_answered_challenges": False,
    "tokensim_fail_on_server_error": True,
}
_INI_HELP = {
    "tokensim_strict": "tokensim: turn on every strictness check",
    "tokensim_require_answered_challenges": "tokensim: fail a test that leaves a challenge unanswered",
    "tokensim_fail_on_server_error": "tokensim: fail a test during which the server answered a 5xx",
}
_MARKER_KEYS = frozenset({"start_time", *(name.removeprefix("tokensim_") for name in INI_SETTINGS)})


# -- hooks -------------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the plugin's ini keys."""
    for name, default in INI_SETTINGS.items():
        parser.addini(name, _INI_HELP[name], type="bool", default=default)
    parser.addini(
        "tokensim_start_time",
        "tokensim: Unix seconds the server's clock starts at in every test (default: the session's start)",
        default="",
    )
    parser.addini("tokensim_config", "tokensim: a TOML file of server settings", default="")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``tokensim`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        "tokensim(strict=None, require_answered_challenges=None, fail_on_server_error=None, "
        "start_time=None): tokensim settings for this test, over the ini file's",
    )


# -- settings --------------------------------------------------------------------------------------


def _start_time(config: pytest.Config) -> float:
    text = str(config.getini("tokensim_start_time")).strip()
    if not text:
        return float(math.floor(time.time() / 60) * 60)
    try:
        return float(text)
    except ValueError as e:
        raise pytest.UsageError(f"tokensim_start_time must be Unix seconds, got {text!r}") from e


def _settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    settings: dict[str, Any] = {
        name.removeprefix("tokensim_"): bool(request.config.getini(name)) for name in INI_SETTINGS
    }
    marker = request.node.get_closest_marker("tokensim")
    if marker is not None:
        unknown = set(marker.kwargs) - _MARKER_KEYS
        if unknown or marker.args:
            raise pytest.UsageError(
                f"@pytest.mark.tokensim takes keyword arguments {sorted(_MARKER_KEYS)}, got "
                f"{sorted(unknown) or list(marker.args)}"
            )
        settings.update(marker.kwargs)
    if settings["strict"]:
        settings["require_answered_challenges"] = True
        settings["fail_on_server_error"] = True
    return settings


# -- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tokensim_config(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> ServerConfig:
    """The session server's configuration: the ini file's TOML, a temporary folder, cheap argon2.

    Override this fixture to change settings for a whole session (``device_max_failures``, ...).
    """
    from tokensim.server.config import Argon2Params, ServerConfig

    named = str(pytestconfig.getini("tokensim_config")).strip()
    base = ServerConfig()
    if named:
        path = Path(named)
        base = ServerConfig.from_toml(path if path.is_absolute() else pytestconfig.rootpath / path)
    return base.replace(
        data_dir=tmp_path_factory.mktemp("tokensim"),
        database_url=None,
        master_key_file=None,
        support_token_file=None,
        argon2=Argon2Params(time_cost=1, memory_kib=8, parallelism=1),
    )


@pytest.fixture(scope="session")
def tokensim_server(tokensim_config: ServerConfig, pytestconfig: pytest.Config) -> Iterator[TokensimServer]:
    """The session's in-process server, started on first use; not reset (``tokensim`` is)."""
    server = TokensimServer(tokensim_config, start_time=_start_time(pytestconfig))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def tokensim(tokensim_server: TokensimServer, request: pytest.FixtureRequest) -> Iterator[TokensimServer]:
    """The server, emptied and with its clock at the start; the strictness checks run after the test."""
    settings = _settings(request)
    start = settings.get("start_time")
    tokensim_server.reset(start_time=None if start is None else float(start))
    yield tokensim_server
    found = tokensim_server.problems(
        require_answered_challenges=bool(settings["require_answered_challenges"]),
        fail_on_server_error=bool(settings["fail_on_server_error"]),
    )
    if found:
        pytest.fail("tokensim: " + "; ".join(found), pytrace=False)


@pytest.fixture
def tokensim_user(tokensim: TokensimServer) -> UserFactory:
    """Make users with devices: ``tokensim_user(devices=["dsc-plus", "scc"])``."""
    return tokensim.user


@pytest.fixture
def tokensim_client(tokensim: TokensimServer) -> TokensimClient:
    """An in-process API client with the support token."""
    return tokensim.client


@pytest.fixture
def tokensim_clock(tokensim: TokensimServer) -> FixedClock:
    """The clock of the server and every emulator: ``tokensim_clock.advance(30)``."""
    return tokensim.clock


@pytest.fixture
def tokensim_url(tokensim: TokensimServer) -> str:
    """The server's base URL on a loopback socket (the same server and state as the other fixtures)."""
    return tokensim.url


@pytest.fixture
def tokensim_support_token(tokensim: TokensimServer) -> str:
    """The support API's bearer token (``Authorization: Bearer ...``)."""
    return tokensim.support_token
