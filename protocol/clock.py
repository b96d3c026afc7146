"""Time as an injected dependency.

Algorithms never read the clock; they take a timestamp. Objects that need "now" (devices, the
verifier) take a :class:`Clock`. Production code passes :class:`SystemClock`; tests pass a
:class:`FixedClock` they move by hand or a :class:`SteppingClock` that advances on every read.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FixedClock", "SteppingClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the current Unix time in seconds."""

    def now(self) -> float:
        """Return the current Unix time in seconds."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class FixedClock:
    """A clock that stands still until told to move.

    Args:
        start: the Unix time it shows at first.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        """Return the time it was last set to."""
        return self._now

    def set(self, when: float) -> None:
        """Jump to ``when`` (forwards or backwards)."""
        self._now = float(when)

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        self._now += seconds

    def __repr__(self) -> str:
        return f"FixedClock({self._now!r})"


class SteppingClock:
    """A clock that advances by ``step`` seconds after every read.

    Args:
        start: the time of the first read.
        step: how far each read moves it.
    """

    def __init__(self, start: float = 0.0, step: float = 1.0) -> None:
        self._next = float(start)
        self._step = float(step)

    def now(self) -> float:
        """Return the current time, then advance by the step."""
        current = self._next
        self._next += self._step
        return current

    def __repr__(self) -> str:
        return f"SteppingClock(next={self._next!r}, step={self._step!r})"
