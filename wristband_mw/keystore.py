"""Signing keys by ``kid``: the only part of the package that does network I/O.

The validator asks one question, "the key for this kid?", and gets a key, ``unknown``
or ``unavailable``. Behind that question:

* **Every key of a fetch is cached** (in a :class:`~wristband_mw.cache.LRUCache`), as
  a pre-built key object, so no request ever parses a key.
* **Single flight**: however many threads miss at once, one fetch runs and the rest
  wait for its outcome.
* **Cool-down for unknown kids**: a kid missing from a live key set triggers a fetch
  at most once per ``jwks_refresh_cooldown``; during the cool-down such requests fail
  at once. Routine fetches (the first one, TTL refreshes) do not start the cool-down,
  so a key rotated in just after start-up is picked up immediately.
* **Refresh-ahead**: once the key set is older than ``jwks_cache_ttl``, the next lookup
  starts one background refresh and carries on with the cached keys. Keys absent from
  the new set stop verifying, so a revoked key dies within the TTL.
* **Stale-if-error**: while refreshes fail, the last good keys keep verifying for up
  to ``jwks_stale_if_error`` seconds past their TTL (one warning per failure streak),
  then they are dropped.
* **Back-off while the JWKS fails**: a failed fetch (an error, or a set with no usable
  key such as ``{"keys": []}``) starts a back-off of 1 s, doubling with each further
  failure up to ``jwks_refresh_cooldown``. No lookup starts a fetch during it: with no
  usable key set (cold start, keys expired past stale-if-error) requests fail at once
  with ``keys_unavailable``, and :meth:`KeyStore.retry_after` says how long is left.
  The first success ends it; :meth:`KeyStore.prefetch` always fetches.
* **One deadline**: a fetch ends within ``jwks_fetch_timeout`` (see
  :mod:`wristband_mw.jwks`), and a request waiting on someone else's fetch waits no
  longer than that fetch's deadline.
* **Discovery**: with ``discovery=True`` (or a ``discovery_url``) the key source is a
  :class:`~wristband_mw.discovery.DiscoveringJwksClient`, which reads the issuer's
  OpenID configuration for the ``jwks_uri`` as part of a fetch. Everything above applies
  to the document and the key set together: one flight fetches both within one deadline,
  a failure of either backs off, refresh-ahead refreshes both.
* **Fork safety**: a child process (gunicorn ``--preload``, uWSGI without
  ``lazy-apps``) keeps the cached keys and their age but gets fresh locks, its own
  connection pool and no in-flight fetch, through ``os.register_at_fork``, or, where a
  server forks without Python's hooks, by a process-id check before any fetch.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Callable, Dict, FrozenSet, Mapping, NamedTuple, Optional, Protocol, Tuple, Union

from .cache import LRUCache
from .config import DEFAULT_JWKS_CACHE_MAX_SIZE, WristbandJwtValidatorConfig
from .discovery import DiscoveringJwksClient, OpenIdConfiguration, discovery_stats
from .errors import ErrorCode, JwksError, safe_echo
from .jose_adapter import VerificationKey
from .jwks import JwksClient, judge_jwks
from .stats import Counters

__all__ = ["KeyOutcome", "KeySource", "KeyStore", "NoKey"]

logger = logging.getLogger("wristband_mw")


class NoKey(NamedTuple):
    """Why a lookup found no key: ``unknown_key`` or ``keys_unavailable``, with a message safe to show."""

    code: ErrorCode
    message: str


#: What a lookup yields: the key, or :class:`NoKey`.
KeyOutcome = Union[VerificationKey, NoKey]


class KeySource(Protocol):
    """Where a key store's keys come from: a :class:`~wristband_mw.jwks.JwksClient`, or
    a :class:`~wristband_mw.discovery.DiscoveringJwksClient` that finds its JWKS first."""

    @property
    def url(self) -> str:
        """The JWKS URL (for log lines)."""

    @property
    def conflicted_kids(self) -> FrozenSet[str]:
        """Kids of the last fetched set that two different keys claim."""

    def fetch(self) -> Dict[str, VerificationKey]:
        """The usable keys by kid; ``JwksError`` on any failure, within one deadline."""

    def after_fork_in_child(self) -> None:
        """Drop whatever the parent process shares (pooled connections, locks)."""

    def close(self) -> None:
        """Release pooled connections."""


_ROUTINE, _UNKNOWN_KID = "routine", "unknown kid"
FIRST_BACKOFF = 1.0  # seconds after the first failed fetch; doubles up to the cool-down
_FOLLOWER_GRACE = 0.25  # past the leader's deadline, for it to record the outcome


class _Flight:
    """One fetch in progress; followers wait on ``done`` and read ``error``."""

    __slots__ = ("done", "ends_by", "error", "keys", "kind", "started")

    def __init__(self, started: float, timeout: float, kind: str) -> None:
        self.started = started
        self.kind = kind
        # Real time, not the injectable clock: the fetch's deadline is real time too.
        self.ends_by = time.monotonic() + timeout + _FOLLOWER_GRACE
        self.done = threading.Event()
        self.error: Optional[str] = None
        self.keys: Mapping[str, VerificationKey] = {}


class KeyStore:
    """Caches a JWKS and answers key lookups under the policy in the module docstring.

    Parameters:
        config: the validator configuration (TTL, sizes, cool-down, timeouts).
        counters: where to count hits, misses, fetches and cool-down rejections.
        client: fetches the JWKS; built from ``config.resolved_jwks_url`` when omitted (or,
            with discovery, from ``config.resolved_discovery_urls``).
        clock: monotonic clock, injectable for tests.
    """

    def __init__(
        self,
        config: WristbandJwtValidatorConfig,
        counters: Counters,
        *,
        client: Optional[KeySource] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._counters = counters
        self._clock = clock
        self._ttl = config.jwks_cache_ttl_seconds
        self._stale_if_error = float(config.jwks_stale_if_error)
        self._cooldown = float(config.jwks_refresh_cooldown)
        self._timeout = float(config.jwks_fetch_timeout)
        max_size = config.jwks_cache_max_size or DEFAULT_JWKS_CACHE_MAX_SIZE
        self._keys: LRUCache[str, VerificationKey] = LRUCache(max_size, clock=clock)
        self._lock = threading.Lock()
        self._flight: Optional[_Flight] = None
        self._fetched_at: Optional[float] = None
        self._refresh_due_at = float("inf")  # hot-path check: is the key set past its TTL?
        self._next_refresh_attempt = float("-inf")
        self._cooldown_until = float("-inf")
        self._cooldown_error: Optional[str] = None
        self._failing = False
        self._backoff_step = 0  # failed fetches in a row
        self._backoff_until = float("-inf")
        self._last_error: Optional[str] = None
        self._conflicted: FrozenSet[str] = frozenset()  # kids claimed by two different keys
        self.client: Optional[KeySource] = None
        if config.jwks is not None:
            try:
                static_keys, conflicted = judge_jwks(config.jwks, config.algorithms)
            except JwksError as exc:  # a configuration mistake, reported like the others
                raise ValueError(f"jwks: {exc}") from None
            self._note_conflicts(conflicted)
            self._store(static_keys, self._clock())
            self._refresh_due_at = float("inf")
        elif client is not None:
            self.client = client
        elif config.uses_discovery:
            self.client = DiscoveringJwksClient(
                config.resolved_issuer,
                config.resolved_discovery_urls,
                config.algorithms,
                config.jwks_fetch_timeout,
                ttl=self._ttl,
                stale_if_error=self._stale_if_error,
                clock=clock,
            )
        else:
            url = config.resolved_jwks_url or ""  # the config guarantees a URL when there is no static jwks
            self.client = JwksClient(url, config.algorithms, config.jwks_fetch_timeout)
        self._pid = os.getpid()
        _LIVE_STORES.add(self)

    # -- the per-request questions ----------------------------------------------------
    def cached(self, kid: str) -> Optional[VerificationKey]:
        """The cached key for ``kid`` without any I/O; may start a background refresh."""
        key = self._keys.get(kid)
        if key is None:
            self._counters.incr("key_cache_misses")
            return None
        self._counters.incr("key_cache_hits")
        if self._clock() >= self._refresh_due_at:
            self._counters.incr("stale_serves")
            self._refresh_in_background()
        return key

    def current(self, kid: str) -> Optional[VerificationKey]:
        """The key now held for ``kid``, uncounted: is a key that verified a token still trusted?

        Like :meth:`cached`, it starts the background refresh when the set is past its
        TTL, so traffic answered from the verified-token cache still notices revocation.
        """
        key = self._keys.get(kid)
        if key is not None and self._clock() >= self._refresh_due_at:
            self._refresh_in_background()
        return key

    def immediate_failure(self, kid: str) -> Optional[NoKey]:
        """The answer for an uncached ``kid`` if it needs no fetch (cool-down or static keys)."""
        if self.client is None or kid in self._conflicted:
            return _unknown(kid)
        self._check_fork()
        with self._lock:
            if self._flight is None:
                return self._no_fetch_answer(kid)
        return None

    def retry_after(self) -> Optional[float]:
        """Seconds until a lookup may fetch again while fetches fail, else ``None``.

        What a ``keys_unavailable`` response's ``Retry-After`` should say.
        """
        now = self._clock()
        with self._lock:
            if not self._failing:
                return None
            until = self._backoff_until
            if self._cooldown_error is not None:
                until = max(until, self._cooldown_until)
        return until - now if until > now else None

    def resolve(self, kid: str) -> KeyOutcome:
        """The key for ``kid``, fetching the JWKS if policy allows; may block up to the timeout."""
        key = self._keys.get(kid)
        if key is not None:
            return key
        if self.client is None or kid in self._conflicted:
            return _unknown(kid)
        self._check_fork()
        with self._lock:
            key = self._keys.get(kid)
            if key is not None:
                return key
            kind = _ROUTINE
            if self._flight is not None:
                flight, leader = self._flight, False
            else:
                answer = self._no_fetch_answer(kid)
                if answer is not None:
                    return answer
                if not self._needs_routine_fetch():
                    self._cooldown_until = self._clock() + self._cooldown
                    self._cooldown_error = None
                    kind = _UNKNOWN_KID
                flight, leader = self._new_flight(kind), True
        if leader:
            self._fly(flight, kind)
        elif not flight.done.wait(max(flight.ends_by - time.monotonic(), 0.0)):
            return NoKey(ErrorCode.KEYS_UNAVAILABLE, "Failed to get signing key: JWKS fetch did not finish in time")
        if kid in self._conflicted:
            return _unknown(kid)
        key = self._keys.get(kid)
        if key is not None:
            return key
        if flight.error is not None:
            return NoKey(ErrorCode.KEYS_UNAVAILABLE, f"Failed to get signing key: {flight.error}")
        key = flight.keys.get(kid)
        if key is not None:
            # Published, but the set is larger than jwks_cache_max_size: cache the key
            # asked for (evicting the least recently used one) rather than call it unknown.
            self._keys.set(kid, key, ttl=self._hard_ttl())
            return key
        if leader and kind == _ROUTINE:
            # The fetch this request caused has answered "unknown" for its kid: that is an
            # unknown-kid fetch too, so a flood of random kids gets one fetch, not two.
            with self._lock:
                self._cooldown_until = max(self._cooldown_until, flight.started + self._cooldown)
        return _unknown(kid)

    # -- warming and inspection -------------------------------------------------------
    def prefetch(self) -> None:
        """Fetch now (joining a fetch in progress); ``JwksError`` if it fails."""
        if self.client is None:
            return
        self._check_fork()
        with self._lock:
            leader = self._flight is None
            flight = self._new_flight(_ROUTINE) if self._flight is None else self._flight
        if leader:
            self._fly(flight, _ROUTINE)
        elif not flight.done.wait(max(flight.ends_by - time.monotonic(), 0.0)):
            raise JwksError("JWKS fetch did not finish in time")
        if flight.error is not None:
            raise JwksError(flight.error)

    def kids(self) -> Tuple[str, ...]:
        """The kids currently cached."""
        return tuple(self._keys.keys())

    def openid_configuration(self) -> Optional[OpenIdConfiguration]:
        """What discovery found (issuer, ``jwks_uri``, document URL); ``None`` without discovery or before it."""
        client = self.client
        return client.found if isinstance(client, DiscoveringJwksClient) else None

    def discovery_counts(self) -> Dict[str, int]:
        """``discovery_fetches_ok`` and ``discovery_fetches_failed`` (zeros without discovery)."""
        return discovery_stats(self.client)

    # -- internals ---------------------------------------------------------------------
    def _needs_routine_fetch(self) -> bool:
        """True when there is no live key set at all (never fetched, or fully expired)."""
        if self._fetched_at is None:
            return True
        if self._ttl is None:
            return False
        return self._clock() >= self._fetched_at + self._ttl + self._stale_if_error

    def _note_conflicts(self, conflicted: FrozenSet[str]) -> None:
        """Remember the kids two different keys claim; warn once per new clash, not per refresh."""
        new = conflicted - self._conflicted
        if new:
            logger.warning(
                "JWKS %s has different usable keys under kid %s; tokens with that kid are refused",
                self._url,
                ", ".join(repr(kid[:64]) for kid in sorted(new)),
            )
        self._conflicted = conflicted

    def _no_fetch_answer(self, kid: str) -> Optional[NoKey]:
        """Under the lock, with no fetch in flight: the answer if policy allows no fetch now."""
        now = self._clock()
        if now < self._cooldown_until and not self._needs_routine_fetch():
            return self._cooldown_answer(kid)
        if now < self._backoff_until:
            self._counters.incr("backoff_rejections")
            return NoKey(ErrorCode.KEYS_UNAVAILABLE, f"Failed to get signing key: {self._last_error}")
        return None

    def _cooldown_answer(self, kid: str) -> NoKey:
        self._counters.incr("cooldown_rejections")
        if self._cooldown_error is not None:
            return NoKey(ErrorCode.KEYS_UNAVAILABLE, f"Failed to get signing key: {self._cooldown_error}")
        return _unknown(kid)

    def _refresh_in_background(self) -> None:
        self._check_fork()
        with self._lock:
            if self._flight is not None or self._clock() < self._next_refresh_attempt:
                return
            flight = self._new_flight("refresh")
        threading.Thread(
            target=self._fly, args=(flight, "refresh"), name="wristband_mw-jwks-refresh", daemon=True
        ).start()

    def _new_flight(self, kind: str) -> _Flight:
        """Under the lock: start a fetch that others will wait on."""
        flight = self._flight = _Flight(self._clock(), self._timeout, kind)
        return flight

    def _fly(self, flight: _Flight, kind: str) -> None:
        """Run one fetch for everyone waiting on ``flight``."""
        client = self.client
        started = flight.started
        keys: Mapping[str, VerificationKey] = {}
        try:
            if client is None:
                raise JwksError("static keys are never fetched")
            keys = client.fetch()
        except JwksError as exc:
            flight.error = str(exc)
        except Exception as exc:  # a bug or an exotic failure: never kill the caller's request
            flight.error = f"{type(exc).__name__}: {exc}"[:300]
        # Counters last: whoever watches them sees the state and the log line already there.
        with self._lock:
            if flight.error is None:
                flight.keys = keys
                self._note_conflicts(client.conflicted_kids if client is not None else frozenset())
                self._store(keys, started)
                self._next_refresh_attempt = float("-inf")  # a failure's back-off ends with a success
                self._backoff_step = 0
                self._backoff_until = float("-inf")
                self._last_error = None
                if self._failing:
                    logger.warning("JWKS fetch from %s succeeded again", self._url)
                self._failing = False
                self._counters.incr("jwks_fetches_ok")
            else:
                self._next_refresh_attempt = started + self._cooldown
                self._backoff_step += 1
                delay = min(FIRST_BACKOFF * 2.0 ** min(self._backoff_step - 1, 30), self._cooldown)
                self._backoff_until = self._clock() + delay
                self._last_error = flight.error
                if kind == _UNKNOWN_KID:
                    self._cooldown_error = flight.error
                self._log_failure(kind, flight.error)
                self._counters.incr("jwks_fetches_failed")
            self._flight = None
        flight.done.set()

    @property
    def _url(self) -> str:
        return self.client.url if self.client is not None else "(static jwks)"

    def _log_failure(self, kind: str, error: str) -> None:
        if self._failing:
            logger.debug("JWKS %s fetch failed again: %s", kind, error)
            return
        self._failing = True
        if self._fetched_at is not None and not self._needs_routine_fetch():
            logger.warning(
                "JWKS %s fetch from %s failed (%s); serving the cached keys for up to %g s past their TTL",
                kind,
                self._url,
                error,
                self._stale_if_error,
            )
        else:
            logger.warning("JWKS %s fetch from %s failed: %s", kind, self._url, error)

    def _store(self, keys: Mapping[str, VerificationKey], fetched_at: float) -> None:
        # Keep the existing object for an unchanged key, so tokens it verified stay cached.
        kept: Dict[str, VerificationKey] = {}
        for kid, key in keys.items():
            old = self._keys.get(kid)
            kept[kid] = old if old is not None and old.same_as(key) else key
        self._keys.replace_all(list(kept.items()), ttl=self._hard_ttl())
        self._fetched_at = fetched_at
        self._refresh_due_at = float("inf") if self._ttl is None else fetched_at + self._ttl

    def _hard_ttl(self) -> Optional[float]:
        """How long a stored key may verify at all; static keys (never fetched) never expire."""
        if self._ttl is None or self.client is None:
            return None
        return self._ttl + self._stale_if_error

    def _check_fork(self) -> None:
        """Before anything that may fetch: notice a fork the at-fork hook did not see.

        uWSGI forks its workers without running Python's at-fork hooks (unless
        ``py-call-osafterfork`` is set), so the process id is checked too; only on the
        paths that may fetch, never on a cache hit.
        """
        if self._pid != os.getpid():
            with _FORK_LOCK:
                if self._pid != os.getpid():
                    self._after_fork_in_child()

    def _after_fork_in_child(self) -> None:
        """In a forked child: fresh locks, no fetch in flight, a connection pool of its own.

        Keys, the key set's age and the back-off timers are kept: the monotonic clock
        is the same in the child, so they mean the same there.
        """
        self._lock = threading.Lock()
        if self._flight is not None and self._flight.kind == _UNKNOWN_KID:
            # That fetch started a cool-down whose outcome this process will never see.
            self._cooldown_until = float("-inf")
        self._flight = None  # the parent's fetch never finishes here; the child fetches on its own
        self._keys.after_fork()
        if self.client is not None:
            self.client.after_fork_in_child()
        self._pid = os.getpid()


_LIVE_STORES: weakref.WeakSet[KeyStore] = weakref.WeakSet()
# Taken only in a child that finds it was forked without the hook (never in the parent).
_FORK_LOCK = threading.Lock()


def _reinit_after_fork() -> None:
    global _FORK_LOCK
    _FORK_LOCK = threading.Lock()
    for store in list(_LIVE_STORES):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_reinit_after_fork)


def _unknown(kid: str) -> NoKey:
    return NoKey(
        ErrorCode.UNKNOWN_KEY,
        f"Failed to get signing key: Unable to find a signing key that matches '{safe_echo(kid)}'",
    )
