"""One module per device kind; :mod:`tokensim.emulators.registry` finds them.

A module here defines exactly one concrete :class:`~tokensim.emulators.base.Device` subclass with its
``kind``; helpers shared by several kinds live one level up, in :mod:`tokensim.emulators`. Import a
device class from its module (``from tokensim.emulators.devices.dsc_plus import DscPlus``) or let
:func:`tokensim.emulators.create` pick it by kind.
"""

__all__: list[str] = []
