"""The verifier and the API never import the emulators; only the harness modules (CLI, harness, plugin) do."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"
HARNESS = {"harness.py", "cli.py", "pytest_plugin.py"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_harness_modules_import_the_emulators() -> None:
    offenders = []
    for path in SERVER.rglob("*.py"):
        harness = path.name in HARNESS or path.name.startswith("cli_")
        uses = {name for name in _imports(path) if name.startswith("tokensim.emulators")}
        uses |= {name for name in _imports(path) if name == "tokensim.server.harness"}
        if uses and not harness:
            offenders.append(path.name)
    assert offenders == []


def test_importing_the_api_and_client_loads_no_emulator() -> None:
    code = (
        "import sys, tokensim.server.api, tokensim.server.client, tokensim.server.service;"
        "print(sorted(m for m in sys.modules if m.startswith('tokensim.emulators')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_loading_the_pytest_plugin_imports_no_server_module() -> None:
    # pytest loads the plugin in every run of the environment: it must cost nothing until used.
    code = (
        "import sys, tokensim.server.pytest_plugin;"
        "print(sorted(m for m in sys.modules if m.startswith(('tokensim.emulators', 'tokensim.server.api',"
        " 'fastapi', 'sqlalchemy'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
