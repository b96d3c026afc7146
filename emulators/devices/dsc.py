"""The Digital Security Card (legacy): a PIN-locked card that shows a 6-digit time-based code.

The flow, as the published instructions describe it::

    off --PRESS (held)--> [ ] --4 digits--> [ - - - 9 ] --OK--> 6-digit code for ~15 s --> off

Our emulation choices (the real algorithm is not published):

* The code is TOTP (RFC 6238) with the provisioning's secret, digits, step and hash (by default
  SHA-1, 6 digits, 30 s), computed for the moment OK is pressed.
* The PIN (``provisioning.pin``, 4 digits) is checked on the device, in constant time. While typing,
  only the digit just typed is visible and earlier ones are dashes (``[ - - 3 _ ]``); after ``BACK``
  (which deletes the last digit) every typed digit is a dash. OK is ignored until 4 digits are typed.
* A wrong PIN shows ``PIN ERR n`` (n attempts left); the next digit starts a new PIN, ``OK`` or
  ``BACK`` go back to ``[ ]``. After :attr:`DigitalSecurityCard.PIN_ATTEMPTS` wrong PINs in a row the
  card is locked for good and only shows ``LOCKED``; a right PIN resets the count.
* The code stays on the display for :attr:`DigitalSecurityCard.DISPLAY_SECONDS`, then the card
  switches off; while entering the PIN it switches off after :attr:`DigitalSecurityCard.IDLE_SECONDS`
  without a key. ``PRESS`` on a card that is on switches it off.
"""

from __future__ import annotations

import hmac
import random
from typing import Any, ClassVar

from tokensim.emulators.base import Device, StateReader
from tokensim.protocol.clock import Clock
from tokensim.protocol.errors import DeviceLocked, InvalidParameter, InvalidPin
from tokensim.protocol.otp import check_key, totp
from tokensim.protocol.provisioning import Provisioning

__all__ = ["DigitalSecurityCard"]

_MODES = ("off", "pin", "error", "code", "locked")


def _digits(text: str) -> bool:
    return all(c in "0123456789" for c in text)


class DigitalSecurityCard(Device):
    """A Digital Security Card; see the module docstring for its keys, display and limits.

    Args:
        provisioning: serial, secret, the 4-digit ``pin``, and the TOTP ``digits``, ``step`` and
            ``algorithm``.
        clock: where the card reads the time (codes and time-outs).
        rng: unused by the card; kept for the common contract.

    Raises:
        InvalidParameter: the PIN is missing or not 4 digits, the key is shorter than 16 bytes, or the
            code length or step is out of range.
    """

    kind: ClassVar[str] = "dsc"
    #: Digits of the PIN.
    PIN_DIGITS: ClassVar[int] = 4
    #: Wrong PINs in a row that lock the card (our choice).
    PIN_ATTEMPTS: ClassVar[int] = 3
    #: Seconds the code stays on the display (the published "around 15 seconds").
    DISPLAY_SECONDS: ClassVar[float] = 15.0
    #: Seconds without a key after which a card waiting for its PIN switches off (our choice).
    IDLE_SECONDS: ClassVar[float] = 30.0

    def __init__(
        self, provisioning: Provisioning, *, clock: Clock | None = None, rng: random.Random | None = None
    ) -> None:
        super().__init__(provisioning, clock=clock, rng=rng)
        pin = provisioning.pin
        if pin is None or len(pin) != self.PIN_DIGITS or not _digits(pin):
            raise InvalidParameter(f"a DSC needs a {self.PIN_DIGITS}-digit 'pin'")
        self._pin = pin
        check_key(provisioning.secret)
        if not 6 <= provisioning.digits <= 10 or provisioning.step <= 0:
            raise InvalidParameter("a DSC code has 6 to 10 digits and a positive time step")
        self._mode = "off"
        self._typed = ""
        self._reveal = False
        self._failures = 0
        self._shown_at: float | None = None
        self._deadline: float | None = None

    @property
    def locked(self) -> bool:
        """Whether too many wrong PINs have locked the card."""
        return self._failures >= self.PIN_ATTEMPTS

    @property
    def attempts_remaining(self) -> int:
        """How many more wrong PINs the card takes before it locks."""
        return max(self.PIN_ATTEMPTS - self._failures, 0)

    def code(self, pin: str) -> str:
        """Operate the card as a user would (PRESS, the PIN, OK) and return the code it shows.

        Raises:
            InvalidParameter: the PIN is not 4 digits.
            InvalidPin: the PIN is wrong; ``attempts_remaining`` says how many tries are left (0 when
                this one locked the card).
            DeviceLocked: the card was already locked.
        """
        if len(pin) != self.PIN_DIGITS or not _digits(pin):
            raise InvalidParameter(f"the PIN must be {self.PIN_DIGITS} digits")
        if self.locked:
            raise DeviceLocked("the card is locked after too many wrong PINs")
        self._update(self._clock.now())
        if self._mode != "off":
            self.press("PRESS")
        self.press("PRESS")
        for digit in pin:
            self.press(digit)
        self.press("OK")
        if self._mode != "code" or self._shown_at is None:
            raise InvalidPin(self.attempts_remaining)
        return self._code(self._shown_at)

    def _code(self, when: float) -> str:
        p = self._provisioning
        return totp(p.secret, when, step=p.step, digits=p.digits, algorithm=p.algorithm)

    def _update(self, now: float) -> None:
        if self._deadline is not None and now >= self._deadline:
            self._power_off()

    def _power_off(self) -> None:
        self._mode = "off"
        self._typed = ""
        self._reveal = False
        self._shown_at = None
        self._deadline = None

    def _next_change(self, now: float) -> float | None:
        return self._deadline

    def _render(self, now: float) -> str:
        if self._mode == "pin":
            if not self._typed:
                return "[ ]"
            slots = ["-"] * len(self._typed) + ["_"] * (self.PIN_DIGITS - len(self._typed))
            if self._reveal:
                slots[len(self._typed) - 1] = self._typed[-1]
            return f"[ {' '.join(slots)} ]"
        if self._mode == "error":
            return f"PIN ERR {self.attempts_remaining}"
        if self._mode == "code" and self._shown_at is not None:
            return self._code(self._shown_at)
        if self._mode == "locked":
            return "LOCKED"
        return ""

    def _press(self, key: str, now: float) -> None:
        if key == "PRESS":
            if self._mode != "off":
                self._power_off()
                return
            self._mode = "locked" if self.locked else "pin"
            self._deadline = now + self.IDLE_SECONDS
            return
        if self._mode in ("off", "code", "locked"):
            return  # nothing to type into: the key does nothing and does not keep the card awake
        self._deadline = now + self.IDLE_SECONDS
        if self._mode == "error":
            self._mode = "pin"
            self._typed = ""
            self._reveal = False
            if not key.isdigit():
                return
        if key == "BACK":
            self._typed = self._typed[:-1]
            self._reveal = False
        elif key == "OK":
            if len(self._typed) == self.PIN_DIGITS:
                self._check(now)
        elif len(self._typed) < self.PIN_DIGITS:
            self._typed += key
            self._reveal = True

    def _check(self, now: float) -> None:
        typed, self._typed, self._reveal = self._typed, "", False
        if hmac.compare_digest(typed.encode(), self._pin.encode()):
            self._failures = 0
            self._mode = "code"
            self._shown_at = now
            self._deadline = now + self.DISPLAY_SECONDS
            return
        self._failures += 1
        self._mode = "locked" if self.locked else "error"

    def _state(self) -> dict[str, Any]:
        return {
            "mode": self._mode,
            "typed": self._typed,
            "reveal": self._reveal,
            "failures": self._failures,
            "shown_at": self._shown_at,
            "deadline": self._deadline,
        }

    def _restore(self, state: StateReader) -> None:
        self._mode = state.choice("mode", _MODES)
        self._typed = state.text("typed")
        self._reveal = state.flag("reveal")
        self._failures = state.integer("failures")
        self._shown_at = state.optional_number("shown_at")
        self._deadline = state.optional_number("deadline")
        if len(self._typed) > self.PIN_DIGITS or not _digits(self._typed) or self._failures < 0:
            raise InvalidParameter("dsc state: typed PIN or failure count out of range")
        if self._mode == "code" and self._shown_at is None:
            raise InvalidParameter("dsc state: a code screen needs its time")
