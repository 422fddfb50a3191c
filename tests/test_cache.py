"""LRUCache (bounded, least recently used first out, absolute TTL) and TinyLfuCache (scan-resistant).

Both thread-safe."""

from __future__ import annotations

import bisect
import itertools
import random
import sys
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.clock import FakeClock

from wristband_mw.cache import FrequencySketch, LRUCache, TinyLfuCache


def test_get_set_and_default():
    cache = LRUCache(3)
    assert cache.get("a") is None
    assert cache.get("a", 7) == 7
    cache.set("a", 1)
    assert cache.get("a") == 1
    assert "a" in cache and "b" not in cache
    assert len(cache) == 1
    cache.set("a", 2)
    assert cache.get("a") == 2
    assert len(cache) == 1


def test_stores_falsy_values():
    cache = LRUCache(3)
    cache.set("zero", 0)
    cache.set("empty", "")
    assert cache.get("zero", "default") == 0
    assert cache.get("empty", "default") == ""


def test_eviction_order_least_recently_used_first():
    cache = LRUCache(3)
    for key in "abc":
        cache.set(key, key.upper())
    assert cache.keys() == ["a", "b", "c"]
    cache.set("d", "D")
    assert cache.keys() == ["b", "c", "d"]
    assert cache.get("a") is None


def test_get_marks_recently_used():
    cache = LRUCache(3)
    for key in "abc":
        cache.set(key, key)
    assert cache.get("a") == "a"  # a is now the most recent; b is the oldest
    cache.set("d", "d")
    assert cache.get("b") is None
    assert cache.keys() == ["c", "a", "d"]


def test_set_of_existing_key_marks_recently_used():
    cache = LRUCache(2)
    cache.set("a", 1)
    cache.set("b", 2)
    cache.set("a", 3)
    cache.set("c", 4)
    assert cache.get("b") is None
    assert cache.get("a") == 3 and cache.get("c") == 4


def test_contains_does_not_change_order():
    cache = LRUCache(2)
    cache.set("a", 1)
    cache.set("b", 2)
    assert "a" in cache
    cache.set("c", 3)
    assert "a" not in cache


def test_size_one():
    cache = LRUCache(1)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.keys() == ["b"]
    assert len(cache) == 1


def test_delete_and_clear():
    cache = LRUCache(3)
    cache.set("a", 1)
    cache.set("b", 2)
    cache.delete("a")
    cache.delete("missing")
    assert cache.keys() == ["b"]
    cache.clear()
    assert len(cache) == 0 and cache.get("b") is None


def test_replace_all_swaps_content_and_keeps_the_last_max_size():
    cache = LRUCache(2)
    cache.set("old", 0)
    cache.replace_all([("a", 1), ("b", 2), ("c", 3)])
    assert cache.keys() == ["b", "c"]
    assert cache.get("old") is None
    cache.replace_all([])
    assert len(cache) == 0


@pytest.mark.parametrize("size", [0, -1, 1.5, None, True, "3"], ids=repr)
def test_bad_max_size(size):
    with pytest.raises(ValueError):
        LRUCache(size)


@pytest.mark.parametrize("ttl", [0, -1, -0.5])
def test_bad_ttl(ttl):
    with pytest.raises(ValueError):
        LRUCache(3, ttl)


def test_ttl_is_absolute_not_sliding():
    clock = FakeClock(100.0)
    cache = LRUCache(3, ttl=10.0, clock=clock)
    cache.set("k", "v")
    for _ in range(9):
        clock.advance(1.0)
        assert cache.get("k") == "v"  # reading must not extend the lifetime
    clock.advance(0.999)
    assert cache.get("k") == "v"
    assert "k" in cache
    clock.advance(0.001)  # exactly ttl after the set: expired
    assert cache.get("k") is None
    assert "k" not in cache
    assert cache.keys() == []


def test_set_again_restarts_the_ttl():
    clock = FakeClock()
    cache = LRUCache(3, ttl=10.0, clock=clock)
    cache.set("k", 1)
    clock.advance(8)
    cache.set("k", 2)
    clock.advance(8)
    assert cache.get("k") == 2
    clock.advance(2)
    assert cache.get("k") is None


def test_per_entry_ttl_overrides_default():
    clock = FakeClock()
    cache = LRUCache(5, ttl=100.0, clock=clock)
    cache.set("short", 1, ttl=1.0)
    cache.set("long", 2)
    clock.advance(1.0)
    assert cache.get("short") is None
    assert cache.get("long") == 2
    clock.advance(99.0)
    assert cache.get("long") is None


def test_no_ttl_never_expires():
    clock = FakeClock()
    cache = LRUCache(2, clock=clock)
    cache.set("k", 1)
    clock.advance(10**12)
    assert cache.get("k") == 1


def test_replace_all_with_ttl():
    clock = FakeClock()
    cache = LRUCache(5, clock=clock)
    cache.replace_all([("a", 1), ("b", 2)], ttl=5.0)
    clock.advance(4.9)
    assert cache.get("a") == 1
    clock.advance(0.1)
    assert cache.get("a") is None and cache.get("b") is None


def test_expired_entry_is_removed_on_get():
    clock = FakeClock()
    cache = LRUCache(5, ttl=1.0, clock=clock)
    cache.set("k", 1)
    clock.advance(2)
    assert len(cache) == 1
    assert cache.get("k") is None
    assert len(cache) == 0


@given(st.lists(st.tuples(st.sampled_from(["set", "get"]), st.integers(0, 9)), max_size=200), st.integers(1, 5))
def test_property_matches_a_reference_lru(operations, size):
    cache = LRUCache(size)
    reference: list = []  # keys, least recent first
    values = {}
    for operation, key in operations:
        if operation == "set":
            if key in reference:
                reference.remove(key)
            reference.append(key)
            values[key] = key * 10
            cache.set(key, key * 10)
            if len(reference) > size:
                del values[reference.pop(0)]
        else:
            expected = values.get(key)
            assert cache.get(key) == expected
            if key in reference:
                reference.remove(key)
                reference.append(key)
        assert cache.keys() == reference
        assert len(cache) <= size


def _time_per_op(cache: LRUCache, keys: list, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for key in keys:
            cache.get(key)
            cache.set(key, key)
        best = min(best, time.perf_counter() - start)
    return best / len(keys)


def test_get_and_set_are_constant_time():
    small = LRUCache(16)
    large = LRUCache(200_000)
    for i in range(200_000):
        large.set(i, i)
    for i in range(16):
        small.set(i, i)
    probe = list(range(0, 200_000, 100))  # spread over the whole large cache
    small_cost = _time_per_op(small, [i % 16 for i in probe])
    large_cost = _time_per_op(large, probe)
    # A linear structure would be thousands of times slower at 200k entries.
    assert large_cost < small_cost * 8, (small_cost, large_cost)
    assert len(large) == 200_000


@pytest.fixture
def fast_thread_switching():
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.usefixtures("fast_thread_switching")
def test_thread_safety_under_concurrent_set_and_get():
    cache = LRUCache(64)
    errors: list = []
    barrier = threading.Barrier(8)

    def worker(seed: int) -> None:
        try:
            barrier.wait()
            for i in range(4000):
                key = (seed * 7 + i) % 200
                if i % 3:
                    value = cache.get(key)
                    if value is not None and value != key * 2:
                        errors.append((key, value))
                else:
                    cache.set(key, key * 2)
                if i % 500 == 0:
                    cache.keys()
                    cache.delete((key + 1) % 200)
        except Exception as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(cache) <= 64
    for key in list(cache):
        assert cache.get(key) == key * 2


@pytest.mark.usefixtures("fast_thread_switching")
def test_thread_safety_with_expiry():
    clock_value = [0.0]
    cache = LRUCache(32, ttl=1.0, clock=lambda: clock_value[0])
    errors: list = []
    stop = threading.Event()

    def ticker() -> None:
        while not stop.is_set():
            clock_value[0] += 0.01
            time.sleep(0)

    def worker(seed: int) -> None:
        try:
            for i in range(3000):
                key = (seed + i) % 50
                cache.set(key, key)
                value = cache.get((key + 3) % 50)
                if value is not None and value != (key + 3) % 50:
                    errors.append(value)
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    tick = threading.Thread(target=ticker)
    tick.start()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    stop.set()
    tick.join(timeout=5)
    assert errors == []
    assert len(cache) <= 32


# -- TinyLfuCache: the verified-token cache -----------------------------------------------------


def replay(cache, trace) -> float:
    """Hit rate of ``cache`` used read-through over ``trace``."""
    hits = 0
    for key in trace:
        if cache.get(key) is None:
            cache.set(key, key)
        else:
            hits += 1
    return hits / len(trace)


def zipf_trace(keys: int, exponent: float, length: int, seed: int = 7) -> list:
    rng = random.Random(seed)
    cumulative = list(itertools.accumulate(1 / rank**exponent for rank in range(1, keys + 1)))
    names = list(range(keys))
    rng.shuffle(names)  # popularity must not follow the key's value (ints hash to themselves)
    return [names[bisect.bisect_left(cumulative, rng.random() * cumulative[-1])] for _ in range(length)]


def test_tinylfu_get_set_delete_and_default():
    cache = TinyLfuCache(100)
    assert cache.get("a") is None and cache.get("a", 7) == 7
    cache.set("a", 1)
    cache.set("zero", 0)
    assert cache.get("a") == 1 and cache.get("zero", "default") == 0
    cache.set("a", 2)
    assert cache.get("a") == 2 and len(cache) == 2
    assert "a" in cache and "b" not in cache
    cache.delete("a")
    cache.delete("missing")
    assert cache.get("a") is None and cache.keys() == ["zero"]
    cache.clear()
    assert len(cache) == 0 and list(cache) == []


def test_tinylfu_discard_removes_only_the_value_seen():
    cache = TinyLfuCache(10)
    old, new = object(), object()
    cache.set("k", old)
    cache.set("k", new)  # stored by another thread meanwhile
    cache.discard("k", old)
    assert cache.get("k") is new
    cache.discard("k", new)
    assert "k" not in cache


@pytest.mark.parametrize("size", [0, -1, 1.5, None, True, "3"], ids=repr)
def test_tinylfu_bad_max_size(size):
    with pytest.raises(ValueError):
        TinyLfuCache(size)


@pytest.mark.parametrize("size", [1, 2, 3, 100, 1000])
def test_tinylfu_never_exceeds_its_size(size):
    cache = TinyLfuCache(size)
    for key in range(5 * size + 10):
        cache.set(key, key)
        cache.get(key % 7)
        assert len(cache) <= size
    assert len(cache) == size
    assert sorted(cache.keys()) == sorted(set(cache.keys()))


def test_tinylfu_new_keys_enter_before_the_cache_is_full():
    cache = TinyLfuCache(50)
    for key in range(50):
        cache.set(key, key)
    assert sorted(cache.keys()) == list(range(50))


def test_tinylfu_cycle_just_over_its_size_still_hits():
    """The LRU cliff: a cycle over 1.05 x the size. LRU gets nothing, TinyLFU at least 80 %."""
    size = 1000
    trace = list(range(1050)) * 10
    lru_rate = replay(LRUCache(size), trace)
    tinylfu_rate = replay(TinyLfuCache(size), trace)
    assert lru_rate == 0.0
    assert tinylfu_rate >= 0.80, tinylfu_rate


@pytest.mark.parametrize("exponent", [0.8, 1.0])
def test_tinylfu_on_a_zipf_trace_hits_at_least_as_often_as_lru(exponent):
    size = 500
    trace = zipf_trace(8 * size, exponent, 60_000)
    lru_rate = replay(LRUCache(size), trace)
    tinylfu_rate = replay(TinyLfuCache(size), trace)
    assert tinylfu_rate >= lru_rate, (tinylfu_rate, lru_rate)


def test_tinylfu_a_scan_does_not_flush_popular_keys():
    cache = TinyLfuCache(100)
    hot = [f"hot-{n}" for n in range(80)]
    for _ in range(3):
        for key in hot:
            if cache.get(key) is None:
                cache.set(key, key)
    for n in range(500):  # one pass over five times as many keys, never seen again
        key = f"scan-{n}"
        if cache.get(key) is None:
            cache.set(key, key)
    assert sum(cache.get(key) == key for key in hot) >= 72  # 77 to 80 in 300 runs


def test_tinylfu_a_newly_popular_key_gets_in():
    cache = TinyLfuCache(100)
    for n in range(100):
        cache.set(n, n)
    for _ in range(4):  # a user whose token keeps coming back is admitted
        if cache.get("newcomer") is None:
            cache.set("newcomer", "v")
        for n in range(100, 103):  # others pass through the window
            cache.get(n) or cache.set(n, n)
    assert cache.get("newcomer") == "v"


def test_tinylfu_size_one_keeps_the_latest():
    cache = TinyLfuCache(1)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.keys() == ["b"] and cache.get("b") == 2


@given(st.lists(st.tuples(st.sampled_from(["set", "get", "delete"]), st.integers(0, 12)), max_size=300))
def test_tinylfu_property_never_returns_a_wrong_or_removed_value(operations):
    cache = TinyLfuCache(4)
    version = itertools.count()
    current: dict = {}
    for operation, key in operations:
        if operation == "set":
            current[key] = (key, next(version))
            cache.set(key, current[key])
        elif operation == "delete":
            cache.delete(key)
            current.pop(key, None)
        else:
            value = cache.get(key)
            assert value is None or value is current.get(key)
        assert len(cache) <= 4
    for key in list(cache):
        assert cache.get(key) is current[key]


def test_sketch_counts_saturates_and_halves():
    sketch = FrequencySketch(64)
    assert sketch.frequency("a") == 0
    for _ in range(3):
        sketch.increment("a")
    assert sketch.frequency("a") == 3
    for _ in range(30):
        sketch.increment("b")
    assert sketch.frequency("b") == 15
    sketch.halve()
    assert (sketch.frequency("a"), sketch.frequency("b"), sketch.frequency("c")) == (1, 7, 0)
    assert sketch.nbytes == 4 * 256  # four rows of four counters per entry


def test_tinylfu_ages_counts_so_yesterdays_favourite_makes_way():
    cache = TinyLfuCache(10)  # window of 1, main of 9; counts halve every 100 lookups
    for n in range(9):
        cache.set(("old", n), n)
        for _ in range(20):
            cache.get(("old", n))  # saturated
    for round_ in range(60):  # a new set of users, each asking again and again
        for n in range(9):
            key = ("new", n)
            if cache.get(key) is None:
                cache.set(key, round_)
    assert sum(key[0] == "new" for key in list(cache)) >= 8


@given(st.lists(st.integers(0, 50), max_size=400))
def test_sketch_never_underestimates(keys):
    sketch = FrequencySketch(1000)
    for key in keys:
        sketch.increment(key)
    for key in set(keys):
        assert sketch.frequency(key) >= min(keys.count(key), 15)


def test_tinylfu_get_and_set_are_constant_time():
    small, large = TinyLfuCache(16), TinyLfuCache(200_000)
    for i in range(200_000):
        large.set(i, i)
    for i in range(16):
        small.set(i, i)
    probe = list(range(0, 200_000, 100))
    small_cost = _time_per_op(small, [i % 16 for i in probe])
    large_cost = _time_per_op(large, probe)
    assert large_cost < small_cost * 8, (small_cost, large_cost)


@pytest.mark.usefixtures("fast_thread_switching")
def test_tinylfu_thread_safety_under_concurrent_reads_writes_and_removals():
    cache = TinyLfuCache(64)
    errors: list = []
    barrier = threading.Barrier(8)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            barrier.wait(timeout=10)
            for i in range(4000):
                key = rng.randrange(300)
                choice = i % 10
                if choice < 6:
                    value = cache.get(key)
                    if value is not None and value[0] != key:
                        errors.append((key, value))
                elif choice < 9:
                    cache.set(key, (key, seed))
                elif i % 20 == 9:
                    cache.delete(key)
                else:
                    cache.discard(key, (key, seed))  # a different tuple: must leave it alone
                    assert len(cache) <= 64
        except Exception as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    keys = cache.keys()
    assert len(keys) == len(set(keys)) == len(cache) <= 64
    for key in keys:
        assert cache.get(key)[0] == key
