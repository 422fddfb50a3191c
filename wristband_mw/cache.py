"""Bounded, thread-safe caches for the per-request path.

Three kinds, each where it fits:

* :class:`LRUCache` keeps signing keys by ``kid``: a handful of entries with an absolute
  time-to-live, where recency is the right signal.
* :class:`TinyLfuCache` keeps verified tokens: thousands of users, each with their own
  token, whose working set may outgrow the cache. A plain LRU falls off a cliff there
  (a cycle over one entry more than its size never hits); this one admits a newcomer
  only if it is requested more often than the entry it would push out, so its hit rate
  degrades gracefully.
* :class:`BoundedMemo` remembers a pure function's answers (a path's rule, a header's
  verdict): no expiry, and when full the oldest entry goes, never the whole table.

Thread safety, with or without the GIL (free-threaded CPython): every read or write of
a cache's mutable structures (its dicts, their order, the frequency sketch) happens
while holding that cache's lock, and each operation is one critical section: the
lookup, the expiry check, the reordering and the removal of an expired entry are never
split across two acquisitions, so there is no check-then-act on shared state outside
the lock. On the request path the lock is held for O(1) work (only ``keys()`` copies
under it), never across a call out of the cache, save the clock and the keys' own hash
and equality, which must be cheap and must not re-enter the cache. A
:class:`BoundedMemo` (the path rules, header checks, recent tokens and prepared
responses) follows the same rule for writes; its reads are one ``dict.get``. Every cache
a request meets, with its key and why it pays, is listed in :mod:`wristband_mw.flow`.
Values are stored and returned as they are, never copied or changed: callers store
immutable objects, so using a value after the lock is released is safe.

The TTL of :class:`LRUCache` is absolute: an entry expires ``ttl`` seconds after it
was *stored*, never later because it was read. (Wristband's SDK slides the TTL on every
read, which keeps a revoked key trusted for as long as traffic continues.)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, Generic, Hashable, Iterator, List, Optional, Tuple, TypeVar, Union

__all__ = ["BoundedMemo", "FrequencySketch", "LRUCache", "TinyLfuCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_NEVER = float("inf")
_MISSING: Any = object()


def _check_size(max_size: object) -> int:
    if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1:
        raise ValueError("max_size must be a positive integer")
    return max_size


def _lock_after_fork(cache: Union[LRUCache[Any, Any], TinyLfuCache[Any, Any], BoundedMemo[Any, Any]]) -> bool:
    """Give ``cache`` a fresh lock in a forked child; True when its entries must be dropped.

    The parent's lock may have been held by a thread that does not exist in the child:
    it would never be released, and that thread may have been half-way through a change,
    so the entries it was changing are not trusted (a cache may always start empty).
    """
    interrupted = cache._lock.locked()
    cache._lock = threading.Lock()
    return interrupted


class BoundedMemo(Generic[K, V]):
    """Remembered answers of a pure function, at most ``max_size`` of them; the oldest goes first.

    For results that depend only on their key (a path's rule, a header's verdict): a
    stale entry is impossible, so there is no expiry, and a full memo forgets its oldest
    entry rather than everything at once. A read is one ``dict.get`` (atomic on every
    CPython build: free-threaded dicts lock themselves per operation) of an immutable
    value; every write, and the eviction it may cause, happens under the memo's lock.

    Example::

        rules = BoundedMemo(1024)
        rule = rules.get(path)
        if rule is None:
            rule = rules.put(path, compute_rule(path))
    """

    __slots__ = ("_entries", "_lock", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = _check_size(max_size)
        self._entries: Dict[K, V] = {}
        self._lock = threading.Lock()

    def get(self, key: K, default: Optional[V] = None) -> Optional[V]:
        """The remembered value for ``key``, or ``default``."""
        return self._entries.get(key, default)

    def put(self, key: K, value: V) -> V:
        """Remember ``value`` for ``key`` (forgetting the oldest entry when full); returns ``value``."""
        with self._lock:
            entries = self._entries
            if key not in entries and len(entries) >= self.max_size:
                del entries[next(iter(entries))]
            entries[key] = value
        return value

    def discard(self, key: K, value: V) -> None:
        """Forget ``key`` only while it still holds ``value``."""
        with self._lock:
            if self._entries.get(key) is value:
                del self._entries[key]

    def after_fork(self) -> None:
        """In a forked child: a lock of its own (see :func:`_lock_after_fork`)."""
        if _lock_after_fork(self):
            self._entries = {}

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)


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
        self.max_size = _check_size(max_size)
        if ttl is not None and not ttl > 0:
            raise ValueError("ttl must be a positive number of seconds (if specified)")
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[K, Tuple[V, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, default: Optional[V] = None) -> Optional[V]:
        """The value for ``key``, marking it most recently used; ``default`` if absent or expired."""
        self._lock.acquire()  # not ``with``: half the cost on the hot path (CPython 3.11)
        try:
            entry = self._entries.get(key)
            if entry is None:
                return default
            if entry[1] != _NEVER and self._clock() >= entry[1]:
                del self._entries[key]
                return default
            self._entries.move_to_end(key)
            return entry[0]
        finally:
            self._lock.release()

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

    def after_fork(self) -> None:
        """In a forked child: a lock of its own (see :func:`_lock_after_fork`)."""
        if _lock_after_fork(self):
            self._entries = OrderedDict()

    def keys(self) -> List[K]:
        """Keys of the live entries, least recently used first."""
        with self._lock:
            now = self._clock()
            return [key for key, (_, expires_at) in self._entries.items() if expires_at > now]

    def __contains__(self, key: object) -> bool:
        with self._lock:
            entry = self._entries.get(key)  # type: ignore[arg-type]
            return entry is not None and entry[1] > self._clock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[K]:
        return iter(self.keys())


# The sketch's four row indexes are four 32-bit lanes of one product: the key's hash
# times an odd 64-bit constant (multiply-shift hashing; one multiplication, not four).
_MIX = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1
_MAX_COUNT = 15  # 4-bit counters, as in TinyLFU: enough to tell hot from cold
_HALVED = bytes(count >> 1 for count in range(256))


class FrequencySketch:
    """Approximate counts of keys in fixed memory (a count-min sketch).

    Four rows of ``width`` one-byte counters, saturating at 15; a key's estimate is the
    smallest of its four counters, so it may be too high (collisions) but never too low.
    :meth:`halve` ages every count at once. Not thread-safe by itself: its owner's lock
    guards it.

    Example::

        sketch = FrequencySketch(1024)
        sketch.increment("a"); sketch.increment("a")
        sketch.frequency("a")  # -> 2
    """

    __slots__ = ("_mask", "_table", "_width")

    def __init__(self, max_size: int) -> None:
        _check_size(max_size)
        # About four counters per row per entry; a power of two, at most one 32-bit lane.
        bits = min(32, max(4, (4 * max_size - 1).bit_length()))
        self._width = 1 << bits
        self._mask = self._width - 1
        self._table = bytearray(4 * self._width)

    @property
    def nbytes(self) -> int:
        """Memory taken by the counters."""
        return len(self._table)

    def increment(self, key: Hashable) -> None:
        """Count one more of ``key``."""
        mixed = (hash(key) & _MASK64) * _MIX
        mask, width, table = self._mask, self._width, self._table
        for index in (
            mixed & mask,
            width + ((mixed >> 32) & mask),
            2 * width + ((mixed >> 64) & mask),
            3 * width + ((mixed >> 96) & mask),
        ):
            if table[index] < _MAX_COUNT:
                table[index] += 1

    def frequency(self, key: Hashable) -> int:
        """The estimated count of ``key`` (0 to 15)."""
        mixed = (hash(key) & _MASK64) * _MIX
        mask, width, table = self._mask, self._width, self._table
        return min(
            table[mixed & mask],
            table[width + ((mixed >> 32) & mask)],
            table[2 * width + ((mixed >> 64) & mask)],
            table[3 * width + ((mixed >> 96) & mask)],
        )

    def halve(self) -> None:
        """Halve every count (in C: one ``bytearray.translate``)."""
        self._table = self._table.translate(_HALVED)


# An entry of TinyLfuCache: [value, hits, epoch]. hits counts lookups that found it, as of
# aging round ``epoch``; it is halved lazily, once per round since, when next touched.
_VALUE, _HITS, _EPOCH = 0, 1, 2


class TinyLfuCache(Generic[K, V]):
    """Bounded mapping whose hit rate degrades gracefully when the working set outgrows it.

    W-TinyLFU (Einziger, Friedman and Manes, "TinyLFU: A Highly Efficient Cache Admission
    Policy", 2017; the policy of Java's Caffeine), in a simple form: a newcomer enters a
    small LRU *window* (1 % of the entries), which absorbs bursts; when it leaves the
    window it is admitted to the *main* LRU (the other 99 %) only if it was requested
    more often recently than the main LRU's least recently used entry, which it then
    replaces; otherwise it is dropped. A scan or a cycle bigger than the cache therefore
    cannot flush what is popular: with a cycle over 1.05 x its size it still hits about
    94 % (a plain LRU: 0 %), and on skewed traffic it beats an LRU of the same size.

    How often a key was requested: its misses are counted in a :class:`FrequencySketch`
    (fixed memory, 16 bytes per entry), its hits in its own entry (so a hit costs no
    hashing beyond the lookup). Every ``10 x max_size`` lookups all counts are halved,
    so the cache follows what is popular *now*. Misses are counted by :meth:`get`: use
    it as a read-through cache, looking up first and calling :meth:`set` after a miss.

    Every operation is O(1); the halving, once every ``10 x max_size`` lookups, is one
    pass in C over the sketch's 16 bytes per entry. Thread-safe: one lock per cache, held
    for O(1) work (see the module docstring). No expiry: callers recheck what they get.

    Parameters:
        max_size: how many entries to keep; must be at least 1.

    Example::

        verified = TinyLfuCache(4096)
        if verified.get(digest) is None:
            verified.set(digest, result)
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = _check_size(max_size)
        self._window_size = max(1, max_size // 100)
        self._main_size = max_size - self._window_size
        self._window: OrderedDict[K, List[Any]] = OrderedDict()
        self._main: OrderedDict[K, List[Any]] = OrderedDict()
        self._misses = FrequencySketch(max_size)
        self._sample_size = 10 * max_size
        self._lookups = 0
        self._epoch = 0
        self._lock = threading.Lock()

    def get(self, key: K, default: Optional[V] = None) -> Optional[V]:
        """The value for ``key`` (counting the lookup, hit or miss), or ``default``."""
        self._lock.acquire()  # not ``with``: half the cost on the hot path (CPython 3.11)
        try:
            value = self._lookup(key, count_miss=True)
        finally:
            self._lock.release()
        return default if value is _MISSING else value

    def get_if_present(self, key: K) -> Optional[V]:
        """The value for ``key``, counting a hit; ``None`` on a miss, which is *not* counted.

        For a probe that a full, counted :meth:`get` follows on a miss, so a miss is
        counted once.
        """
        self._lock.acquire()
        try:
            value = self._lookup(key, count_miss=False)
        finally:
            self._lock.release()
        return None if value is _MISSING else value

    def _lookup(self, key: K, count_miss: bool) -> Any:
        """The value or ``_MISSING``, with the entry's recency and hit count updated (under the lock)."""
        entry = self._main.get(key)
        if entry is not None:
            self._main.move_to_end(key)
        else:
            entry = self._window.get(key)
            if entry is None:
                if count_miss:
                    self._count_lookup()
                    self._misses.increment(key)
                return _MISSING
            self._window.move_to_end(key)
        self._count_lookup()
        hits = entry[_HITS]
        if entry[_EPOCH] != self._epoch:
            hits >>= self._epoch - entry[_EPOCH]
            entry[_EPOCH] = self._epoch
        entry[_HITS] = hits + 1 if hits < _MAX_COUNT else hits
        return entry[_VALUE]

    def _count_lookup(self) -> None:
        self._lookups += 1
        if self._lookups >= self._sample_size:
            self._age()

    def set(self, key: K, value: V) -> None:
        """Store ``value`` for ``key``; a new key enters the window (and may later be dropped)."""
        with self._lock:
            for segment in (self._main, self._window):
                entry = segment.get(key)
                if entry is not None:
                    entry[_VALUE] = value
                    segment.move_to_end(key)
                    return
            self._window[key] = [value, 0, self._epoch]
            if len(self._window) > self._window_size:
                self._admit(*self._window.popitem(last=False))

    def _frequency(self, key: K, entry: List[Any]) -> int:
        hits: int = entry[_HITS] >> (self._epoch - entry[_EPOCH])
        return self._misses.frequency(key) + hits

    def _admit(self, candidate: K, entry: List[Any]) -> None:
        # Called with the lock held: the window's oldest entry asks to join the main LRU.
        main = self._main
        if len(main) < self._main_size:
            main[candidate] = entry
            return
        if not main:  # a cache of one entry has no main segment
            return
        victim = next(iter(main))
        # Ties go to the victim: a cycle of equally frequent keys keeps what it has.
        if self._frequency(candidate, entry) > self._frequency(victim, main[victim]):
            del main[victim]
            main[candidate] = entry

    def _age(self) -> None:
        # With the lock held: halve every count; entries catch up lazily (see _HITS).
        self._misses.halve()
        self._epoch += 1
        self._lookups //= 2

    def discard(self, key: K, value: V) -> None:
        """Remove ``key`` only if it still holds ``value`` (not a newer value stored since)."""
        with self._lock:
            for segment in (self._main, self._window):
                entry = segment.get(key)
                if entry is not None and entry[_VALUE] is value:
                    del segment[key]
                    return

    def delete(self, key: K) -> None:
        """Remove ``key`` if present."""
        with self._lock:
            self._main.pop(key, None)
            self._window.pop(key, None)

    def clear(self) -> None:
        """Remove every entry (the frequency history stays)."""
        with self._lock:
            self._main = OrderedDict()
            self._window = OrderedDict()

    def after_fork(self) -> None:
        """In a forked child: a lock of its own (see :func:`_lock_after_fork`)."""
        if _lock_after_fork(self):
            self._main = OrderedDict()
            self._window = OrderedDict()

    def keys(self) -> List[K]:
        """Every key: the main segment's, least recently used first, then the window's."""
        with self._lock:
            return [*self._main, *self._window]

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is cached (not counted as a lookup)."""
        with self._lock:
            return key in self._main or key in self._window

    def __len__(self) -> int:
        with self._lock:
            return len(self._main) + len(self._window)

    def __iter__(self) -> Iterator[K]:
        return iter(self.keys())
