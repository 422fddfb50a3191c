"""A small, thread-safe LRU cache with an optional absolute time-to-live.

Used twice: for signing keys by ``kid`` and for verified tokens. Both sit on the
per-request path, so a hit takes no lock: ``dict.get`` and ``OrderedDict.move_to_end``
are single C calls, atomic under the GIL (and internally locked on free-threaded
builds). Writes, evictions and expiry take the lock.

The TTL is absolute: an entry expires ``ttl`` seconds after it was *stored*, never
later because it was read. (Wristband's SDK slides the TTL on every read, which keeps
a revoked key trusted for as long as traffic continues.)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, Generic, Hashable, Iterator, List, Optional, Tuple, TypeVar

__all__ = ["LRUCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_NEVER = float("inf")


class LRUCache(Generic[K, V]):
    """Bounded mapping that evicts the least recently used entry first.

    Parameters:
        max_size: how many entries to keep; must be at least 1.
        ttl: seconds an entry stays valid after it was stored, or ``None`` for no expiry.
        clock: monotonic clock in seconds; injectable so tests can move time.

    Example::

        keys = LRUCache(max_size=20, ttl=600.0)
        keys.set("kid-1", key)
        keys.get("kid-1")  # -> key, until 600 s after the set
    """

    def __init__(
        self,
        max_size: int,
        ttl: Optional[float] = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1:
            raise ValueError("max_size must be a positive integer")
        if ttl is not None and not ttl > 0:
            raise ValueError("ttl must be a positive number of seconds (if specified)")
        self.max_size = max_size
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[K, Tuple[V, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, default: Optional[V] = None) -> Optional[V]:
        """The value for ``key``, marking it most recently used; ``default`` if absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return default
        value, expires_at = entry
        if expires_at != _NEVER and self._clock() >= expires_at:
            self._discard_if_same(key, entry)
            return default
        # Not contextlib.suppress: this is the hot path, and a try block costs nothing.
        try:  # noqa: SIM105
            self._entries.move_to_end(key)
        except KeyError:  # evicted by another thread since the get: still a valid hit
            pass
        return value

    def set(self, key: K, value: V, ttl: Optional[float] = None) -> None:
        """Store ``value``; ``ttl`` overrides the cache's default for this entry."""
        lifetime = self.ttl if ttl is None else ttl
        expires_at = _NEVER if lifetime is None else self._clock() + lifetime
        with self._lock:
            self._entries[key] = (value, expires_at)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def delete(self, key: K) -> None:
        """Remove ``key`` if present."""
        with self._lock:
            self._entries.pop(key, None)

    def replace_all(self, items: List[Tuple[K, V]], ttl: Optional[float] = None) -> None:
        """Atomically swap the whole content for ``items`` (the last ``max_size`` of them)."""
        lifetime = self.ttl if ttl is None else ttl
        expires_at = _NEVER if lifetime is None else self._clock() + lifetime
        fresh: OrderedDict[K, Tuple[V, float]] = OrderedDict(
            (key, (value, expires_at)) for key, value in items[-self.max_size :]
        )
        with self._lock:
            self._entries = fresh

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._entries = OrderedDict()

    def keys(self) -> List[K]:
        """Keys of the live entries, least recently used first."""
        now = self._clock()
        return [key for key, (_, expires_at) in list(self._entries.items()) if expires_at > now]

    def __contains__(self, key: object) -> bool:
        entry = self._entries.get(key)  # type: ignore[arg-type]
        return entry is not None and entry[1] > self._clock()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[K]:
        return iter(self.keys())

    def _discard_if_same(self, key: K, entry: Tuple[V, float]) -> None:
        # Only remove what we saw expire: another thread may have stored a fresh value.
        with self._lock:
            if self._entries.get(key) is entry:
                del self._entries[key]
