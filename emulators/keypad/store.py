"""The keypad's state file: the QA person's virtual devices, kept between runs.

The file is JSON::

    {"format": 1, "devices": [<Device.save()>, ...], "cursors": {"phone:+15550001": 12}}

one entry per device, each exactly what :meth:`~tokensim.emulators.base.Device.save` returned, and the
keypad's own bookmarks (the last outbox message each phone took, so a message is delivered once). It holds
the devices' secrets (card secrets, OCRA and TOTP keys, IB Key private keys): they are the user's own,
like the physical devices in a pocket, so the file is written with mode 0600 and should be kept as
carefully. It goes to :func:`default_state_path` unless ``--state`` names another.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from tokensim.emulators.base import Device, StateReader
from tokensim.emulators.registry import load
from tokensim.protocol.clock import Clock
from tokensim.protocol.errors import InvalidParameter

__all__ = ["STATE_ENV", "STORE_FORMAT", "DeviceStore", "default_state_path"]

#: Version of the state file's layout.
STORE_FORMAT = 1
#: Environment variable naming the state file; it wins over the default location.
STATE_ENV = "TOKENSIM_KEYPAD_STATE"


def default_state_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the state file lives when ``--state`` is not given.

    ``$TOKENSIM_KEYPAD_STATE`` when set, else ``$XDG_STATE_HOME/tokensim/keypad.json``, else
    ``~/.local/state/tokensim/keypad.json``.

    Args:
        environ: the environment to read; :data:`os.environ` when ``None``.
    """
    env = os.environ if environ is None else environ
    if env.get(STATE_ENV):
        return Path(env[STATE_ENV]).expanduser()
    base = env.get("XDG_STATE_HOME") or str(Path("~/.local/state").expanduser())
    return Path(base) / "tokensim" / "keypad.json"


class DeviceStore:
    """The devices the keypad shows, and where they are saved.

    Args:
        devices: the devices, in the order their faces appear.
        path: the state file; ``None`` keeps them in memory only.
    """

    def __init__(
        self,
        devices: Iterable[Device] = (),
        path: Path | None = None,
        cursors: Mapping[str, int] | None = None,
    ) -> None:
        self._devices = list(devices)
        self._path = path
        self._cursors = dict(cursors or {})

    @property
    def path(self) -> Path | None:
        """The state file, or ``None`` for an in-memory store."""
        return self._path

    @property
    def devices(self) -> list[Device]:
        """Every device, in order (a copy: use :meth:`add` to add one)."""
        return list(self._devices)

    def of_kind(self, *kinds: str) -> list[Device]:
        """The devices whose kind is one of ``kinds``, in order."""
        return [device for device in self._devices if device.kind in kinds]

    def add(self, device: Device) -> None:
        """Add a device after the others.

        Raises:
            InvalidParameter: a device of the same kind and serial is already there.
        """
        if any(d.kind == device.kind and d.serial == device.serial for d in self._devices):
            raise InvalidParameter(f"a {device.kind} with serial {device.serial!r} is already in the keypad")
        self._devices.append(device)

    def cursor(self, name: str) -> int:
        """A bookmark the keypad keeps between runs (0 when never set)."""
        return self._cursors.get(name, 0)

    def set_cursor(self, name: str, value: int) -> None:
        """Move a bookmark; it is saved with the devices."""
        self._cursors[name] = value

    @classmethod
    def open(cls, path: Path, *, clock: Clock | None = None, rng: random.Random | None = None) -> DeviceStore:
        """Read the state file at ``path``; a file that does not exist yet gives an empty store.

        Args:
            path: the state file.
            clock: the clock every device reads; the system clock when ``None``.
            rng: where the devices draw random values; the system's when ``None``.

        Raises:
            InvalidParameter: the file is not a keypad state file, or a device in it is damaged.
        """
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls((), path)
        except OSError as e:
            raise InvalidParameter(f"{path}: cannot read the keypad state: {e.strerror}") from e
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidParameter(f"{path}: not JSON ({e.msg}, line {e.lineno})") from e
        reader = StateReader(data, f"{path}")
        if reader.integer("format") != STORE_FORMAT:
            raise InvalidParameter(f"{path}: state format {reader.integer('format')} is not {STORE_FORMAT}")
        devices = [load(item, clock=clock, rng=rng) for item in reader.items("devices")]
        cursors = reader.data.get("cursors", {})
        if not isinstance(cursors, Mapping) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in cursors.values()
        ):
            raise InvalidParameter(f"{path}: 'cursors' must map names to integers")
        return cls(devices, path, cursors)

    def to_json(self) -> dict[str, object]:
        """The state file's JSON object, secrets included."""
        return {
            "format": STORE_FORMAT,
            "devices": [device.save() for device in self._devices],
            "cursors": dict(self._cursors),
        }

    def save(self) -> None:
        """Write every device to the state file (mode 0600, replaced atomically); in memory, do nothing.

        Raises:
            InvalidParameter: the file cannot be written.
        """
        if self._path is None:
            return
        text = json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".keypad-", suffix=".json", dir=self._path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp already made it 0600
                    out.write(text)
                os.replace(temporary, self._path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as e:
            raise InvalidParameter(f"{self._path}: cannot save the keypad state: {e.strerror}") from e

    def __repr__(self) -> str:
        return f"DeviceStore(path={self._path!r}, devices={len(self._devices)})"
