"""The Digital Security Card+ (DSC+): PIN and 6-digit challenge in, 8-digit response out.

Current firmware: ``PRESS``, ``PIN>``, 4 digits, ``OK``, ``CHALLNG>``, 6 digits, ``OK``, and the
8-digit response. The suite is ``OCRA-1:HOTP-SHA1-8:QN06-PSHA1`` unless the provisioning names
another: the typed PIN is folded into the response and the card never stores or checks it, so a wrong
PIN gives a wrong response (the server refuses it), as the user guide describes. The keypad rules and
the idle power-off are those of :mod:`tokensim.emulators.challenge_response`.

Older firmware (``provisioning.firmware == "legacy"``): the prompts are ``Pn`` and ``Ch``, and the
response is shown in two parts, its first five digits and then its last three, switching every
:attr:`DscPlus.TOGGLE_SECONDS` seconds by itself and at every ``OK``.

The suite, the display formats and the time-outs are tokensim's emulation choices built on the open
OCRA standard (RFC 6287), not the vendor's algorithm, which is not published.

Example:
    >>> from tokensim.protocol import FixedClock, Provisioning, DeviceKind
    >>> card = DscPlus(Provisioning(kind=DeviceKind.DSC_PLUS, serial="P-1", secret=bytes(20)),
    ...                clock=FixedClock(0))
    >>> card.press("PRESS"); card.screen
    'PIN>'
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from tokensim.emulators.base import StateReader
from tokensim.emulators.challenge_response import OcraKeypadDevice
from tokensim.protocol.clock import Clock
from tokensim.protocol.provisioning import Provisioning

__all__ = ["DscPlus"]


class DscPlus(OcraKeypadDevice):
    """A DSC+ card; see the module docstring for its keys and display.

    Args:
        provisioning: serial, secret, optionally suite and ``firmware`` (``"current"`` or ``"legacy"``).
        clock: where the card reads the time (idle power-off, the older firmware's display toggle).
        rng: unused by the card; kept for the common contract.
    """

    kind: ClassVar[str] = "dsc-plus"
    #: Seconds between the older firmware's switches from the first five digits to the last three.
    TOGGLE_SECONDS: ClassVar[float] = 10.0
    #: How many digits the older firmware shows first; the rest follow.
    FIRST_PART: ClassVar[int] = 5

    def __init__(
        self, provisioning: Provisioning, *, clock: Clock | None = None, rng: random.Random | None = None
    ) -> None:
        super().__init__(provisioning, clock=clock, rng=rng)
        self._toggles = 0

    @property
    def legacy(self) -> bool:
        """Whether the card runs the older firmware (``Pn``/``Ch``, split response)."""
        return self._provisioning.firmware == "legacy"

    def _pin_prompt(self) -> str:
        return "Pn" if self.legacy else "PIN>"

    def _challenge_prompt(self) -> str:
        return "Ch" if self.legacy else "CHALLNG>"

    def _show_response(self, now: float) -> str:
        if not self.legacy or self._shown_at is None:
            return self._response
        # Which half shows: one switch per elapsed period plus one per OK press.
        periods = int((now - self._shown_at) // self.TOGGLE_SECONDS)
        if (periods + self._toggles) % 2 == 0:
            return self._response[: self.FIRST_PART]
        return self._response[self.FIRST_PART :]

    def _next_change(self, now: float) -> float | None:
        deadline = super()._next_change(now)
        if not self.legacy or self._mode != "response" or self._shown_at is None:
            return deadline
        periods = (now - self._shown_at) // self.TOGGLE_SECONDS
        toggle = self._shown_at + (periods + 1) * self.TOGGLE_SECONDS
        return toggle if deadline is None else min(toggle, deadline)

    def _response_ok(self, now: float) -> None:
        if self.legacy:
            self._toggles += 1

    def _power_off(self) -> None:
        super()._power_off()
        self._toggles = 0

    def _compute(self, now: float) -> None:
        super()._compute(now)
        self._toggles = 0

    def _state(self) -> dict[str, Any]:
        return super()._state() | {"toggles": self._toggles}

    def _restore(self, state: StateReader) -> None:
        super()._restore(state)
        self._toggles = state.integer("toggles")
