"""What a verified token may do beyond its signature: claim rules and revocation.

Used by :mod:`wristband_mw.flow` (the verdict) and checked by
:mod:`wristband_mw.options`; neither adapter knows about them.

* :class:`ClaimRequirement`: one claim a path prefix requires (``claims=`` option):
  an exact value, one of several, or a predicate. Compared by type and value, so
  ``True`` never matches ``1``; a missing claim never matches; a predicate passes only
  by returning ``True`` (an ``async def`` predicate returns a coroutine, which is
  truthy: it must never pass), and a raising one fails closed, logged once per streak.
* :class:`RevocationCheck`: the ``is_revoked`` hook, sync or async, asked after the
  signature (also for tokens answered from the verified-token cache). ``True`` means
  revoked; ``False`` means not; anything else, or an exception, fails closed.
* :class:`FailureStreak`: logs the first failure of a run of failures, not each one.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import threading
from typing import Any, Callable, Mapping, Optional, Tuple, Union

from .payload import DEFAULT_SCOPE_CLAIMS, JWTPayload

__all__ = [
    "DEFAULT_SCOPE_CLAIMS",
    "ClaimRequirement",
    "FailureStreak",
    "RevocationCheck",
    "RevocationHook",
    "claim_requirements",
]

logger = logging.getLogger("wristband_mw")

#: ``is_revoked``: called with the verified claims; ``True`` means revoked. May be ``async``.
RevocationHook = Callable[[JWTPayload], Any]

ClaimValue = Union[str, int, bool]
_EXACT_TYPES = (str, int, bool)
_ABSENT: Any = object()


class FailureStreak:
    """Logs the first failure of a streak (with its traceback) and stays quiet until a success.

    A hook that fails on every request would otherwise flood the log, one traceback per
    request. Correct under threads by a lock on the transitions; a success only takes
    the lock when a streak was running.
    """

    __slots__ = ("_failing", "_lock", "_what")

    def __init__(self, what: str) -> None:
        self._what = what
        self._failing = False
        self._lock = threading.Lock()

    def failed(self, reason: str, exc_info: bool = True) -> None:
        """Record a failure; logs it at error level when it starts a streak."""
        with self._lock:
            first = not self._failing
            self._failing = True
        if first:
            logger.error(
                "%s failed (%s); refusing requests until it succeeds (logged once per streak)",
                self._what,
                reason,
                exc_info=exc_info,
            )

    def succeeded(self) -> None:
        """End a streak, if one is running."""
        if self._failing:
            with self._lock:
                ended = self._failing
                self._failing = False
            if ended:
                logger.info("%s succeeds again", self._what)


class ClaimRequirement:
    """One claim a path prefix requires: an exact value, one of several, or a predicate.

    Example::

        >>> from wristband_mw import JWTPayload
        >>> ClaimRequirement("tnt_id", "t-1").satisfied_by(JWTPayload({"tnt_id": "t-1"}))
        True
        >>> ClaimRequirement("admin", True).satisfied_by(JWTPayload({"admin": 1}))
        False
        >>> ClaimRequirement("lvl", lambda v: isinstance(v, int) and v >= 3).satisfied_by(JWTPayload({"lvl": 4}))
        True
    """

    __slots__ = ("_streak", "allowed", "name", "predicate")

    def __init__(self, name: str, expected: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"claims: claim names must be non-empty strings; got {name!r}")
        self.name = name
        self.predicate: Optional[Callable[[Any], Any]] = None
        self.allowed: Tuple[ClaimValue, ...] = ()
        if callable(expected):
            self.predicate = expected
        elif isinstance(expected, _EXACT_TYPES):
            self.allowed = (expected,)
        elif isinstance(expected, (list, tuple, set, frozenset)) and expected:
            if not all(isinstance(value, _EXACT_TYPES) for value in expected):
                raise ValueError(f"claims[...][{name!r}]: a list of allowed values holds strings, integers or booleans")
            self.allowed = tuple(expected)
        else:
            raise ValueError(
                f"claims[...][{name!r}] must be a string, integer or boolean, a non-empty list of them"
                " (one of), or a predicate callable(value) -> bool"
            )
        self._streak = FailureStreak(f"claims predicate for {name!r}")

    def satisfied_by(self, claims: JWTPayload) -> bool:
        """True when the token's claim meets this requirement; never raises."""
        value = claims.get(self.name, _ABSENT)
        if value is _ABSENT:
            return False
        predicate = self.predicate
        if predicate is None:
            kind = type(value)  # compared by type too: True is not 1, 1 is not "1"
            return any(type(allowed) is kind and allowed == value for allowed in self.allowed)
        try:
            verdict = predicate(value)
        except Exception:
            self._streak.failed("it raised")
            return False
        if inspect.isawaitable(verdict):
            if inspect.iscoroutine(verdict):
                verdict.close()  # never awaited: no "never awaited" warning per request
            self._streak.failed("it returned an awaitable: claim predicates must be plain functions", False)
            return False
        self._streak.succeeded()
        return verdict is True

    def __repr__(self) -> str:  # never a claim value from a token; the configured ones are the operator's
        if self.predicate is not None:
            return f"ClaimRequirement({self.name!r}, predicate)"
        return f"ClaimRequirement({self.name!r}, one of {self.allowed!r})"


def claim_requirements(required: object, prefix: str) -> Tuple[ClaimRequirement, ...]:
    """The requirements of one ``claims=`` entry (claim name -> expected); raises ``ValueError``."""
    if not isinstance(required, Mapping):
        raise ValueError(
            f"claims[{prefix!r}] must map claim names to required values, e.g. {{'tnt_id': 't-1'}}; got {required!r}"
        )
    return tuple(ClaimRequirement(name, expected) for name, expected in required.items())


_REVOKED, _NOT_REVOKED, _FAILED = "revoked", "not revoked", "failed"


def _is_async_callable(hook: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(type(hook).__call__)


class RevocationCheck:
    """The ``is_revoked`` hook, asked with the verified claims; fails closed.

    :meth:`check` runs it inline (WSGI). :meth:`check_async` awaits an ``async`` hook,
    and runs a plain one in the event loop's default thread pool, so a hook that does
    blocking I/O (a Redis or database lookup) never blocks the loop, nor competes with
    the validator's JWKS workers. Each returns ``"revoked"``, ``"not revoked"`` or
    ``"failed"`` (raised, or returned something other than a bool).

    Example::

        check = RevocationCheck(lambda claims: claims.get("jti") in denylist)
        check.check(payload)  # "not revoked"
    """

    REVOKED = _REVOKED
    NOT_REVOKED = _NOT_REVOKED
    FAILED = _FAILED

    __slots__ = ("_streak", "hook", "is_async")

    def __init__(self, hook: RevocationHook) -> None:
        if not callable(hook):
            raise ValueError("is_revoked must be a callable (claims) -> bool, or an async one")
        self.hook = hook
        self.is_async = _is_async_callable(hook)
        self._streak = FailureStreak("is_revoked hook")

    def _judge(self, answer: object) -> str:
        if answer is True:
            self._streak.succeeded()
            return _REVOKED
        if answer is False:
            self._streak.succeeded()
            return _NOT_REVOKED
        self._streak.failed(f"it returned {type(answer).__name__}, not True or False", False)
        return _FAILED

    def check(self, claims: JWTPayload) -> str:
        """Ask the hook in this thread (WSGI); an awaitable answer fails closed."""
        try:
            answer = self.hook(claims)
        except Exception:
            self._streak.failed("it raised")
            return _FAILED
        if inspect.isawaitable(answer):
            if inspect.iscoroutine(answer):
                answer.close()
            self._streak.failed("it is async, and a WSGI server cannot await it: pass a plain function", False)
            return _FAILED
        return self._judge(answer)

    async def check_async(self, claims: JWTPayload) -> str:
        """Ask the hook without blocking the event loop (ASGI)."""
        try:
            if self.is_async:
                answer = await self.hook(claims)
            else:
                # As asyncio.to_thread does: the hook sees the request's context variables.
                call = functools.partial(contextvars.copy_context().run, self.hook, claims)
                answer = await asyncio.get_running_loop().run_in_executor(None, call)
                if inspect.isawaitable(answer):  # e.g. a lambda returning a coroutine
                    answer = await answer
        except Exception:
            self._streak.failed("it raised")
            return _FAILED
        return self._judge(answer)
