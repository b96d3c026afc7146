"""The Platinum device (legacy): a keypad challenge-response token bound to the time.

Our emulation: the suite ``OCRA-1:HOTP-SHA512-8:QN08-PSHA256-T1M`` unless the provisioning names
another, so an 8-digit challenge and a 4-digit PIN give an 8-digit response that also folds in the
one-minute time step read from the injected clock at the moment OK is pressed. The keys, prompts and
idle power-off are those of :mod:`tokensim.emulators.challenge_response`. None of this is the vendor's
published algorithm.
"""

from __future__ import annotations

from typing import ClassVar

from tokensim.emulators.challenge_response import OcraKeypadDevice

__all__ = ["Platinum"]


class Platinum(OcraKeypadDevice):
    """A Platinum device.

    Args:
        provisioning: serial, secret and optionally suite.
        clock: where the device reads the time (the ``T1M`` input and idle power-off).
        rng: unused by the device; kept for the common contract.
    """

    kind: ClassVar[str] = "platinum"
