"""Every Secure Login System device as an emulated state machine.

:func:`create` makes a device of any kind from the server's provisioning and :func:`load` brings one
back from its saved state; :mod:`tokensim.emulators.devices` holds one module per kind, and
:class:`Device` is the contract they all keep. Saved states hold the device's secrets: they are the
user's own, like the physical device, and should be kept as carefully.
"""

from tokensim.emulators.base import KEYS, Device
from tokensim.emulators.registry import RegistryError, create, device_class, kinds, load

__all__ = ["KEYS", "Device", "RegistryError", "create", "device_class", "kinds", "load"]
