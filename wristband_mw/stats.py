"""Lock-free event counters for ``validator.stats()``, with no metrics dependency."""

from __future__ import annotations

import itertools
from typing import Dict, Iterable

__all__ = ["Counters"]


class Counters:
    """A fixed set of named counters, safe to bump from any thread.

    Each counter is an ``itertools.count``: ``next()`` on it is a single C call, so
    concurrent increments are never lost under the GIL, and the hot path takes no lock.
    """

    __slots__ = ("_counts",)

    def __init__(self, names: Iterable[str]) -> None:
        self._counts: Dict[str, itertools.count[int]] = {name: itertools.count(1) for name in names}

    def incr(self, name: str) -> None:
        """Add one to ``name``."""
        next(self._counts[name])

    def value(self, name: str) -> int:
        """The current value of ``name``."""
        # repr is "count(N)" where N is the next value to hand out; it started at 1.
        return int(repr(self._counts[name])[6:-1]) - 1

    def snapshot(self) -> Dict[str, int]:
        """All counters at once, as a plain dict."""
        return {name: self.value(name) for name in self._counts}
