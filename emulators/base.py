"""The contract every emulated device keeps.

A :class:`Device` is a state machine. It is fed key presses (:meth:`Device.press`) or high-level calls
(``respond``, ``code``, ``approve``...), tells what its display shows (:attr:`Device.screen`), and
saves and restores its whole state as a JSON-able ``dict`` so a virtual device survives a restart.

Time and randomness are injected: a device reads the time only from its
:class:`~tokensim.protocol.clock.Clock` and draws random values only from its ``random.Random``. No
device runs a thread or a timer: a time-out (idle power-off, a code that leaves the display) is
evaluated against the clock each time :attr:`Device.screen` is read or a key is pressed, so a test
moves a :class:`~tokensim.protocol.clock.FixedClock` and reads the screen, and never sleeps.

The saved state holds the device's secrets (card secrets, OCRA and TOTP keys, private keys): they are
the user's own, exactly as the physical device in their pocket holds them, and the file should be
kept as carefully.

Saved state layout (every kind)::

    {"kind": "dsc-plus", "format": 1, "provisioning": {...}, "state": {...}}

``provisioning`` is :meth:`Provisioning.to_json`; ``state`` is whatever the kind keeps beyond it.
"""

from __future__ import annotations

import abc
import random
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from tokensim.protocol.clock import Clock, SystemClock
from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.provisioning import Provisioning

__all__ = ["KEYS", "STATE_FORMAT", "Device", "StateReader"]

#: Every key a device knows. ``PRESS`` is the power button (held: a press is a whole hold).
KEYS: tuple[str, ...] = ("PRESS", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "BACK", "OK")

#: Version of the saved-state layout; :meth:`Device.load` refuses any other.
STATE_FORMAT = 1

_MISSING = object()


class StateReader:
    """Typed reads from a saved state, so a damaged state file fails with a clear message.

    Args:
        data: the mapping to read.
        what: how errors name it (for example ``"dsc-plus state"``).

    Raises:
        InvalidParameter: ``data`` is not a mapping.
    """

    def __init__(self, data: object, what: str) -> None:
        if not isinstance(data, Mapping):
            raise InvalidParameter(f"{what}: expected a JSON object")
        self._data: Mapping[str, Any] = data
        self._what = what

    @property
    def data(self) -> Mapping[str, Any]:
        """The mapping being read."""
        return self._data

    def _get(self, key: str, kinds: tuple[type, ...], optional: bool) -> Any:
        value = self._data.get(key, _MISSING)
        if value is _MISSING or (optional and value is None):
            if optional:
                return None
            raise InvalidParameter(f"{self._what}: missing {key!r}")
        # JSON true/false are ints to Python: accept them only where a bool is wanted.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise InvalidParameter(f"{self._what}: {key!r} has the wrong type")
        return value

    def text(self, key: str) -> str:
        """The string at ``key``.

        Raises:
            InvalidParameter: it is missing or not a string.
        """
        value: str = self._get(key, (str,), optional=False)
        return value

    def optional_text(self, key: str) -> str | None:
        """The string at ``key``, or ``None`` when it is missing or null.

        Raises:
            InvalidParameter: it is present but not a string.
        """
        value: str | None = self._get(key, (str,), optional=True)
        return value

    def integer(self, key: str) -> int:
        """The integer at ``key``.

        Raises:
            InvalidParameter: it is missing or not an integer.
        """
        value: int = self._get(key, (int,), optional=False)
        return value

    def flag(self, key: str) -> bool:
        """The boolean at ``key``.

        Raises:
            InvalidParameter: it is missing or not a boolean.
        """
        value: bool = self._get(key, (bool,), optional=False)
        return value

    def number(self, key: str) -> float:
        """The number at ``key``, as a float.

        Raises:
            InvalidParameter: it is missing or not a number.
        """
        return float(self._get(key, (int, float), optional=False))

    def optional_number(self, key: str) -> float | None:
        """The number at ``key`` as a float, or ``None`` when it is missing or null.

        Raises:
            InvalidParameter: it is present but not a number.
        """
        value = self._get(key, (int, float), optional=True)
        return None if value is None else float(value)

    def hex(self, key: str) -> bytes:
        """The hex string at ``key``, decoded.

        Raises:
            InvalidParameter: it is missing or not hex.
        """
        text = self.text(key)
        try:
            return bytes.fromhex(text)
        except ValueError as e:
            raise InvalidParameter(f"{self._what}: {key!r} is not hex") from e

    def optional_hex(self, key: str) -> bytes | None:
        """Like :meth:`hex`, or ``None`` when it is missing or null.

        Raises:
            InvalidParameter: it is present but not hex.
        """
        if self.optional_text(key) is None:
            return None
        return self.hex(key)

    def items(self, key: str) -> list[Any]:
        """The list at ``key``.

        Raises:
            InvalidParameter: it is missing or not a list.
        """
        value: list[Any] = self._get(key, (list,), optional=False)
        return value

    def readers(self, key: str) -> list[StateReader]:
        """A reader over each object in the list at ``key``.

        Raises:
            InvalidParameter: it is missing, not a list, or holds something other than objects.
        """
        return [StateReader(item, f"{self._what}.{key}[{i}]") for i, item in enumerate(self.items(key))]

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        """The string at ``key``, which must be one of ``allowed``.

        Raises:
            InvalidParameter: it is missing, not a string, or not allowed.
        """
        value = self.text(key)
        if value not in allowed:
            raise InvalidParameter(f"{self._what}: {key!r} must be one of {', '.join(allowed)}")
        return value

    def reader(self, key: str) -> StateReader:
        """A reader over the object at ``key``.

        Raises:
            InvalidParameter: it is missing or not an object.
        """
        return StateReader(self._get(key, (Mapping,), optional=False), f"{self._what}.{key}")


class Device(abc.ABC):
    """Base class of every emulated device.

    A subclass sets :attr:`kind`, takes its :class:`Provisioning` in ``__init__`` and implements
    :meth:`_render`, :meth:`_press`, :meth:`_state` and :meth:`_restore`; it overrides :meth:`_update`
    when it has time-outs.

    Args:
        provisioning: what the server handed the device at enrolment; its kind must be :attr:`kind`.
        clock: where the device reads the time; the system clock when ``None``.
        rng: where the device draws random values; :class:`secrets.SystemRandom` when ``None``.

    Raises:
        InvalidParameter: the provisioning is for another kind of device.
    """

    #: The :class:`~tokensim.protocol.provisioning.DeviceKind` value of this device, e.g. ``"dsc-plus"``.
    kind: ClassVar[str]

    def __init__(
        self, provisioning: Provisioning, *, clock: Clock | None = None, rng: random.Random | None = None
    ) -> None:
        if provisioning.kind.value != self.kind:
            raise InvalidParameter(
                f"provisioning is for a {provisioning.kind.value!r} device, not {self.kind!r}"
            )
        self._provisioning = provisioning
        self._clock: Clock = SystemClock() if clock is None else clock
        self._rng: random.Random = secrets.SystemRandom() if rng is None else rng

    @classmethod
    def from_provisioning(
        cls, provisioning: Provisioning, *, clock: Clock | None = None, rng: random.Random | None = None
    ) -> Self:
        """A new device in its factory state, as enrolled by the server.

        Raises:
            InvalidParameter: the provisioning is for another kind or lacks a field this kind needs.
        """
        return cls(provisioning, clock=clock, rng=rng)

    @property
    def serial(self) -> str:
        """The serial number printed on the device."""
        return self._provisioning.serial

    @property
    def provisioning(self) -> Provisioning:
        """What the device was enrolled with."""
        return self._provisioning

    @property
    def clock(self) -> Clock:
        """The clock the device reads."""
        return self._clock

    @property
    def screen(self) -> str:
        """What the display shows now (an empty string when it is off or blank).

        Time-outs that have passed by the clock's current time take effect first.
        """
        now = self._clock.now()
        self._update(now)
        return self._render(now)

    @property
    def display_deadline(self) -> float | None:
        """Unix time at which the display next changes by itself, or ``None`` when nothing is pending.

        Time-outs that have passed by the clock's current time take effect first.
        """
        now = self._clock.now()
        self._update(now)
        return self._next_change(now)

    def press(self, key: str) -> None:
        """Press one key: ``"PRESS"`` (power), ``"0"`` to ``"9"``, ``"BACK"`` or ``"OK"``.

        Time-outs that have passed take effect before the key does. A device never raises for a key
        that it simply ignores in its current state; it only shows what the real one would.

        Raises:
            InvalidParameter: ``key`` is not one of :data:`KEYS`.
        """
        if key not in KEYS:
            raise InvalidParameter(f"unknown key {key!r}; keys are {', '.join(KEYS)}")
        now = self._clock.now()
        self._update(now)
        self._press(key, now)

    def save(self) -> dict[str, Any]:
        """The whole state of the device as a JSON-able ``dict``, secrets included (the user's own)."""
        return {
            "kind": self.kind,
            "format": STATE_FORMAT,
            "provisioning": self._provisioning.to_json(),
            "state": self._state(),
        }

    @classmethod
    def load(cls, data: object, *, clock: Clock | None = None, rng: random.Random | None = None) -> Self:
        """Rebuild a device from :meth:`save`'s output.

        Raises:
            InvalidParameter: the data is for another kind, another format, or damaged.
        """
        reader = StateReader(data, f"{cls.kind} saved state")
        if reader.text("kind") != cls.kind:
            raise InvalidParameter(f"saved state is for a {reader.text('kind')!r} device, not {cls.kind!r}")
        if reader.integer("format") != STATE_FORMAT:
            raise InvalidParameter(f"saved state format {reader.integer('format')} is not {STATE_FORMAT}")
        provisioning = Provisioning.from_json(reader.reader("provisioning").data)
        device = cls(provisioning, clock=clock, rng=rng)
        device._restore(reader.reader("state"))
        return device

    def _update(self, now: float) -> None:  # noqa: B027 - a hook: devices without time-outs keep it empty
        """Apply every time-out that has passed by ``now``."""

    def _next_change(self, now: float) -> float | None:
        """When the display next changes by itself, after :meth:`_update`; ``None`` for never."""
        return None

    @abc.abstractmethod
    def _render(self, now: float) -> str:
        """The display text, after :meth:`_update`."""

    @abc.abstractmethod
    def _press(self, key: str, now: float) -> None:
        """React to a valid key, after :meth:`_update`."""

    @abc.abstractmethod
    def _state(self) -> dict[str, Any]:
        """The JSON-able state beyond the provisioning."""

    @abc.abstractmethod
    def _restore(self, state: StateReader) -> None:
        """Take back what :meth:`_state` returned.

        Raises:
            InvalidParameter: the state is damaged.
        """

    def __repr__(self) -> str:
        # Never the secrets: a repr ends up in logs and tracebacks.
        return f"{type(self).__name__}(serial={self.serial!r})"
