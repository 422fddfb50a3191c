"""Several issuers behind one validator: :class:`MultiIssuerValidator`.

A token is routed by its ``iss``, read from the payload *before* anything is verified
(with the validator's own bounded parser, :mod:`wristband_mw.tokens`, so garbage stays
cheap) and compared exactly against the configured issuers. Only then does the chosen
validator verify everything, ``iss`` included, with its own audience, algorithms, keys
and caches: a key of one issuer never verifies another issuer's token, because it is
never even looked up for it. An unknown or missing ``iss`` is ``invalid_issuer`` at
once and never causes a fetch.

For many tenants, a *resolver* builds validators on demand. It is called with
attacker-chosen strings, so:

* it must check the issuer against an allow-list or a strict pattern before it returns
  a config, and return ``None`` for anything else;
* it is called only for a string ``iss`` of printable characters, at most
  :data:`MAX_ISSUER_LENGTH` long; its refusals are remembered for ``refused_ttl``
  seconds (up to :data:`REFUSED_ISSUERS_KEPT` of them), so the same refused ``iss``
  never reaches it twice in that time;
* it is called at most ``resolver_rate`` times a second on average (a burst of
  ``max_issuers`` first): a token whose issuer cannot be resolved now gets
  ``keys_unavailable`` (HTTP 503, retry later) rather than a verdict;
* what it builds is held in an LRU of ``max_issuers`` validators; the least recently
  used one is dropped (closed once no request uses it: garbage collection) when a new
  one needs the room.

Decoding a payload to read its ``iss`` costs about 20 us, against about 2 us for a token
the chosen validator has already verified; so the routes of tokens that *validated*
are remembered (the last 64 verbatim, :data:`ROUTES_KEPT` more by SHA-256), and a valid
token is decoded once. Refused tokens are never remembered, so forged ones cannot push
real routes out; both are cleared when a resolver-built validator is dropped.

Thread-safe and fork-safe: the tables change only under a lock, which a forked child
replaces (through ``os.register_at_fork``, or a process-id check where a server forks
without Python's hooks); each validator handles its own caches and connections.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple, Union

from .bearer import AuthorizationHeader, extract_bearer_token
from .cache import LRUCache
from .config import WristbandJwtValidatorConfig
from .errors import ErrorCode, JwksError, safe_echo
from .payload import JwtValidationResult
from .stats import Counters
from .tokens import TokenParseError, parse_token, token_bytes
from .validator import Verification, WristbandJwtValidator, create_wristband_jwt_validator

__all__ = ["IssuerResolver", "MultiIssuerValidator"]

logger = logging.getLogger("wristband_mw")

#: Builds the config for an issuer, or refuses it with ``None``. Called with attacker-chosen strings.
IssuerResolver = Callable[[str], Optional[WristbandJwtValidatorConfig]]

MAX_ISSUER_LENGTH = 512
REFUSED_ISSUERS_KEPT = 4096
ROUTES_KEPT = 4096
DEFAULT_MAX_ISSUERS = 100
_RECENT_TOKENS = 64
_ECHO = 128
_EVENTS = (
    *(code.value for code in ErrorCode),
    "resolver_calls",
    "resolver_refusals",
    "resolver_rate_limited",
    "refused_issuer_hits",
    "issuers_built",
    "issuers_evicted",
)

_SHA256 = hashlib.sha256()  # copied per token: cheaper than a new context


class _Route(NamedTuple):
    """Where a token goes, and its SHA-256 when its route is not remembered yet."""

    validator: WristbandJwtValidator
    digest: Optional[bytes]


_LIVE: weakref.WeakSet[MultiIssuerValidator] = weakref.WeakSet()


def _reinit_after_fork() -> None:
    for multi in list(_LIVE):
        multi._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


def _digest(token: str) -> bytes:
    hasher = _SHA256.copy()  # copied: cheaper than a new context
    hasher.update(token.encode("ascii"))
    return hasher.digest()


def _fail(error: ErrorCode, message: str) -> JwtValidationResult:
    return JwtValidationResult(False, None, message, error)


class MultiIssuerValidator:
    """One validator per issuer, behind the validator's interface.

    Parameters:
        validators: validators for the issuers known up front (one per issuer).
        resolver: called with an unknown ``iss`` to build a validator on demand; returns
            a :class:`WristbandJwtValidatorConfig` whose issuer is exactly that ``iss``,
            or ``None`` to refuse. It MUST check the issuer against an allow-list or
            pattern (it is called with attacker-chosen strings), and must not block.
        max_issuers: how many resolver-built validators to keep (LRU), default 100.
        resolver_rate: resolver calls allowed per second on average, after a burst of
            ``max_issuers``; beyond it a token of a new issuer gets ``keys_unavailable``.
        refused_ttl: seconds a refused issuer is answered without asking the resolver.
        monotonic: monotonic clock (tests inject one).

    Example::

        multi = MultiIssuerValidator([
            create_wristband_jwt_validator(WristbandJwtValidatorConfig("auth.yourapp.io")),
            create_wristband_jwt_validator(WristbandJwtValidatorConfig(
                issuer="https://partner.example.com", discovery=True, audience="orders-api")),
        ])
        result = multi.validate(token)
        if result.is_valid:
            print(result.payload.iss, "vouches for", result.payload.sub)
    """

    def __init__(
        self,
        validators: Iterable[WristbandJwtValidator] = (),
        *,
        resolver: Optional[IssuerResolver] = None,
        max_issuers: int = DEFAULT_MAX_ISSUERS,
        resolver_rate: float = 10.0,
        refused_ttl: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        static: Dict[str, WristbandJwtValidator] = {}
        for validator in validators:
            if not isinstance(validator, WristbandJwtValidator):
                raise ValueError("validators must come from create_wristband_jwt_validator(...)")
            if validator.issuer in static:
                raise ValueError(f"two validators for issuer {validator.issuer!r}: pass one per issuer")
            static[validator.issuer] = validator
        if not static and resolver is None:
            raise ValueError("pass at least one validator, or a resolver")
        if resolver is not None and not callable(resolver):
            raise ValueError("resolver must be a callable: issuer -> WristbandJwtValidatorConfig or None")
        if isinstance(max_issuers, bool) or not isinstance(max_issuers, int) or max_issuers < 1:
            raise ValueError("max_issuers must be an integer >= 1")
        if isinstance(resolver_rate, bool) or not isinstance(resolver_rate, (int, float)) or not resolver_rate > 0:
            raise ValueError("resolver_rate must be a positive number of calls per second")
        if isinstance(refused_ttl, bool) or not isinstance(refused_ttl, (int, float)) or not refused_ttl > 0:
            raise ValueError("refused_ttl must be a positive number of seconds")
        self._static = static  # never changed after this: read without a lock
        self._resolver = resolver
        self.max_issuers = max_issuers
        self._rate = float(resolver_rate)
        self._clock = monotonic
        self._counters = Counters(_EVENTS)
        self._lock = threading.Lock()  # guards _built, _recent and the allowance; held briefly
        self._resolving = threading.Lock()  # one resolver call at a time
        self._built: OrderedDict[str, WristbandJwtValidator] = OrderedDict()
        self._refused: LRUCache[str, bool] = LRUCache(REFUSED_ISSUERS_KEPT, float(refused_ttl), clock=monotonic)
        self._allowance = float(max_issuers)
        self._allowance_at = monotonic()
        # Routes of tokens that validated, so they are not decoded again: the last few
        # verbatim (cleared when full), more by SHA-256; both cleared when a validator is dropped.
        self._recent: Dict[str, WristbandJwtValidator] = {}
        self._routes: LRUCache[bytes, WristbandJwtValidator] = LRUCache(ROUTES_KEPT)
        self.max_token_bytes = max((v.config.max_token_bytes for v in static.values()), default=8192)
        self._pid = os.getpid()
        _LIVE.add(self)

    # -- the validator interface -------------------------------------------------------
    @property
    def issuer(self) -> str:
        """The first configured issuer (what a single-issuer middleware names its realm after)."""
        return next(iter(self._static), "")

    @property
    def issuers(self) -> Tuple[str, ...]:
        """Every issuer with a validator now: the configured ones, then those the resolver built."""
        with self._locked():
            return (*self._static, *self._built)

    def validator_for(self, issuer: str) -> Optional[WristbandJwtValidator]:
        """The validator held for ``issuer``, without calling the resolver."""
        found = self._static.get(issuer)
        if found is None:
            with self._locked():
                found = self._built.get(issuer)
        return found

    def extract_bearer_token(self, authorization_header: AuthorizationHeader = None) -> str:
        """See :func:`wristband_mw.extract_bearer_token`."""
        return extract_bearer_token(authorization_header)

    def validate(self, token: str) -> JwtValidationResult:
        """Route ``token`` by its unverified ``iss`` and validate it there; never raises."""
        route = self._route(token)
        if isinstance(route, JwtValidationResult):
            return route
        result = route.validator.validate(token)
        if result.is_valid and route.digest is not None:
            self._learn(token, route.digest, route.validator)
        return result

    async def validate_async(self, token: str) -> JwtValidationResult:
        """Same result as :meth:`validate`; fetches run in worker threads, never on the loop."""
        route = self._route(token)
        if isinstance(route, JwtValidationResult):
            return route
        result = await route.validator.validate_async(token)
        if result.is_valid and route.digest is not None:
            self._learn(token, route.digest, route.validator)
        return result

    # -- what the middleware asks (see wristband_mw.flow.TokenValidator) -------------------
    @property
    def jwks_refresh_cooldown(self) -> float:
        """The longest unknown-kid cool-down among the configured issuers (the default ``Retry-After``)."""
        return max((v.config.jwks_refresh_cooldown for v in self._static.values()), default=30.0)

    def verify_identity(self, token: str) -> Verification:
        """:meth:`WristbandJwtValidator.verify_identity`, routed by the token's ``iss``."""
        route = self._route(token)
        if isinstance(route, JwtValidationResult):
            return route.error or ErrorCode.MALFORMED
        return self._learned(token, route, route.validator.verify_identity(token))

    async def verify_identity_async(self, token: str) -> Verification:
        """:meth:`verify_identity` from async code (fetches run in worker threads)."""
        route = self._route(token)
        if isinstance(route, JwtValidationResult):
            return route.error or ErrorCode.MALFORMED
        return self._learned(token, route, await route.validator.verify_identity_async(token))

    def cached_verification(self, token: str) -> Optional[Verification]:
        """The answer from the verified-token cache of the validator this token was routed to
        before, or ``None`` (a token never routed yet is not parsed here)."""
        validator = self._remembered_route(token)
        return None if validator is None else validator.cached_verification(token)

    def prefetch(self) -> None:
        """Fetch every held validator's keys (and discovery documents) now.

        Raises :class:`JwksError` naming each issuer that failed, after trying them all.
        """
        failures = []
        for validator in self._held():
            try:
                validator.prefetch()
            except JwksError as exc:
                failures.append(f"{validator.issuer}: {exc}")
        if failures:
            raise JwksError("; ".join(failures))

    async def prefetch_async(self) -> None:
        """:meth:`prefetch` from async code: every issuer at once, each in a worker thread."""
        held = self._held()
        outcomes = await asyncio.gather(*(v.prefetch_async() for v in held), return_exceptions=True)
        failures = []
        for validator, outcome in zip(held, outcomes):
            if isinstance(outcome, JwksError):
                failures.append(f"{validator.issuer}: {outcome}")
            elif isinstance(outcome, BaseException):
                raise outcome
        if failures:
            raise JwksError("; ".join(failures))

    def keys_retry_after(self) -> Optional[float]:
        """The longest JWKS back-off among the issuers (seconds), else ``None``."""
        waits = [w for w in (v.keys_retry_after() for v in self._held()) if w is not None]
        return max(waits) if waits else None

    def stats(self) -> Dict[str, Any]:
        """Counters per issuer (each validator's ``stats()``), and the routing's own.

        ``{"issuers": {iss: {...}}, "unrouted": {code: n}, "resolver": {...}}``, where
        ``unrouted`` counts tokens refused before any validator was chosen.
        """
        counts = self._counters.snapshot()
        unrouted = {code.value: counts.pop(code.value) for code in ErrorCode}
        with self._locked():
            held = {**self._static, **self._built}
        return {
            "issuers": {issuer: validator.stats() for issuer, validator in held.items()},
            "unrouted": unrouted,
            "resolver": {**counts, "held": len(held) - len(self._static), "max_issuers": self.max_issuers},
        }

    def close(self) -> None:
        """Close every held validator (pooled connections, worker threads)."""
        for validator in self._held():
            validator.close()

    # -- routing -------------------------------------------------------------------------
    def _route(self, token: object) -> Union[_Route, JwtValidationResult]:
        """The validator for ``token`` (with the token's digest, to remember the route if it
        validates), or the refusal. Decoding the payload costs about 20 us, so the routes of
        tokens that validated are remembered: verbatim for the last few, by SHA-256 for more."""
        digest: Optional[bytes] = None
        if type(token) is str:
            recent = self._recent.get(token)
            if recent is not None:
                return _Route(recent, None)
            if token.isascii() and len(token) <= self.max_token_bytes:
                digest = _digest(token)
                known = self._routes.get(digest)
                if known is not None:
                    return _Route(known, None)
        try:
            iss = self._unverified_issuer(token)
        except _RefusedError as refusal:
            return self._refused_now(refusal.code, refusal.message)
        except Exception:  # a bug must cost one request a 401, never a 500
            logger.exception("unexpected error while routing a token")
            return self._refused_now(ErrorCode.MALFORMED, "Token could not be validated")
        validator = self._static.get(iss) if type(iss) is str else None
        if validator is None and type(iss) is str and self._resolver is not None:
            outcome = self._resolve(iss)
            if isinstance(outcome, JwtValidationResult):
                return outcome
            validator = outcome
        if validator is None:
            return self._refused_now(
                ErrorCode.INVALID_ISSUER,
                f"Invalid issuer. Expected one of the configured issuers, got {safe_echo(iss, _ECHO)}",
            )
        return _Route(validator, digest)

    def _unverified_issuer(self, token: object) -> object:
        """The payload's ``iss``, not verified (``None`` when absent); :class:`_RefusedError` for garbage.

        The same checks, in the same order and with the same messages, as the validator's
        first steps, so a token refused here is refused exactly as it would be there.
        """
        try:
            raw = token_bytes(token, self.max_token_bytes)
        except TokenParseError as exc:
            raise _RefusedError(exc.code, str(exc)) from None
        try:
            return parse_token(raw, lazy_payload=True).payload.get("iss")
        except TokenParseError as exc:
            raise _RefusedError(exc.code, str(exc)) from None

    def _resolve(self, iss: str) -> Union[WristbandJwtValidator, JwtValidationResult, None]:
        """The resolver-built validator for ``iss`` (building it if allowed), a 503 result, or ``None``."""
        with self._locked():
            found = self._built.get(iss)
            if found is not None:
                self._built.move_to_end(iss)
                return found
        if len(iss) > MAX_ISSUER_LENGTH or not iss.isprintable():
            return None  # never handed to the resolver
        if self._refused.get(iss):
            self._counters.incr("refused_issuer_hits")
            return None
        if self._pid != os.getpid():
            self._after_fork_in_child()
        with self._resolving:  # one resolver call at a time; lookups of built issuers go on
            with self._lock:
                found = self._built.get(iss)  # built by another thread meanwhile
                if found is not None:
                    return found
                allowed = self._take_allowance()
            if not allowed:
                self._counters.incr("resolver_rate_limited")
                return self._refused_now(
                    ErrorCode.KEYS_UNAVAILABLE, "Issuer not resolved: too many new issuers at once; try again shortly"
                )
            self._counters.incr("resolver_calls")
            config = self._call_resolver(iss)
            if config is None:
                self._counters.incr("resolver_refusals")
                self._refused.set(iss, True)
                return None
            validator = create_wristband_jwt_validator(config)
            with self._lock:
                self._built[iss] = validator
                while len(self._built) > self.max_issuers:
                    dropped, _ = self._built.popitem(last=False)  # closed by GC once no request uses it
                    self._recent = {}  # no remembered route may lead to a dropped validator
                    self._routes.clear()
                    self._counters.incr("issuers_evicted")
                    logger.debug("dropped the least recently used issuer %s", safe_echo(dropped, _ECHO))
                self.max_token_bytes = max(self.max_token_bytes, config.max_token_bytes)
            self._counters.incr("issuers_built")
            logger.debug("built a validator for issuer %s", safe_echo(iss, _ECHO))
            return validator

    def _call_resolver(self, iss: str) -> Optional[WristbandJwtValidatorConfig]:
        """One at a time: the resolver's config for ``iss``, or ``None`` for any refusal."""
        resolver = self._resolver
        if resolver is None:  # only called when there is one
            return None
        try:
            config = resolver(iss)
        except Exception as exc:  # the resolver's bug must not become a 500
            logger.warning("issuer resolver raised %s for %s; refusing it", type(exc).__name__, safe_echo(iss, _ECHO))
            return None
        if config is None:
            return None
        if not isinstance(config, WristbandJwtValidatorConfig):
            logger.warning("issuer resolver returned %s, not a WristbandJwtValidatorConfig", type(config).__name__)
            return None
        if config.resolved_issuer != iss:
            logger.warning(
                "issuer resolver returned a config for %s when asked for %s; refusing it",
                safe_echo(config.resolved_issuer, _ECHO),
                safe_echo(iss, _ECHO),
            )
            return None
        return config

    def _take_allowance(self) -> bool:
        """Under the lock: a token bucket of ``max_issuers`` refilled at ``resolver_rate`` per second."""
        now = self._clock()
        elapsed = max(now - self._allowance_at, 0.0)
        self._allowance = min(float(self.max_issuers), self._allowance + elapsed * self._rate)
        self._allowance_at = now
        if self._allowance < 1.0:
            return False
        self._allowance -= 1.0
        return True

    def _remembered_route(self, token: str) -> Optional[WristbandJwtValidator]:
        if type(token) is not str:
            return None
        recent = self._recent.get(token)
        if recent is not None or not token.isascii() or len(token) > self.max_token_bytes:
            return recent
        return self._routes.get(_digest(token))

    def _learned(self, token: str, route: _Route, verified: Verification) -> Verification:
        if route.digest is not None and not isinstance(verified, ErrorCode):
            self._learn(token, route.digest, route.validator)
        return verified

    def _learn(self, token: str, digest: bytes, validator: WristbandJwtValidator) -> None:
        """Remember the route of a token that validated (never of a refused one: a flood of
        forged tokens must not push real routes out)."""
        self._routes.set(digest, validator)
        with self._locked():
            if len(self._recent) >= _RECENT_TOKENS:
                self._recent = {}
            self._recent[token] = validator

    def _refused_now(self, code: ErrorCode, message: str) -> JwtValidationResult:
        self._counters.incr(code.value)
        return _fail(code, message)

    def _held(self) -> List[WristbandJwtValidator]:
        with self._locked():
            return [*self._static.values(), *self._built.values()]

    def _locked(self) -> threading.Lock:
        """The lock, after noticing a fork the at-fork hook did not see (uWSGI)."""
        if self._pid != os.getpid():
            self._after_fork_in_child()
        return self._lock

    def _after_fork_in_child(self) -> None:
        # A parent thread may have held the lock at the fork: the child gets its own.
        self._lock = threading.Lock()
        self._resolving = threading.Lock()
        self._refused.after_fork()
        self._routes.after_fork()
        self._pid = os.getpid()


class _RefusedError(Exception):
    """A token refused before routing: the code and message its result carries."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
