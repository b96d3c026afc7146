"""The shape of the distribution: package list, public names, dependency direction, doctests."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIRS = {
    "tokensim.protocol": "protocol",
    "tokensim.emulators": "emulators",
    "tokensim.server": "server",
}


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _all_modules() -> list[ModuleType]:
    modules = []
    for package_name in PACKAGE_DIRS:
        package = importlib.import_module(package_name)
        modules.append(package)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            modules.append(importlib.import_module(info.name))
    return modules


def test_every_folder_with_an_init_is_a_listed_package() -> None:
    # setuptools finds no subpackage under a package-dir mapping by itself; an editable install hides
    # a missing entry that a wheel then lacks.
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])  # type: ignore[index]
    found = set()
    for package, folder in PACKAGE_DIRS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *relative.parts]))
    assert listed == found


def test_each_code_folder_ships_py_typed() -> None:
    for folder in PACKAGE_DIRS.values():
        assert (ROOT / folder / "py.typed").exists()


def _public_names(module: ModuleType) -> set[str]:
    """Names a module defines or re-exports at top level, read from its source, without a leading _."""
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif (
            isinstance(node, ast.ImportFrom)
            and hasattr(module, "__path__")
            and (node.module or "").startswith(module.__name__)
        ):
            # A package's __init__ re-exports what it imports from its own modules.
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # Any module re-exports a name imported as itself (``from m import X as X``, PEP 484's form).
            names.update(alias.name for alias in node.names if alias.asname == alias.name)
    # ``logger = logging.getLogger(__name__)`` is the logging idiom, not part of a module's API.
    return {name for name in names if not name.startswith("_") and name != "logger"}


@pytest.mark.parametrize("module", _all_modules(), ids=lambda m: m.__name__)
def test_all_lists_exactly_the_public_names(module: ModuleType) -> None:
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{module.__name__} has no __all__"
    assert len(exported) == len(set(exported)), "duplicates in __all__"
    assert [name for name in exported if not hasattr(module, name)] == []
    assert set(exported) == _public_names(module)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


_CLOCK_READS = {"time", "monotonic", "perf_counter", "now", "utcnow", "today"}


def _clock_reads(path: Path) -> list[str]:
    """Calls such as ``time.time()`` or ``datetime.now()`` in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _CLOCK_READS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in {"time", "datetime", "date"}
        ):
            found.append(f"{node.func.value.id}.{node.func.attr}()")
    return found


def test_protocol_is_pure() -> None:
    forbidden = {"socket", "serial", "threading", "asyncio", "subprocess", "os", "select", "time"}
    for path in (ROOT / "protocol").rglob("*.py"):
        imported = _imports(path)
        roots = {name.split(".")[0] for name in imported}
        project = {
            name
            for name in imported
            if name.startswith("tokensim.") and not name.startswith("tokensim.protocol")
        }
        assert project == set(), f"{path.name} imports {project}"
        # SystemClock is the one place the clock is read; everything else is handed the time.
        allowed = {"time"} if path.name == "clock.py" else set()
        assert roots & forbidden <= allowed, f"{path.name} imports {roots & forbidden}"
        if path.name != "clock.py":
            assert _clock_reads(path) == [], f"{path.name} reads the clock"


def test_emulators_never_import_the_server() -> None:
    for path in (ROOT / "emulators").rglob("*.py"):
        assert not any(name.startswith("tokensim.server") for name in _imports(path)), path.name


@pytest.mark.parametrize("module", _all_modules(), ids=lambda m: m.__name__)
def test_doctests(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
