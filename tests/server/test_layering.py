"""The server's rooms depend one way: cli and testing on http, http on the domain, the domain on storage.

- Only the harness rooms (``cli/``, ``testing/`` and the ``pytest_plugin`` entry point) import the
  emulators: the verifier and the API never do.
- The domain (the modules at ``server/`` top level, and the ``views`` package) never imports
  ``http``, ``cli`` or ``testing``.
- ``http`` never imports ``cli`` or ``testing``.
- ``storage`` imports nothing of the server outside itself.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "server"
HARNESS_ROOMS = {"cli", "testing"}
HARNESS_MODULES = {"pytest_plugin.py"}
#: Modules at the top level that are not domain: the plugin's entry point (a harness module).
NOT_DOMAIN = {"pytest_plugin.py"}
#: Packages under ``server/`` that belong to the domain rather than being rooms of their own.
DOMAIN_PACKAGES = {"views"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _room(path: Path) -> str:
    """The room of a module: its first folder under ``server/``, or ``domain`` at the top level."""
    parts = path.relative_to(SERVER).parts
    return parts[0] if len(parts) > 1 and parts[0] not in DOMAIN_PACKAGES else "domain"


def _modules(room: str) -> list[Path]:
    found = [p for p in SERVER.rglob("*.py") if _room(p) == room and p.name not in NOT_DOMAIN]
    assert found, f"no module in the {room!r} room"
    return found


def _offenders(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{path.relative_to(SERVER) if path.is_relative_to(SERVER) else path.name} imports {name}"
        for path in paths
        for name in _imports(path)
        if name.startswith(forbidden)
    )


def test_only_harness_modules_import_the_emulators() -> None:
    not_harness = [
        p for p in SERVER.rglob("*.py") if _room(p) not in HARNESS_ROOMS and p.name not in HARNESS_MODULES
    ]
    assert _offenders(not_harness, ("tokensim.emulators", "tokensim.server.testing")) == []


@pytest.mark.parametrize(
    ("room", "forbidden"),
    [
        ("domain", ("tokensim.server.http", "tokensim.server.cli", "tokensim.server.testing")),
        ("http", ("tokensim.server.cli", "tokensim.server.testing")),
        ("storage", ("tokensim.server.",)),
    ],
)
def test_each_room_imports_only_the_rooms_below_it(room: str, forbidden: tuple[str, ...]) -> None:
    paths = _modules(room)
    if room == "storage":
        # storage may import its own modules, and nothing else of the server
        offenders = [o for o in _offenders(paths, forbidden) if " imports tokensim.server.storage" not in o]
    else:
        offenders = _offenders(paths, forbidden)
    assert offenders == []


def test_every_module_is_in_a_known_room() -> None:
    # A new subpackage must be placed in the rules above, not left unchecked.
    rooms = {_room(path) for path in SERVER.rglob("*.py")}
    assert rooms == {"domain", "http", "cli", "storage", "testing"}


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    fake = tmp_path / "fake.py"
    fake.write_text("import os\nfrom tokensim.server.http.app import create_app\n", encoding="utf-8")
    assert _offenders([fake], ("tokensim.server.http",)) == ["fake.py imports tokensim.server.http.app"]
    assert _room(SERVER / "users.py") == "domain"
    assert _room(SERVER / "http" / "app.py") == "http"
    assert _room(SERVER / "views" / "login.py") == "domain"


def test_importing_the_api_and_client_loads_no_emulator() -> None:
    code = (
        "import sys, tokensim.server.http.app, tokensim.server.client, tokensim.server.service;"
        "print(sorted(m for m in sys.modules if m.startswith('tokensim.emulators')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_importing_the_domain_loads_no_http_module() -> None:
    # The service, and so every domain module, runs without FastAPI (``tokensim devices`` uses it).
    code = (
        "import sys, tokensim.server.service;"
        "print(sorted(m for m in sys.modules if m.startswith(('tokensim.server.http', 'fastapi'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_loading_the_pytest_plugin_imports_no_server_module() -> None:
    # pytest loads the plugin in every run of the environment: it must cost nothing until used.
    code = (
        "import sys, tokensim.server.pytest_plugin;"
        "print(sorted(m for m in sys.modules if m.startswith(('tokensim.emulators', 'tokensim.server.http',"
        " 'fastapi', 'sqlalchemy'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
