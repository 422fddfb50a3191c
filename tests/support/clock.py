"""Time for tests: a settable clock far from any real date, and a bounded wait."""

from __future__ import annotations

import time
from typing import Callable

__all__ = ["T0", "FakeClock", "wait_until"]

#: Far from any real clock, so tests never depend on the time they run at.
T0 = 1_700_000_000.0


class FakeClock:
    """A settable clock: call it for the time, ``advance`` to move it."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` (real time) until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()
