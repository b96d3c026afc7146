"""The keypad challenge-response cards: DSC+, Gold and Platinum share one state machine.

The flow, with the current DSC+ prompts (our emulation of the published user guide)::

    off --PRESS--> PIN> --4 digits, OK--> CHALLNG> --n digits, OK--> 8-digit response
                    (only when the suite takes a PIN)

* The response is OCRA (RFC 6287) over the typed challenge with the device's suite: the typed PIN is
  folded in when the suite has a ``P`` input, the device's own counter when it has ``C`` (advanced on
  every computation, right or wrong), and the injected clock when it has ``T``. The card never stores
  or checks the PIN: a wrong PIN simply gives a wrong response, which the server refuses.
* The challenge is exactly as many digits as the suite's question length (``QN06``: 6 digits), and OK
  is ignored until it is complete; the PIN is :attr:`OcraKeypadDevice.PIN_DIGITS` digits.
* ``BACK`` deletes the last digit typed; with nothing typed it does nothing.
* ``PRESS`` turns the card on at the PIN prompt, and off again when it is on, forgetting what was typed.
* The card powers itself off :attr:`OcraKeypadDevice.IDLE_SECONDS` after the last key press, whatever
  it shows, the response included.

All of these numbers and behaviours are tokensim's emulation choices, not the vendor's algorithm.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from tokensim.emulators.base import Device, StateReader
from tokensim.protocol.clock import Clock
from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.ocra import OcraSuite, QuestionFormat, ocra
from tokensim.protocol.otp import check_key
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind, Provisioning

__all__ = ["OcraKeypadDevice", "ocra_response"]

_MODES = ("off", "pin", "challenge", "response")


def ocra_response(
    suite: OcraSuite, key: bytes, challenge: str, *, counter: int | None, pin: str | None, now: float
) -> str:
    """The OCRA response a device computes, giving the suite only the inputs it names.

    Args:
        suite: the device's suite.
        key: the device's OCRA key.
        challenge: the challenge as typed.
        counter: the device's counter, used when the suite has ``C``.
        pin: the PIN as typed, used when the suite has ``P``.
        now: the clock's time, used when the suite has ``T``.

    Raises:
        InvalidParameter: an input the suite needs is missing or malformed.
    """
    return ocra(
        suite,
        key,
        challenge,
        counter=counter if suite.counter else None,
        pin=pin if suite.pin_algorithm is not None else None,
        timestamp=now if suite.time_step is not None else None,
    )


def _is_digits(text: str, most: int) -> bool:
    return len(text) <= most and all(c in "0123456789" for c in text)


class OcraKeypadDevice(Device):
    """A card that turns a typed PIN and challenge into an OCRA response; see the module docstring.

    Subclasses set :attr:`kind`; the suite is the provisioning's, or ``DEFAULT_SUITES`` for the kind.

    Args:
        provisioning: serial, secret and (optionally) suite.
        clock: where the card reads the time (idle power-off, time-based suites).
        rng: unused by these cards; kept for the common contract.

    Raises:
        InvalidParameter: the suite's challenge is not numeric, it does not truncate to digits, or the
            key is shorter than 16 bytes.
    """

    #: Digits of the PIN typed at the PIN prompt (our choice, from the DSC+ user guide's 4-digit PIN).
    PIN_DIGITS: ClassVar[int] = 4
    #: Seconds without a key press after which the card powers off (our choice).
    IDLE_SECONDS: ClassVar[float] = 60.0

    def __init__(
        self, provisioning: Provisioning, *, clock: Clock | None = None, rng: random.Random | None = None
    ) -> None:
        super().__init__(provisioning, clock=clock, rng=rng)
        text = provisioning.suite
        if text is None:
            text = DEFAULT_SUITES[DeviceKind(self.kind)]
        self._suite = OcraSuite.parse(text)
        if self._suite.question_format is not QuestionFormat.NUMERIC:
            raise InvalidParameter(f"{text}: a keypad card can only take a numeric challenge")
        if self._suite.digits == 0:
            raise InvalidParameter(f"{text}: a card display needs a truncated (decimal) response")
        check_key(provisioning.secret)
        self._mode = "off"
        self._pin = ""
        self._challenge = ""
        self._response = ""
        self._shown_at: float | None = None
        self._deadline: float | None = None
        self._counter = 0

    @property
    def suite(self) -> OcraSuite:
        """The OCRA suite the card computes."""
        return self._suite

    @property
    def counter(self) -> int | None:
        """The next counter value ``C``, or ``None`` when the suite has no counter."""
        return self._counter if self._suite.counter else None

    @property
    def challenge_digits(self) -> int:
        """How many digits a challenge has: the suite's question length."""
        return self._suite.question_length

    @property
    def powered(self) -> bool:
        """Whether the card is on (after time-outs up to now)."""
        self._update(self._clock.now())
        return self._mode != "off"

    def respond(self, challenge: str, pin: str) -> str:
        """Operate the card as a user would and return the whole response.

        The card is switched off and on, the PIN and challenge are typed and OK pressed; the screen
        then shows the response as the keys would have left it.

        Args:
            challenge: exactly :attr:`challenge_digits` digits.
            pin: :attr:`PIN_DIGITS` digits (ignored when the suite takes no PIN).

        Raises:
            InvalidParameter: the challenge or PIN has the wrong length or is not digits.
        """
        if len(challenge) != self.challenge_digits or not _is_digits(challenge, self.challenge_digits):
            raise InvalidParameter(f"the challenge must be {self.challenge_digits} digits")
        takes_pin = self._suite.pin_algorithm is not None
        if takes_pin and (len(pin) != self.PIN_DIGITS or not _is_digits(pin, self.PIN_DIGITS)):
            raise InvalidParameter(f"the PIN must be {self.PIN_DIGITS} digits")
        if self.powered:
            self.press("PRESS")
        self.press("PRESS")
        if takes_pin:
            for digit in pin:
                self.press(digit)
            self.press("OK")
        for digit in challenge:
            self.press(digit)
        self.press("OK")
        return self._response

    # Prompts and the response display; the DSC+'s older firmware overrides them.

    def _pin_prompt(self) -> str:
        return "PIN>"

    def _challenge_prompt(self) -> str:
        return "CHALLNG>"

    def _show_response(self, now: float) -> str:
        return self._response

    def _response_ok(self, now: float) -> None:
        """OK on the response screen; the current firmware ignores it."""

    def _update(self, now: float) -> None:
        if self._deadline is not None and now >= self._deadline:
            self._power_off()

    def _power_off(self) -> None:
        self._mode = "off"
        self._pin = ""
        self._challenge = ""
        self._response = ""
        self._shown_at = None
        self._deadline = None

    def _next_change(self, now: float) -> float | None:
        return self._deadline

    def _render(self, now: float) -> str:
        if self._mode == "pin":
            return f"{self._pin_prompt()} {'*' * len(self._pin)}".rstrip()
        if self._mode == "challenge":
            return f"{self._challenge_prompt()} {self._challenge}".rstrip()
        if self._mode == "response":
            return self._show_response(now)
        return ""

    def _press(self, key: str, now: float) -> None:
        if self._mode == "off":
            if key == "PRESS":
                self._mode = "pin" if self._suite.pin_algorithm is not None else "challenge"
                self._deadline = now + self.IDLE_SECONDS
            return  # an unpowered card ignores every other key
        if key == "PRESS":
            self._power_off()
            return
        self._deadline = now + self.IDLE_SECONDS
        if self._mode == "pin":
            self._pin = self._edit(self._pin, key, self.PIN_DIGITS)
            if key == "OK" and len(self._pin) == self.PIN_DIGITS:
                self._mode = "challenge"
        elif self._mode == "challenge":
            self._challenge = self._edit(self._challenge, key, self.challenge_digits)
            if key == "OK" and len(self._challenge) == self.challenge_digits:
                self._compute(now)
        elif key == "OK":
            self._response_ok(now)

    @staticmethod
    def _edit(typed: str, key: str, most: int) -> str:
        if key == "BACK":
            return typed[:-1]
        if key.isdigit() and len(typed) < most:
            return typed + key
        return typed  # a full field takes no more digits; OK is handled by the caller

    def _compute(self, now: float) -> None:
        self._response = ocra_response(
            self._suite,
            self._provisioning.secret,
            self._challenge,
            counter=self._counter,
            pin=self._pin,
            now=now,
        )
        if self._suite.counter:
            # Every computation moves the counter, as a real event-based token's would: the card cannot
            # tell a right PIN from a wrong one.
            self._counter += 1
        self._pin = ""
        self._challenge = ""
        self._shown_at = now
        self._mode = "response"

    def _state(self) -> dict[str, Any]:
        return {
            "mode": self._mode,
            "pin": self._pin,
            "challenge": self._challenge,
            "response": self._response,
            "shown_at": self._shown_at,
            "deadline": self._deadline,
            "counter": self._counter,
        }

    def _restore(self, state: StateReader) -> None:
        self._mode = state.choice("mode", _MODES)
        self._pin = state.text("pin")
        self._challenge = state.text("challenge")
        self._response = state.text("response")
        self._shown_at = state.optional_number("shown_at")
        self._deadline = state.optional_number("deadline")
        self._counter = state.integer("counter")
        if not (
            _is_digits(self._pin, self.PIN_DIGITS)
            and _is_digits(self._challenge, self.challenge_digits)
            and _is_digits(self._response, self._suite.digits)
            and self._counter >= 0
        ):
            raise InvalidParameter(f"{self.kind} state: typed digits or counter out of range")
        if self._mode == "response" and (self._shown_at is None or not self._response):
            raise InvalidParameter(f"{self.kind} state: a response screen needs its response")
