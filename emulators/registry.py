"""Finds the device kinds: one module per kind in :mod:`tokensim.emulators.devices`.

Discovery imports every module of the package and takes the one concrete
:class:`~tokensim.emulators.base.Device` subclass each defines. It fails loudly: a module that does
not import, a module with no device class or with several, and two modules claiming the same kind all
raise :class:`RegistryError` naming the module, rather than leaving a kind silently missing.

Example:
    >>> "dsc-plus" in kinds()
    True
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import random
from collections.abc import Mapping

from tokensim.emulators.base import Device
from tokensim.protocol.clock import Clock
from tokensim.protocol.errors import InvalidParameter, TokensimError
from tokensim.protocol.provisioning import Provisioning

__all__ = ["DEVICES_PACKAGE", "RegistryError", "create", "device_class", "discover", "kinds", "load"]

#: The package whose modules are the device kinds.
DEVICES_PACKAGE = "tokensim.emulators.devices"

_registry: dict[str, type[Device]] | None = None


class RegistryError(TokensimError, RuntimeError):
    """The device modules are broken: one does not import, defines no device or a duplicate kind."""


def _device_in(module_name: str) -> type[Device]:
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        # Never skip a broken module: a kind that silently disappears is worse than a loud failure.
        raise RegistryError(f"device module {module_name} failed to import: {e!r}") from e
    found = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Device)
        and obj.__module__ == module_name
        and not inspect.isabstract(obj)
    ]
    if len(found) != 1:
        names = ", ".join(sorted(cls.__name__ for cls in found)) or "none"
        raise RegistryError(
            f"device module {module_name} must define exactly one device class, found {names}"
        )
    device = found[0]
    if not isinstance(getattr(device, "kind", None), str) or not device.kind:
        raise RegistryError(f"{module_name}.{device.__name__} has no 'kind'")
    return device


def discover(package: str = DEVICES_PACKAGE) -> dict[str, type[Device]]:
    """Import every module of ``package`` and map each kind to its device class.

    Args:
        package: the dotted name of the package to search; tests point it at a temporary package.

    Raises:
        RegistryError: a module fails to import, defines no device class or several, or two modules
            define the same kind.
    """
    try:
        root = importlib.import_module(package)
    except Exception as e:
        raise RegistryError(f"device package {package} failed to import: {e!r}") from e
    found: dict[str, type[Device]] = {}
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda info: info.name):
        device = _device_in(f"{package}.{info.name}")
        if device.kind in found:
            first = found[device.kind]
            raise RegistryError(
                f"device kind {device.kind!r} is defined twice: by {first.__module__}.{first.__name__} "
                f"and {device.__module__}.{device.__name__}"
            )
        found[device.kind] = device
    return found


def _devices() -> dict[str, type[Device]]:
    global _registry
    if _registry is None:
        _registry = discover()
    return _registry


def kinds() -> list[str]:
    """Every registered kind, sorted.

    Raises:
        RegistryError: discovery failed (see :func:`discover`).
    """
    return sorted(_devices())


def device_class(kind: str) -> type[Device]:
    """The device class of ``kind`` (a :class:`~tokensim.protocol.provisioning.DeviceKind` value).

    Raises:
        InvalidParameter: no module defines that kind.
        RegistryError: discovery failed (see :func:`discover`).
    """
    devices = _devices()
    if kind not in devices:
        raise InvalidParameter(f"unknown device kind {kind!r}; known kinds are {', '.join(sorted(devices))}")
    return devices[kind]


def create(
    provisioning: Provisioning, *, clock: Clock | None = None, rng: random.Random | None = None
) -> Device:
    """A new device of the provisioning's kind, as enrolled by the server.

    Args:
        provisioning: what the server handed the device.
        clock: where the device reads the time; the system clock when ``None``.
        rng: where it draws random values; :class:`secrets.SystemRandom` when ``None``.

    Raises:
        InvalidParameter: no device of that kind exists, or the provisioning lacks what it needs.
    """
    return device_class(provisioning.kind.value).from_provisioning(provisioning, clock=clock, rng=rng)


def load(data: object, *, clock: Clock | None = None, rng: random.Random | None = None) -> Device:
    """Rebuild a device of any kind from what its ``save()`` returned.

    Args:
        data: the saved state (a JSON object with a ``kind``).
        clock: where the device reads the time; the system clock when ``None``.
        rng: where it draws random values; :class:`secrets.SystemRandom` when ``None``.

    Raises:
        InvalidParameter: the data is not a saved device, its kind is unknown, or it is damaged.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("kind"), str):
        raise InvalidParameter("saved device: expected a JSON object with a 'kind'")
    return device_class(data["kind"]).load(data, clock=clock, rng=rng)
