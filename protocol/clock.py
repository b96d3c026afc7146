"""Time as an injected dependency.

Algorithms never read the clock; they take a timestamp. Objects that need "now" (devices, the
verifier) take a :class:`Clock`. Production code passes :class:`SystemClock`; tests pass a
:class:`FixedClock` they move by hand or a :class:`SteppingClock` that advances on every read.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FixedClock", "SteppingClock", "SystemClock", "printed_time"]

# English names whatever the process's locale (strftime's %A and %B follow LC_TIME).
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


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


def printed_time(timestamp: float, *, short: bool = False) -> str:
    """A Unix time as printed for people, in UTC.

    ``printed_time(1709285400)`` is ``2024-03-01T09:30:00Z (Friday 1 March 2024, 09:30 UTC)``: ISO 8601,
    then in words. ``short=True`` gives ``2024-03-01 09:30 UTC`` (ISO 8601's date and time, to the
    minute, with the space RFC 3339 allows), for a line with little room.
    """
    moment = datetime.fromtimestamp(timestamp, UTC)
    if short:
        return f"{moment:%Y-%m-%d %H:%M} UTC"
    words = f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]} {moment.year}"
    return f"{moment:%Y-%m-%dT%H:%M:%SZ} ({words}, {moment:%H:%M} UTC)"
