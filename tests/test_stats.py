"""stats.Counters: exact under concurrent increments, and usable in a forked child."""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings

import pytest

from wristband_mw.stats import Counters


def test_concurrent_increments_are_never_lost():
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        counters = Counters(["a", "b"])
        start = threading.Barrier(8)

        def bump() -> None:
            start.wait()
            for _ in range(5000):
                counters.incr("a")
                counters.incr("b")

        threads = [threading.Thread(target=bump) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        sys.setswitchinterval(previous)
    assert counters.snapshot() == {"a": 40000, "b": 40000}
    assert counters.value("a") == 40000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")
def test_a_child_forked_while_another_thread_holds_the_lock_can_count():
    counters = Counters(["a"])
    counters.incr("a")
    held, release = threading.Event(), threading.Event()

    class SlowName(str):
        """Hashing it (inside the increment's critical section) waits: the lock stays held."""

        def __hash__(self) -> int:
            held.set()
            release.wait(10)
            return str.__hash__(self)

    # A parent thread in the middle of an increment when the process forks.
    holder = threading.Thread(target=counters.incr, args=(SlowName("a"),))
    holder.start()
    assert held.wait(10)
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a threaded process may deadlock the child: the case here.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: the holder thread does not exist here
        signal.alarm(10)  # a deadlocked child is killed, and the assertion below fails
        try:
            counters.incr("a")
            os._exit(0 if counters.snapshot() == {"a": 2} else 1)  # 1 inherited + its own
        finally:
            os._exit(2)
    release.set()
    holder.join(10)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert counters.value("a") == 2  # the parent's own two increments; the child's stayed there
