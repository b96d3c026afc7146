"""Device secrets in and out of the store: PSKC export and import, and the secrets of otpauth URIs.

``tokensim devices export``, ``import`` and ``otpauth`` work on the database directly, opened with the
master key, and never through the HTTP API. Reading a device's secret needs the master key anyway;
an API endpoint that returned secrets would let anyone holding the support token (a bearer token
sent with every support request) copy every device, which is a wider circle than the people who hold
the master key. So secrets leave, and arrive, only where the master key already is.

An import is all or nothing: the PSKC file is decrypted and every MAC checked first
(:func:`tokensim.protocol.pskc.read_pskc`), then every device is written in one transaction, so a
tampered file, a serial already enrolled or a device tokensim cannot hold imports nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select

from tokensim.protocol.errors import InvalidDocument, InvalidParameter
from tokensim.protocol.ocra import OcraSuite
from tokensim.protocol.provisioning import DeviceKind, Provisioning
from tokensim.protocol.pskc import (
    OCRA_ALGORITHM,
    PskcKey,
    from_pskc_keys,
    read_pskc,
    to_pskc_keys,
    write_pskc,
)
from tokensim.server.core import Core
from tokensim.server.device_rows import device_provisioning, device_view
from tokensim.server.errors import AlreadyExists, NotFound
from tokensim.server.storage.models import Device, User
from tokensim.server.verify import DeviceSecrets
from tokensim.server.views import DeviceView

__all__ = [
    "EXPORTABLE_KINDS",
    "IMPORTABLE_KINDS",
    "TIME_BASED_KINDS",
    "StoredDevice",
    "export_pskc",
    "import_pskc",
    "stored_devices",
]

#: Kinds whose secrets can be exported (a phone has none; a temporary passcode is only a hash).
EXPORTABLE_KINDS = frozenset({"scc", "online-scc", "dsc", "dsc-plus", "gold", "platinum", "ib-key"})
#: Kinds a PSKC file can bring in. An IB Key is not among them: it activates from the app, which
#: makes its own signing key, so a file cannot make one.
IMPORTABLE_KINDS = frozenset({"scc", "online-scc", "dsc", "dsc-plus", "gold", "platinum"})
#: Kinds with a time-based code an authenticator app can produce (DSC; IB Key's time code).
TIME_BASED_KINDS = frozenset({"dsc", "ib-key"})


@dataclass(frozen=True, slots=True)
class StoredDevice:
    """A device read back from the store with its secrets.

    Attributes:
        username: whose device.
        device_id: the server's identifier.
        status: ``pending`` or ``active``.
        provisioning: the device's secrets and parameters.
        counter: the counter of a counter-based OCRA suite (Gold).
    """

    username: str
    device_id: str
    status: str
    provisioning: Provisioning
    counter: int | None = None

    def __repr__(self) -> str:
        return f"StoredDevice(username={self.username!r}, device_id={self.device_id!r})"


def stored_devices(
    core: Core, *, username: str | None = None, device_ids: Sequence[str] = ()
) -> list[StoredDevice]:
    """The exportable devices that are not revoked: one user's, the ones named, or everyone's.

    Raises:
        NotFound: no such user, or a named device is not there (or holds no secret to export).
    """
    query = (
        select(Device, User.username)
        .join(User, User.id == Device.user_id)
        .where(Device.status != "revoked", Device.kind.in_(EXPORTABLE_KINDS), Device.secrets.is_not(None))
        .order_by(User.username, Device.created_at)
    )
    with core.db.read() as session:
        if username is not None:
            if session.scalar(select(User.id).where(User.username == username)) is None:
                raise NotFound(f"no user {username!r}")
            query = query.where(User.username == username)
        if device_ids:
            query = query.where(Device.id.in_(device_ids))
        rows = session.execute(query).all()
    found = {device.id for device, _name in rows}
    missing = [device_id for device_id in device_ids if device_id not in found]
    if missing:
        raise NotFound(f"no device with a secret to export: {', '.join(missing)}")
    result = []
    for device, name in rows:
        if device.kind == DeviceKind.IB_KEY.value and device.status != "active":
            continue  # its keys are made at activation
        provisioning = device_provisioning(core, device)
        result.append(StoredDevice(name, device.id, device.status, provisioning, device.counter))
    return result


def export_pskc(
    devices: Sequence[StoredDevice],
    *,
    key: bytes | None = None,
    passphrase: str | None = None,
    iterations: int = 100_000,
) -> bytes:
    """The devices as a PSKC document: plain, under a pre-shared AES key, or under a passphrase.

    A counter-based OCRA key carries its counter, so the device goes on where it was.
    """
    keys: list[PskcKey] = []
    for stored in devices:
        for item in to_pskc_keys(stored.provisioning):
            if item.algorithm == OCRA_ALGORITHM and stored.counter is not None:
                item = replace(item, counter=stored.counter)
            keys.append(item)
    return write_pskc(keys, key=key, passphrase=passphrase, iterations=iterations)


def _needs_pin(provisioning: Provisioning) -> bool:
    return provisioning.suite is not None and OcraSuite.parse(provisioning.suite).pin_algorithm is not None


def import_pskc(
    core: Core,
    username: str,
    data: bytes,
    *,
    key: bytes | None = None,
    passphrase: str | None = None,
    pin: str | None = None,
) -> list[DeviceView]:
    """Enroll every device of a PSKC document for ``username``, active at once; all or none.

    Args:
        core: the server's shared parts.
        username: who gets the devices.
        data: the PSKC document.
        key: the pre-shared AES-128 key, for a file encrypted with one.
        passphrase: the passphrase, for a file encrypted under PBKDF2.
        pin: the PIN of devices whose OCRA suite folds one into the answer (DSC+, Gold, Platinum).

    Raises:
        InvalidDocument: the file is malformed, tampered, undecryptable, empty, or holds a device
            tokensim cannot import.
        InvalidParameter: a device needs a PIN and none (or a malformed one) was given.
        NotFound: no such user.
        AlreadyExists: a serial in the file is enrolled already.
    """
    keys = read_pskc(data, key=key, passphrase=passphrase)
    devices = from_pskc_keys(keys)
    if not devices:
        raise InvalidDocument("the PSKC file holds no device")
    counters = {item.serial or item.id: item.counter for item in keys if item.counter is not None}
    for provisioning in devices:
        if provisioning.kind.value not in IMPORTABLE_KINDS:
            raise InvalidDocument(
                f"device {provisioning.serial!r} is a {provisioning.kind.value}, which cannot be imported"
                " (an IB Key activates from its app)"
            )
        if not provisioning.secret:
            raise InvalidDocument(f"device {provisioning.serial!r} has an empty secret")
    if any(_needs_pin(p) for p in devices) and (pin is None or not (len(pin) == 4 and pin.isdigit())):
        raise InvalidParameter("the file holds devices whose answers fold in a PIN: give their 4-digit PIN")
    now = core.clock.now()
    made: list[Device] = []
    with core.db.write() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no user {username!r}")
        serials = [p.serial for p in devices]
        taken = list(session.scalars(select(Device.serial).where(Device.serial.in_(serials))))
        if taken or len(set(serials)) != len(serials):
            repeated = sorted(set(taken) | {s for s in serials if serials.count(s) > 1})
            raise AlreadyExists(f"serial {', '.join(repeated)} is enrolled already; nothing was imported")
        for provisioning in devices:
            device_id = core.new_id()
            suite = provisioning.suite
            secrets = DeviceSecrets(
                secret=provisioning.secret,
                totp_secret=provisioning.totp_secret,
                pin=pin if _needs_pin(provisioning) else None,
            )
            counter = None
            if suite is not None and OcraSuite.parse(suite).counter:
                counter = counters.get(provisioning.serial) or 0
            device = Device(
                id=device_id,
                user_id=user.id,
                kind=provisioning.kind.value,
                serial=provisioning.serial,
                label=provisioning.kind.value,
                status="active",
                secrets=core.keys.seal(secrets.to_bytes(), "devices", device_id, "secrets"),
                suite=suite,
                digits=provisioning.digits,
                step=provisioning.step,
                algorithm=provisioning.algorithm.value,
                firmware=provisioning.firmware,
                counter=counter,
                failures=0,
                lockouts=0,
                issued_at=now if provisioning.issued_at is None else provisioning.issued_at,
                expires_at=provisioning.expires_at,
                created_at=now,
                activated_at=now,
            )
            session.add(device)
            session.flush()
            core.audit.record(
                session,
                now,
                "device.imported",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=username,
                device_id=device_id,
                detail={"kind": provisioning.kind.value, "serial": provisioning.serial, "format": "pskc"},
            )
            made.append(device)
    return [device_view(device) for device in made]
