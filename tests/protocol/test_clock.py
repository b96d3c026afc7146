from __future__ import annotations

import time

from tokensim.protocol import Clock, FixedClock, SteppingClock, SystemClock


def test_clocks_satisfy_the_protocol() -> None:
    for clock in (SystemClock(), FixedClock(), SteppingClock()):
        assert isinstance(clock, Clock)


def test_system_clock_tells_the_time() -> None:
    before = time.time()
    assert before <= SystemClock().now() <= time.time()


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(100)
    assert clock.now() == clock.now() == 100
    clock.advance(2.5)
    assert clock.now() == 102.5
    clock.set(0)
    assert clock.now() == 0  # zero is a time, not "now"


def test_stepping_clock_advances_on_every_read() -> None:
    clock = SteppingClock(start=10, step=5)
    assert [clock.now(), clock.now(), clock.now()] == [10, 15, 20]
