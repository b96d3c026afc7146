"""A device row read four ways: its public view, the verifier's view, its opened secrets, its provisioning.

What the services hand out (:class:`~tokensim.server.views.DeviceView`) and what they give the
verifier (:class:`~tokensim.server.verify.DeviceState`, :class:`~tokensim.server.verify.DeviceSecrets`)
are all built here from a :class:`~tokensim.server.storage.models.Device`, so every service reads a
row the same way.
"""

from __future__ import annotations

from tokensim.protocol.otp import HashAlgorithm
from tokensim.protocol.provisioning import DeviceKind, Provisioning
from tokensim.server.core import Core
from tokensim.server.rules import LEGACY_KINDS
from tokensim.server.storage.models import Device
from tokensim.server.verify import DeviceSecrets, DeviceState
from tokensim.server.views import DeviceView

__all__ = ["device_provisioning", "device_secrets", "device_state", "device_view"]


def device_view(device: Device, *, owner: str | None = None) -> DeviceView:
    """The public view of a device row (``owner``: the owner's username, for a shared device)."""
    return DeviceView(
        id=device.id,
        kind=device.kind,
        serial=device.serial,
        label=device.label,
        status=device.status,
        number=device.number,
        issued_at=device.issued_at,
        expires_at=device.expires_at,
        activated_at=device.activated_at,
        locked_until=device.locked_until,
        activate_by=device.activate_by,
        condition=device.condition,
        owner=owner,
        legacy=device.kind in LEGACY_KINDS,
    )


def device_state(device: Device) -> DeviceState:
    """The verifier's view of a device row."""
    return DeviceState(
        kind=device.kind,
        suite=device.suite,
        digits=device.digits,
        step=device.step,
        algorithm=device.algorithm,
        counter=device.counter,
        last_step=device.last_step,
    )


def device_secrets(core: Core, device: Device) -> DeviceSecrets:
    """Open a device's sealed secrets (none for a device that holds none yet)."""
    if device.secrets is None:
        return DeviceSecrets()
    return DeviceSecrets.from_bytes(core.keys.open(device.secrets, "devices", device.id, "secrets"))


def device_provisioning(core: Core, device: Device) -> Provisioning:
    """What a device was provisioned with, its secrets opened: for the board, the app, an export."""
    secrets = device_secrets(core, device)
    return Provisioning(
        kind=DeviceKind(device.kind),
        serial=device.serial,
        secret=secrets.secret,
        suite=device.suite,
        digits=device.digits,
        step=device.step,
        algorithm=HashAlgorithm.parse(device.algorithm),
        totp_secret=secrets.totp_secret,
        issued_at=device.issued_at if device.expires_at is not None else None,
        expires_at=device.expires_at,
        firmware=device.firmware,
        number=device.number,
    )
