"""Validate Wristband (or any OIDC issuer's) access tokens: RS256 by default, PS*/ES*/EdDSA on request.

A drop-in replacement for ``wristband.python_jwt``: the same factory, config, method
names and messages, with stricter defaults and a cheaper hot path. Checks run
cheapest first, so forged garbage costs microseconds and never causes a JWKS fetch:

1. verified-token cache (keyed by the token's SHA-256, the last few tokens verbatim):
   a token seen before only has ``exp``/``nbf`` and its key's trust rechecked;
2. size, structure and encoding (:mod:`wristband_mw.tokens`);
3. ``alg`` allow-list, ``typ``, refused header features, ``kid``;
4. ``iss``, then ``exp``/``nbf``/``iat`` (JSON numbers only), then ``sub`` and ``jti``
   (when present: non-empty strings of printable characters);
5. the key by ``kid`` (:mod:`wristband_mw.keystore`), then the signature through a
   pre-built python-jose key object, then ``aud``.

A token over 1 KB whose key is already cached has its signature checked right after
step 3, before its payload is even base64-decoded: a forged token of
``max_token_bytes`` then costs about one signature verify, not JSON work on top of it.
What is algorithm-specific (key types, signature lengths) lives with the key
(:mod:`wristband_mw.jose_adapter`); this module only asks it.

With ``hmac_secret`` the one key is the shared secret (:class:`_SharedSecretKeys`):
nothing is ever fetched, ``kid`` is optional, and every other check is the same.

``validate`` never raises; every failure is a :class:`JwtValidationResult` with an
:class:`ErrorCode`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple, Union

from .bearer import AuthorizationHeader, extract_bearer_token
from .cache import BoundedMemo, TinyLfuCache
from .config import WristbandJwtValidatorConfig
from .discovery import OpenIdConfiguration
from .errors import ErrorCode, safe_echo
from .identity import Identity
from .jose_adapter import SharedSecretKey, VerificationKey, build_hmac_key, signature_length_bounds
from .jwks import MAX_KID_LENGTH
from .keystore import KeyOutcome, KeySource, KeyStore, NoKey
from .payload import JWTPayload, JwtValidationResult, payload_of_frozen_claims
from .stats import Counters
from .tokens import ParsedToken, TokenParseError, parse_token, token_bytes

Verification = Union[Identity, ErrorCode]
"""What :meth:`WristbandJwtValidator.verify_identity` returns: the token's identity, or why it was refused."""

__all__ = ["JwtValidator", "WristbandJwtValidator", "create_wristband_jwt_validator"]

logger = logging.getLogger("wristband_mw")

# Outside years 1 to 9999 a timestamp is meaningless, and datetime.fromtimestamp() in
# the application would raise on it; such a claim is refused rather than trusted.
MIN_TIMESTAMP = -62_135_596_800
MAX_TIMESTAMP = 253_402_300_799
_REFUSED_HEADER_PARAMS = frozenset({"crit", "b64", "zip", "enc"})
# RFC 7519 makes these strings. They end up in REMOTE_USER, headers and logs, so one that
# is not a non-empty string of printable characters (str.isprintable: no C0/C1 controls,
# DEL, line or paragraph separators, format characters such as U+202E) is refused.
# JSON null is refused too, as for the time claims.
_IDENTITY_CLAIMS = ("sub", "jti")
_ABSENT: Any = object()  # a claim that is not there, unlike JSON null (which is refused)
_SHA256 = hashlib.sha256()  # copied per token: cheaper than a new context (OpenSSL init)
_HEADER_CHECKS_SIZE = 64
# Tokens longer than this are verified before their payload is decoded (when the key is
# cached): a Wristband access token is about 900 bytes, a forged one up to max_token_bytes.
_VERIFY_FIRST_BYTES = 1024
_RECENT_TOKENS = 64


class _AcceptedHeader(NamedTuple):
    """A JOSE header that passed every check: what the rest of validation needs from it."""

    alg: str
    kid: str


class _RefusedHeader(NamedTuple):
    """A JOSE header that failed a check, and the failure to report."""

    code: ErrorCode
    message: str


_HeaderCheck = Union[_AcceptedHeader, _RefusedHeader]
_EVENTS = (
    "valid",
    *(code.value for code in ErrorCode),
    "verified_token_cache_hits",
    "key_cache_hits",
    "key_cache_misses",
    "jwks_fetches_ok",
    "jwks_fetches_failed",
    "stale_serves",
    "cooldown_rejections",
    "backoff_rejections",
)


_LIVE_VALIDATORS: weakref.WeakSet[WristbandJwtValidator] = weakref.WeakSet()


def _reinit_after_fork() -> None:
    for validator in list(_LIVE_VALIDATORS):
        validator._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # the key store registers its own part
    os.register_at_fork(after_in_child=_reinit_after_fork)


def _fail(error: ErrorCode, message: str) -> JwtValidationResult:
    return JwtValidationResult(False, None, message, error)


def _is_timestamp(value: object) -> bool:
    # type() rather than isinstance(): JSON true/false are bools, and bool is an int.
    return (type(value) is int or type(value) is float) and MIN_TIMESTAMP <= value <= MAX_TIMESTAMP


class _Verified:
    """A verified token: its cache entry, holding what a hit needs to recheck and return.

    The :class:`~wristband_mw.identity.Identity` (user and credential objects) is built
    the first time the middleware asks for it and kept here, shared by every later
    request carrying the token; callers of ``validate()`` alone never pay for it.
    """

    __slots__ = ("_identity", "digest", "exp", "key", "nbf", "payload")

    def __init__(
        self, digest: bytes, payload: JWTPayload, exp: Optional[float], nbf: Optional[float], key: VerificationKey
    ) -> None:
        self.digest = digest
        self.payload = payload
        self.exp = exp
        self.nbf = nbf
        self.key = key
        self._identity: Optional[Identity] = None

    @property
    def identity(self) -> Identity:
        identity = self._identity
        if identity is None:
            # Two threads may both build one: equal, immutable values, and either store wins.
            identity = self._identity = Identity(self.payload)
        return identity


class _SharedSecretKeys:
    """The key store of a shared-secret validator: one key, answering every ``kid``, no I/O."""

    __slots__ = ("_key",)
    client: Optional[KeySource] = None

    def __init__(self, key: SharedSecretKey) -> None:
        self._key = key

    def cached(self, kid: str) -> SharedSecretKey:
        return self._key

    def current(self, kid: str) -> SharedSecretKey:
        return self._key

    def resolve(self, kid: str) -> KeyOutcome:
        return self._key

    def immediate_failure(self, kid: str) -> Optional[NoKey]:
        return None

    def prefetch(self) -> None:
        """Nothing to fetch."""

    def retry_after(self) -> Optional[float]:
        return None

    def openid_configuration(self) -> Optional[OpenIdConfiguration]:
        return None

    def discovery_counts(self) -> Dict[str, int]:
        return {}

    def kids(self) -> Tuple[str, ...]:
        return ()


class _NeedsKey:
    """A token that passed every check before the key: waiting for the key store."""

    __slots__ = ("alg", "digest", "kid", "parsed")

    def __init__(self, digest: bytes, parsed: ParsedToken, alg: str, kid: str):
        self.digest = digest
        self.parsed = parsed
        self.alg = alg
        self.kid = kid


class WristbandJwtValidator:
    """Validates access tokens against one issuer and its JWKS.

    Create one per issuer and share it: it is thread-safe, holds the key cache and
    the verified-token cache, and reuses HTTP connections.

    Parameters:
        config: a :class:`WristbandJwtValidatorConfig`.
        clock: wall clock in seconds since the epoch, for ``exp``/``nbf`` (tests inject one).
        monotonic: monotonic clock for cache lifetimes (tests inject one).
        jwks_client: a custom :class:`~wristband_mw.jwks.JwksClient` (e.g. trusting a test CA),
            or :class:`~wristband_mw.discovery.DiscoveringJwksClient` with discovery.

    Example::

        validator = create_wristband_jwt_validator(WristbandJwtValidatorConfig("auth.yourapp.io"))
        result = validator.validate(validator.extract_bearer_token(headers.get("authorization")))
        if result.is_valid:
            user_id = result.payload.sub
    """

    def __init__(
        self,
        config: WristbandJwtValidatorConfig,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        jwks_client: Optional[KeySource] = None,
    ) -> None:
        if not isinstance(config, WristbandJwtValidatorConfig):
            raise ValueError("create_wristband_jwt_validator needs a WristbandJwtValidatorConfig")
        self.config = config
        self._clock = clock
        self._counters = Counters(_EVENTS)
        self._keys: Union[KeyStore, _SharedSecretKeys]
        if config.hmac_secret is not None:
            if jwks_client is not None:
                raise ValueError("a validator with hmac_secret fetches no keys: do not pass jwks_client")
            self._keys = _SharedSecretKeys(build_hmac_key(config.hmac_secret, config.algorithms))
        else:
            self._keys = KeyStore(config, self._counters, client=jwks_client, clock=monotonic)
        # Shared-secret tokens need no kid (there is one key); JWKS tokens must name theirs.
        self._kid_optional = config.hmac_secret is not None
        size = config.verified_token_cache_size
        # Scan-resistant (W-TinyLFU): many users cycling through more tokens than it holds
        # still hit, where an LRU would miss every time. It rechecks nothing: see _recheck_verified.
        self._verified: Optional[TinyLfuCache[bytes, _Verified]] = TinyLfuCache(size) if size else None
        self._executor: Optional[ThreadPoolExecutor] = None
        self._executor_pid = os.getpid()
        # Guards the executor's creation (the memos below have locks of their own).
        self._memo_lock = threading.Lock()
        _LIVE_VALIDATORS.add(self)
        # Header checks depend only on the encoded header and this config: an issuer uses
        # a handful of headers, so each is checked once.
        self._header_checks: BoundedMemo[bytes, _HeaderCheck] = BoundedMemo(_HEADER_CHECKS_SIZE)
        # A client sends its token again and again: the last few are found without hashing.
        self._recent: BoundedMemo[str, _Verified] = BoundedMemo(_RECENT_TOKENS)
        # Everything the hot path compares against, computed once.
        self.issuer: str = config.resolved_issuer
        self._max_bytes = config.max_token_bytes
        self._algorithms = frozenset(config.algorithms)
        self._alg_list = ", ".join(config.algorithms)
        # Per allowed alg, the signature lengths any acceptable key could produce: others
        # are refused before the key lookup, so they never cause a fetch.
        self._signature_bounds = {alg: signature_length_bounds(alg) for alg in config.algorithms}
        typ = config.token_typ.lower() if config.token_typ else ""
        if typ.startswith("application/"):  # RFC 7515 4.1.9: the prefix may be omitted
            typ = typ[len("application/") :]
        self._typs = frozenset({typ, "application/" + typ}) if typ else frozenset()
        self._audiences = frozenset(config.audiences)
        self._leeway = float(config.leeway)
        self._require_exp = config.require_exp

    @property
    def max_token_bytes(self) -> int:
        """The largest token accepted (``config.max_token_bytes``)."""
        return self._max_bytes

    @property
    def jwks_refresh_cooldown(self) -> float:
        """``config.jwks_refresh_cooldown``: the middlewares' default ``Retry-After``."""
        return float(self.config.jwks_refresh_cooldown)

    # -- the seed's API ------------------------------------------------------------------
    def extract_bearer_token(self, authorization_header: AuthorizationHeader = None) -> str:
        """See :func:`wristband_mw.extract_bearer_token`."""
        return extract_bearer_token(authorization_header)

    def validate(self, token: str) -> JwtValidationResult:
        """Validate ``token``; never raises. May block on a JWKS fetch (bounded by the timeout)."""
        return self._result(self._settle(token))

    # -- beyond the seed -----------------------------------------------------------------
    async def validate_async(self, token: str) -> JwtValidationResult:
        """Same result as :meth:`validate`; a JWKS fetch runs in a worker thread, never on the loop."""
        return self._result(await self._settle_async(token))

    def verify_identity(self, token: str) -> Verification:
        """:meth:`validate` for the middleware: the token's :class:`~wristband_mw.identity.Identity`,
        or the :class:`ErrorCode` it was refused with. A token answered from the
        verified-token cache costs no allocation: its identity was built once, when the
        token was first verified.

        Example::

            verified = validator.verify_identity(token)
            if isinstance(verified, Identity):
                user_id = verified.payload.sub
        """
        return self._verification(self._settle(token))

    def cached_verification(self, token: str) -> Optional[Verification]:
        """The answer for ``token`` from the verified-token cache alone, or ``None`` when it is not there.

        No parsing and no I/O: a cached token only has ``exp``/``nbf`` and its key's trust
        rechecked. The middleware asks this first, before parsing the ``Authorization``
        header: a token found here was verified, so it is well-formed. Only an answer
        is counted in :meth:`stats`; after ``None``, call :meth:`verify_identity`.
        """
        verified = self._verified
        if verified is None or type(token) is not str or len(token) > self._max_bytes or not token.isascii():
            return None
        entry = verified.get_if_present(hashlib.sha256(token.encode("ascii")).digest())
        if entry is None:
            return None
        outcome = self._recheck_verified(entry, token)
        if outcome is entry:  # the hot path of a busy API, so _verification inlined
            self._counters.incr("valid")
            return entry.identity
        return None if outcome is None else self._verification(outcome)

    async def verify_identity_async(self, token: str) -> Verification:
        """:meth:`verify_identity` from async code (a JWKS fetch runs in a worker thread)."""
        return self._verification(await self._settle_async(token))

    def prefetch(self) -> None:
        """Fetch the JWKS now (with discovery, the OpenID configuration first), for fail-fast
        start-up; raises :class:`JwksError` on failure, saying whether the document or the keys failed."""
        self._keys.prefetch()

    async def prefetch_async(self) -> None:
        """:meth:`prefetch` from async code, in a worker thread."""
        await self._offload(self._keys.prefetch)

    def keys_retry_after(self) -> Optional[float]:
        """Seconds left in the JWKS back-off while fetches fail, else ``None``.

        The middlewares put it (rounded up) in a ``keys_unavailable`` response's
        ``Retry-After``; code calling :meth:`validate` directly can do the same::

            result = validator.validate(token)
            if result.error is ErrorCode.KEYS_UNAVAILABLE:
                retry_after = math.ceil(validator.keys_retry_after() or 30)
        """
        return self._keys.retry_after()

    def openid_configuration(self) -> Optional[OpenIdConfiguration]:
        """What OIDC discovery found and trusts (issuer, ``jwks_uri``, the document's URL).

        ``None`` without discovery, or before the first successful one::

            validator.prefetch()
            validator.openid_configuration().jwks_uri  # 'https://idp.example.com/.../certs'
        """
        return self._keys.openid_configuration()

    def cached_key(self, kid: str) -> Optional[VerificationKey]:
        """The key now trusted for ``kid`` (one per algorithm it may verify), or ``None``.

        No fetch and not counted in :meth:`stats`; like a cache hit, a key set past its TTL
        starts the background refresh. Handy to check what was built from the JWKS::

            validator.prefetch()
            key = validator.cached_key("key-2024")
            sorted(key.verifiers) if key else None  # ['RS256']
        """
        return self._keys.current(kid)

    def stats(self) -> Dict[str, Any]:
        """A snapshot of counters: results by code, cache hits and misses, fetches."""
        counts = self._counters.snapshot()
        results = {name: counts.pop(name) for name in ("valid", *(code.value for code in ErrorCode))}
        return {
            "results": results,
            **counts,
            **self._keys.discovery_counts(),
            "cached_kids": list(self._keys.kids()),
            "verified_tokens_cached": len(self._verified) if self._verified is not None else 0,
        }

    def close(self) -> None:
        """Release pooled connections and the worker thread."""
        if self._keys.client is not None:
            self._keys.client.close()
        executor, self._executor = self._executor, None  # a later validate_async starts a new one
        if executor is not None:
            executor.shutdown(wait=False)

    # -- internals -------------------------------------------------------------------------
    def _settle(self, token: str) -> Union[_Verified, JwtValidationResult]:
        """The verified entry for ``token``, or its failure (uncounted)."""
        outcome = self._recent_hit(token)
        if outcome is not None:
            return outcome
        begun = self._begin(token)
        if isinstance(begun, _NeedsKey):
            return self._complete(begun, self._keys.resolve(begun.kid))
        return begun

    async def _settle_async(self, token: str) -> Union[_Verified, JwtValidationResult]:
        outcome = self._recent_hit(token)
        if outcome is not None:
            return outcome
        begun = self._begin(token)
        if isinstance(begun, _NeedsKey):
            key_outcome = self._keys.immediate_failure(begun.kid)
            if key_outcome is None:
                key_outcome = await self._offload(self._keys.resolve, begun.kid)
            return self._complete(begun, key_outcome)
        return begun

    def _result(self, outcome: Union[_Verified, JwtValidationResult]) -> JwtValidationResult:
        if type(outcome) is _Verified:
            self._counters.incr("valid")
            return JwtValidationResult(True, outcome.payload)
        self._counters.incr(outcome.error.value)  # type: ignore[union-attr]  # a failure has its code
        return outcome  # type: ignore[return-value]

    def _verification(self, outcome: Union[_Verified, JwtValidationResult]) -> Verification:
        if type(outcome) is _Verified:
            self._counters.incr("valid")
            return outcome.identity
        error: ErrorCode = outcome.error  # type: ignore[union-attr, assignment]  # a failure has its code
        self._counters.incr(error.value)
        return error

    def _after_fork_in_child(self) -> None:
        # The parent's worker threads do not exist here: the next validate_async starts
        # a pool of its own. Caches and counters are kept (a warm worker is the point).
        self._executor = None
        self._executor_pid = os.getpid()
        self._memo_lock = threading.Lock()
        self._counters.after_fork()  # servers that fork without the at-fork hooks (uWSGI)
        self._recent.after_fork()
        self._header_checks.after_fork()
        if self._verified is not None:
            self._verified.after_fork()

    async def _offload(self, func: Callable[..., Any], *args: Any) -> Any:
        if self._executor_pid != os.getpid():  # forked without the at-fork hook (uWSGI)
            self._after_fork_in_child()
        executor = self._executor
        if executor is None:
            with self._memo_lock:  # two event loops in two threads must not both create one
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="wristband_mw-jwks")
                executor = self._executor
        return await asyncio.get_running_loop().run_in_executor(executor, func, *args)

    def _recent_hit(self, token: str) -> Union[_Verified, JwtValidationResult, None]:
        """The answer for one of the last verified tokens, found verbatim (the hottest path)."""
        entry = self._recent.get(token) if type(token) is str else None
        if entry is None:
            return None
        return self._recheck_verified(entry, token)

    def _begin(self, token: str) -> Union[_Verified, JwtValidationResult, _NeedsKey]:
        """Everything up to the key lookup; returns a result when no fetch is needed."""
        try:
            return self._check_before_key(token)
        except Exception:  # a bug must cost one request a 401, never a 500
            logger.exception("unexpected error while validating a token")
            return _fail(ErrorCode.MALFORMED, "Token could not be validated")

    def _complete(self, pending: _NeedsKey, key: KeyOutcome) -> Union[_Verified, JwtValidationResult]:
        try:
            if type(key) is NoKey:
                return _fail(key.code, key.message)
            return self._verify(pending.digest, pending.parsed, pending.alg, key)  # type: ignore[arg-type]
        except Exception:
            logger.exception("unexpected error while validating a token")
            return _fail(ErrorCode.MALFORMED, "Token could not be validated")

    def _check_before_key(self, token: str) -> Union[_Verified, JwtValidationResult, _NeedsKey]:
        try:
            raw = token_bytes(token, self._max_bytes)
        except TokenParseError as exc:
            return _fail(exc.code, str(exc))
        if type(token) is not str:
            token = str(token)  # a str subclass: its own methods are not trusted

        digest = b""
        if self._verified is not None:
            # Keyed by the token's SHA-256, so an entry keeps 32 bytes alive instead of the
            # whole token; the last few tokens are also found verbatim (see _recent_hit).
            hasher = _SHA256.copy()
            hasher.update(raw)
            digest = hasher.digest()
            entry = self._verified.get(digest)
            if entry is not None:
                hit = self._recheck_verified(entry, token)
                if hit is not None:
                    if hit is entry:
                        self._recent.put(token, entry)
                    return hit

        # A large token whose key is cached has its signature checked before its payload
        # is decoded: a forgery then costs one RSA verify, never base64 and JSON work on
        # top (issue 9 section 5). Small tokens keep the seed's order of checks.
        verify_first = len(raw) > _VERIFY_FIRST_BYTES
        try:
            parsed = parse_token(raw, lazy_payload=verify_first)
        except TokenParseError as exc:
            return _fail(exc.code, str(exc))

        checked = self._header_checks.get(parsed.header_segment)
        if checked is None:
            try:
                header = parsed.header
            except TokenParseError as exc:
                return _fail(exc.code, str(exc))
            checked = self._header_checks.put(parsed.header_segment, self._check_header(header))
        if type(checked) is _RefusedHeader:
            return _fail(checked.code, checked.message)
        alg, kid = checked

        # Looked up once (the store counts hits and misses): early for a large token only.
        shortest, longest = self._signature_bounds[alg]
        key = self._keys.cached(kid) if verify_first else None
        if key is not None:
            if not shortest <= len(parsed.signature) <= longest:
                return _fail(ErrorCode.INVALID_SIGNATURE, "Invalid signature")
            failure = self._check_signature(parsed, alg, key)
            if failure is not None:
                return failure
            failure = self._check_claims(parsed)
            if failure is not None:
                return failure
            return self._accept(digest, parsed, key)

        failure = self._check_claims(parsed)
        if failure is not None:
            return failure
        if not shortest <= len(parsed.signature) <= longest:
            return _fail(ErrorCode.INVALID_SIGNATURE, "Invalid signature")

        if not verify_first:
            key = self._keys.cached(kid)
        if key is None:
            return _NeedsKey(digest, parsed, alg, kid)
        return self._verify(digest, parsed, alg, key)

    def _check_claims(self, parsed: ParsedToken) -> Optional[JwtValidationResult]:
        """``iss``, the time claims, ``sub`` and ``jti``: a failure, or ``None``."""
        try:
            claims = parsed.payload
        except TokenParseError as exc:
            return _fail(exc.code, str(exc))
        iss = claims.get("iss")
        if iss != self.issuer:
            return _fail(ErrorCode.INVALID_ISSUER, f"Invalid issuer. Expected {self.issuer}, got {safe_echo(iss)}")
        failure = self._check_times(claims)
        if failure is not None:
            return failure
        for name in _IDENTITY_CLAIMS:
            value = claims.get(name, _ABSENT)
            if value is not _ABSENT and not (type(value) is str and value and value.isprintable()):
                return _fail(
                    ErrorCode.INVALID_CLAIM, f"Invalid {name} claim: must be a non-empty string of printable characters"
                )
        return None

    def _check_header(self, header: Dict[str, Any]) -> _HeaderCheck:
        """The ``alg`` and ``kid`` of an acceptable header, else the failure to report."""
        alg = header.get("alg")
        if type(alg) is not str or alg not in self._algorithms:
            message = f"Algorithm {safe_echo(alg)} not allowed. Expected one of: {self._alg_list}"
            return _RefusedHeader(ErrorCode.DISALLOWED_ALGORITHM, message)
        if self._typs:
            typ = header.get("typ")
            if type(typ) is not str or typ.lower() not in self._typs:
                message = f"Invalid token type. Expected {self.config.token_typ}, got {safe_echo(typ)}"
                return _RefusedHeader(ErrorCode.INVALID_TYPE, message)
        if not _REFUSED_HEADER_PARAMS.isdisjoint(header):
            refused = sorted(_REFUSED_HEADER_PARAMS.intersection(header))
            return _RefusedHeader(ErrorCode.MALFORMED, f"Unsupported JOSE header parameter: {', '.join(refused)}")
        kid = header.get("kid")
        if kid is None and self._kid_optional:
            return _AcceptedHeader(alg, "")
        if kid is None or kid == "":
            return _RefusedHeader(ErrorCode.MISSING_CLAIM, "Token header missing kid (key ID)")
        if type(kid) is not str or len(kid) > MAX_KID_LENGTH:
            message = f"Invalid kid in token header: must be a string of at most {MAX_KID_LENGTH} characters"
            return _RefusedHeader(ErrorCode.INVALID_CLAIM, message)
        return _AcceptedHeader(alg, kid)

    def _check_times(self, claims: Dict[str, Any]) -> Optional[JwtValidationResult]:
        now = self._clock()
        exp = claims.get("exp", _ABSENT)
        if exp is _ABSENT:
            if self._require_exp:
                return _fail(ErrorCode.MISSING_CLAIM, "Token missing required exp claim")
        elif not _is_timestamp(exp):
            return _fail(ErrorCode.INVALID_CLAIM, "Invalid exp claim: must be a NumericDate (a JSON number)")
        elif now >= exp + self._leeway:
            return _fail(ErrorCode.EXPIRED, "Token has expired")
        nbf = claims.get("nbf", _ABSENT)
        if nbf is not _ABSENT:
            if not _is_timestamp(nbf):
                return _fail(ErrorCode.INVALID_CLAIM, "Invalid nbf claim: must be a NumericDate (a JSON number)")
            if now < nbf - self._leeway:
                return _fail(ErrorCode.NOT_YET_VALID, "Token not yet valid")
        iat = claims.get("iat", _ABSENT)
        if iat is not _ABSENT and not _is_timestamp(iat):
            return _fail(ErrorCode.INVALID_CLAIM, "Invalid iat claim: must be a NumericDate (a JSON number)")
        return None

    def _verify(
        self, digest: bytes, parsed: ParsedToken, alg: str, key: VerificationKey
    ) -> Union[_Verified, JwtValidationResult]:
        failure = self._check_signature(parsed, alg, key)
        if failure is not None:
            return failure
        return self._accept(digest, parsed, key)

    def _check_signature(self, parsed: ParsedToken, alg: str, key: VerificationKey) -> Optional[JwtValidationResult]:
        if not key.allows(alg):
            return _fail(
                ErrorCode.DISALLOWED_ALGORITHM,
                f"Algorithm {alg} not allowed for signing key '{safe_echo(key.kid)}': {key.refusal(alg)}",
            )
        # The key checks the signature's length (one per key and alg) before any math.
        if not key.verify(alg, parsed.signing_input, parsed.signature):
            return _fail(ErrorCode.INVALID_SIGNATURE, "Invalid signature")
        return None

    def _accept(
        self, digest: bytes, parsed: ParsedToken, key: VerificationKey
    ) -> Union[_Verified, JwtValidationResult]:
        """A token whose signature and claims checked out: the audience, then the result."""
        claims = parsed.payload
        if self._audiences:
            failure = self._check_audience(claims.get("aud"))
            if failure is not None:
                return failure
        entry = _Verified(digest, payload_of_frozen_claims(claims), claims.get("exp"), claims.get("nbf"), key)
        if self._verified is not None:
            self._verified.set(digest, entry)
        return entry

    def _check_audience(self, aud: Any) -> Optional[JwtValidationResult]:
        if aud is None:
            return _fail(ErrorCode.MISSING_CLAIM, "Token missing required aud claim")
        if type(aud) is str:
            matched = aud in self._audiences
        elif isinstance(aud, list):  # a FrozenList from the parser
            matched = any(type(item) is str and item in self._audiences for item in aud)
        else:
            matched = False
        if matched:
            return None
        expected = self.config.audience if isinstance(self.config.audience, str) else " or ".join(self._audiences)
        return _fail(ErrorCode.INVALID_AUDIENCE, f"Invalid audience. Expected {expected}, got {safe_echo(aud)}")

    def _recheck_verified(self, entry: _Verified, token: str) -> Union[_Verified, JwtValidationResult, None]:
        """For a token found in the verified-token cache: ``entry`` if it still holds, the
        failure (expired, not yet valid), or ``None`` to validate in full."""
        if self._keys.current(entry.key.kid) is not entry.key:
            # The key left the JWKS (or changed): this token must prove itself again.
            self._forget(entry, token)
            return None
        now = self._clock()
        if entry.exp is not None and now >= entry.exp + self._leeway:
            self._forget(entry, token)
            return _fail(ErrorCode.EXPIRED, "Token has expired")
        if entry.nbf is not None and now < entry.nbf - self._leeway:
            return _fail(ErrorCode.NOT_YET_VALID, "Token not yet valid")
        self._counters.incr("verified_token_cache_hits")
        return entry

    def _forget(self, entry: _Verified, token: str) -> None:
        # Only the entry that failed its recheck: another thread may have stored a new one.
        self._recent.discard(token, entry)
        if self._verified is not None:
            self._verified.discard(entry.digest, entry)


#: Short alias.
JwtValidator = WristbandJwtValidator


def create_wristband_jwt_validator(config: WristbandJwtValidatorConfig, **options: Any) -> WristbandJwtValidator:
    """Create a validator for ``config`` (the factory of ``wristband-python-jwt``).

    ``options`` are passed to :class:`WristbandJwtValidator` (``clock``, ``monotonic``,
    ``jwks_client``).
    """
    return WristbandJwtValidator(config, **options)
