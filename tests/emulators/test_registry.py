"""Discovery of device modules: found by package, loud on broken modules and duplicate kinds."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tokensim.emulators import RegistryError, create, device_class, kinds, load
from tokensim.emulators.devices.dsc_plus import DscPlus
from tokensim.emulators.registry import DEVICES_PACKAGE, discover
from tokensim.protocol import DeviceKind, InvalidParameter, Provisioning

DEVICE_SOURCE = """
from typing import Any, ClassVar
from tokensim.emulators.base import Device, StateReader

class {name}(Device):
    kind: ClassVar[str] = {kind!r}

    def _render(self, now: float) -> str:
        return ""

    def _press(self, key: str, now: float) -> None:
        pass

    def _state(self) -> dict[str, Any]:
        return {{}}

    def _restore(self, state: StateReader) -> None:
        pass
"""

MakePackage = Callable[[dict[str, str]], str]


@pytest.fixture
def make_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakePackage]:
    """Write a throw-away package of device modules and return its name."""
    names: list[str] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(modules: dict[str, str]) -> str:
        name = f"tokensim_test_devices_{uuid.uuid4().hex}"
        folder = tmp_path / name
        folder.mkdir()
        (folder / "__init__.py").write_text("", encoding="utf-8")
        for module, source in modules.items():
            (folder / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        names.append(name)
        return name

    yield make
    for module in [m for m in sys.modules if any(m == n or m.startswith(n + ".") for n in names)]:
        del sys.modules[module]


def device(name: str, kind: str) -> str:
    return DEVICE_SOURCE.format(name=name, kind=kind)


def test_the_real_package_has_one_module_per_kind() -> None:
    found = discover(DEVICES_PACKAGE)
    assert sorted(found) == kinds()
    assert found["dsc-plus"] is DscPlus
    assert all(cls.kind == kind for kind, cls in found.items())


def test_a_package_of_devices_is_discovered(make_package: MakePackage) -> None:
    package = make_package({"first": device("First", "one"), "second": device("Second", "two")})
    found = discover(package)
    assert sorted(found) == ["one", "two"]
    assert found["one"].__name__ == "First"


def test_a_module_that_fails_to_import_fails_discovery(make_package: MakePackage) -> None:
    package = make_package({"good": device("Good", "one"), "broken": "import tokensim_no_such_module\n"})
    with pytest.raises(RegistryError, match=rf"{package}\.broken failed to import") as error:
        discover(package)
    assert isinstance(error.value.__cause__, ModuleNotFoundError)


def test_a_module_that_raises_while_importing_fails_discovery(make_package: MakePackage) -> None:
    package = make_package({"boom": "raise RuntimeError('half-written device')\n"})
    with pytest.raises(RegistryError, match="half-written device"):
        discover(package)


def test_two_modules_with_the_same_kind_fail_discovery(make_package: MakePackage) -> None:
    package = make_package({"a": device("A", "same"), "b": device("B", "same")})
    with pytest.raises(RegistryError, match=r"'same' is defined twice: by .*\.a\.A and .*\.b\.B"):
        discover(package)


@pytest.mark.parametrize(
    "source",
    ["X = 1\n", device("A", "one") + device("B", "two"), device("A", "")],
    ids=["no device", "two devices", "empty kind"],
)
def test_a_module_must_define_exactly_one_device_with_a_kind(make_package: MakePackage, source: str) -> None:
    package = make_package({"odd": source})
    with pytest.raises(RegistryError, match=r"\.odd"):
        discover(package)


def test_imported_and_abstract_classes_are_not_devices(make_package: MakePackage) -> None:
    source = (
        "from tokensim.emulators.devices.dsc_plus import DscPlus\n"
        "from tokensim.emulators.challenge_response import OcraKeypadDevice\n"
    )
    package = make_package({"reexport": source + device("Own", "own")})
    assert list(discover(package)) == ["own"]


def test_a_missing_package_fails_discovery() -> None:
    with pytest.raises(RegistryError, match="failed to import"):
        discover("tokensim_no_such_package_anywhere")


def test_unknown_kinds_and_bad_saved_data_are_refused() -> None:
    with pytest.raises(InvalidParameter, match="unknown device kind 'toaster'"):
        device_class("toaster")
    for data in [None, [], {}, {"kind": 3}]:
        with pytest.raises(InvalidParameter):
            load(data)


def test_create_and_load_dispatch_on_the_kind() -> None:
    device = create(Provisioning(kind=DeviceKind.DSC_PLUS, serial="P", secret=bytes(20)))
    assert isinstance(device, DscPlus)
    assert isinstance(load(device.save()), DscPlus)
