"""The Gold device (legacy): a keypad challenge-response token with an event counter.

Our emulation: the suite ``OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1`` unless the provisioning names another,
so an 8-digit challenge and a 4-digit PIN give an 8-digit response; the device keeps a counter ``C``
that starts at 0 and advances on every computation (a wrong PIN included, since the device cannot tell),
and the server follows it with a look-ahead window. The keys, prompts and idle power-off are those of
:mod:`tokensim.emulators.challenge_response`. None of this is the vendor's published algorithm.
"""

from __future__ import annotations

from typing import ClassVar

from tokensim.emulators.challenge_response import OcraKeypadDevice

__all__ = ["Gold"]


class Gold(OcraKeypadDevice):
    """A Gold device; :attr:`counter` is the ``C`` its next response uses.

    Args:
        provisioning: serial, secret and optionally suite.
        clock: where the device reads the time (idle power-off).
        rng: unused by the device; kept for the common contract.
    """

    kind: ClassVar[str] = "gold"
