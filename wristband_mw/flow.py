"""The request flow, written once for both adapters: rule, token, validation, verdict.

The adapters (:mod:`wristband_mw.wsgi`, :mod:`wristband_mw.asgi`) only read the request
(method, path, headers), call :meth:`Flow.authenticate` (or ``await``
:meth:`Flow.authenticate_async`), and write the :data:`Outcome` into the environ or
scope, or send the refusal's :class:`PreparedResponse`. Everything between is here:

1. the rule: :class:`~wristband_mw.policy.AccessPolicy` says, from the path spellings,
   the method and whether it is a CORS preflight, whether a token is needed, and which
   scopes; a path holding a control character is refused outright;
2. the token: exactly one ``Authorization: Bearer`` value (or, on a WebSocket handshake,
   one query parameter when configured), or, with ``token_sources``, exactly one token
   from the configured places, with the CSRF check for cookies (:mod:`wristband_mw.sources`);
3. validation (sync or async) by the validator, then the verdict: the ``is_revoked``
   hook (also for cached tokens), the token's scopes (read from ``scope_claims``; the
   ``admin_scope`` satisfies any) must include the rule's, and its claims must meet the
   rule's ``claims=`` requirements (see :mod:`wristband_mw.authorization`).

The outcome is one of three small named types: :class:`Pass` (no token needed, or none
sent under ``optional=True``), :class:`Authenticated` (the verified identity and the
token) or :class:`Refusal` (the :class:`~wristband_mw.responses.AuthFailure`).

Every cache a request meets
---------------------------
Each is bounded, correct without the GIL (see :mod:`wristband_mw.cache`), and earns its
place in ``benchmarks/middleware.py`` and ``benchmarks/validate.py`` (figures in the
README's Performance section):

==============================  =============================  ===============================================
cache (where)                   keyed by                       why it pays
==============================  =============================  ===============================================
path rules                      the path (and ASGI             a path's rule costs normalisation, a control-
(``AccessPolicy``, 1024)        ``root_path``), up to 256      character scan and prefix matching (2.1 us
                                characters                     against 0.2 us); an API has few distinct paths
verified tokens                 the token's SHA-256            a hit skips parsing, claim checks and the RSA
(validator, W-TinyLFU, 4096)                                   verify (about 40 us); holds the identity, so a
                                                               hit allocates no user or credential objects
recent tokens                   the token itself               a caller of ``validate()`` repeating a token
(validator, 64)                                                skips the SHA-256 (1.6 us per call measured)
header checks                   the encoded JOSE header        an issuer signs with a handful of headers: each
(validator, 64)                                                is decoded and checked once (4 us per fresh token)
signing keys                    ``kid``                        pre-built key objects; no request parses a key
(key store, LRU with TTL)                                      or waits for the network while the set is live
refusal responses               the ``AuthFailure``            status line, headers (str and bytes) and JSON
(``Flow``, 256)                                                body built once per distinct refusal (5 us)
==============================  =============================  ===============================================

There is no memo of ``Authorization`` headers: with many users every header is new, so
it never hit; instead a plain ``Bearer <token>`` whose token is in the verified-token
cache is answered before the header is parsed (a cached token is well formed).
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus
from typing import Any, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple, Union, runtime_checkable
from urllib.parse import parse_qs

from .authorization import DEFAULT_SCOPE_CLAIMS, RevocationCheck
from .bearer import BAD_FORMAT, AuthorizationHeader, extract_bearer_token, is_b64token
from .cache import BoundedMemo
from .errors import BearerTokenError, ErrorCode
from .identity import Identity
from .options import MiddlewareOptions, OnError
from .payload import JWTPayload, JwtValidationResult
from .policy import REFUSED, AccessPolicy, Rule
from .responses import AuthFailure, ErrorResponse, FailureFactory, default_error_response
from .sources import AUTHORIZATION, SAFE_METHODS, TokenSource, cookie_values, header_names, query_values, referer_origin

__all__ = [
    "PASS",
    "Authenticated",
    "Flow",
    "Guard",
    "Outcome",
    "Pass",
    "PreparedResponse",
    "Refusal",
    "TokenValidator",
]

logger = logging.getLogger("wristband_mw")

_RESPONSES_REMEMBERED = 256


@runtime_checkable
class TokenValidator(Protocol):
    """What the flow needs from a validator (a :class:`~wristband_mw.WristbandJwtValidator`, or
    anything that answers the same questions, such as one validator per issuer in front)."""

    @property
    def issuer(self) -> str:
        """The issuer, for the default ``WWW-Authenticate`` realm."""

    @property
    def max_token_bytes(self) -> int:
        """The largest token accepted; longer headers are refused unparsed."""

    @property
    def jwks_refresh_cooldown(self) -> float:
        """Seconds between key-set fetches for unknown kids: the default ``Retry-After``."""

    def validate(self, token: str) -> JwtValidationResult: ...

    async def validate_async(self, token: str) -> JwtValidationResult: ...

    def verify_identity(self, token: str) -> Union[Identity, ErrorCode]: ...

    def cached_verification(self, token: str) -> Optional[Union[Identity, ErrorCode]]: ...

    async def verify_identity_async(self, token: str) -> Union[Identity, ErrorCode]: ...

    def extract_bearer_token(self, authorization_header: AuthorizationHeader = None) -> str: ...

    def keys_retry_after(self) -> Optional[float]: ...

    def prefetch(self) -> None: ...

    async def prefetch_async(self) -> None: ...

    def stats(self) -> Dict[str, Any]: ...

    def close(self) -> None: ...


class Pass:
    """The request goes on without claims: no token needed, or none sent under ``optional=True``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "PASS"


PASS = Pass()


class Authenticated:
    """The request carries a verified token that satisfies its rule."""

    __slots__ = ("identity", "token")

    def __init__(self, identity: Identity, token: str) -> None:
        self.identity = identity
        self.token = token

    @property
    def payload(self) -> JWTPayload:
        """The verified claims."""
        return self.identity.payload

    def __repr__(self) -> str:  # never the token
        return f"Authenticated({self.identity!r})"


class Refusal:
    """The request is refused; ``failure`` says why and how to answer."""

    __slots__ = ("failure",)

    def __init__(self, failure: AuthFailure) -> None:
        self.failure = failure

    def __repr__(self) -> str:
        return f"Refusal({self.failure!r})"


Outcome = Union[Pass, Authenticated, Refusal]


def _grants(granted: Tuple[str, ...], needed: Tuple[str, ...]) -> bool:
    # A token carries a handful of scopes: scanning a tuple beats building a set.
    for scope in needed:  # noqa: SIM110  (a loop is cheaper than all() over a generator)
        if scope not in granted:
            return False
    return True


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


class PreparedResponse:
    """An :class:`~wristband_mw.responses.ErrorResponse` in the forms both adapters send."""

    __slots__ = ("body", "headers", "raw_headers", "status", "status_line")

    def __init__(self, response: ErrorResponse) -> None:
        self.status = response.status
        self.status_line = _status_line(response.status)  # WSGI
        self.headers: List[Tuple[str, str]] = list(response.headers)  # WSGI
        self.raw_headers: List[Tuple[bytes, bytes]] = [  # ASGI: lower-case names, latin-1
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers
        ]
        self.body = response.body


def _checked(response: ErrorResponse) -> ErrorResponse:
    """``response`` if a server can send it; raises otherwise (the default is sent instead)."""
    if not 100 <= response.status <= 599:
        raise ValueError(f"on_error returned status {response.status}")
    for name, value in response.headers:
        if not isinstance(name, str) or not isinstance(value, str) or not name:
            raise ValueError("on_error headers must be (str, str) pairs")
        if any(ch in "\r\n\0" for ch in name + value):
            raise ValueError("on_error header values must not contain CR, LF or NUL")
        (name + value).encode("latin-1")  # WSGI and ASGI headers are latin-1
    return response


_VALIDATOR_METHODS = (
    "validate",
    "validate_async",
    "verify_identity",
    "verify_identity_async",
    "cached_verification",
    "keys_retry_after",
)
# "Bearer " as clients spell it; other spellings (BEARER, several spaces) take the full parse.
_PLAIN_SCHEMES = ("Bearer ", "bearer ")
# What token_sources=("authorization",) and websocket_query_param already did before sources existed.
_CLASSIC_SOURCES = (("authorization",), ("authorization", "query"))
_ONE_METHOD = "Send the access token one way only: it was found in more than one place"
_AMBIGUOUS_COOKIE = "The token cookie was sent more than once with different values"


class Flow:
    """The shared core of both middlewares: rule, token, validation, verdict, response.

    Built once per middleware from its validator and checked options.

    Example::

        flow = Flow(validator, MiddlewareOptions(protect=["/api"]))
        outcome = flow.authenticate(flow.policy.rule_for("GET", "/api/me"), ["Bearer " + token])
        if isinstance(outcome, Authenticated):
            print(outcome.payload.sub)
    """

    def __init__(self, validator: TokenValidator, options: MiddlewareOptions) -> None:
        if not all(callable(getattr(validator, name, None)) for name in _VALIDATOR_METHODS) or not isinstance(
            getattr(validator, "issuer", None), str
        ):
            raise ValueError("validator must come from create_wristband_jwt_validator(...)")
        self.validator = validator
        self.options = options
        self.policy = AccessPolicy.from_options(options)
        self.optional = options.optional
        self.realm = options.realm_for(validator.issuer)
        self._on_error: Optional[OnError] = options.on_error
        self._query_param = options.websocket_query_param
        cooldown = validator.jwks_refresh_cooldown
        self.failures = FailureFactory(
            self.realm, retry_after=min(max(math.ceil(cooldown), 1), 60), retry_after_source=validator.keys_retry_after
        )
        self.bad_path = self.failures.invalid_request(
            "The request path contains control characters or does not start with '/'"
        )
        self._refused_path = Refusal(self.bad_path)
        # Far more than any Bearer header needs; longer ones are refused unparsed.
        self._max_header = validator.max_token_bytes + 64
        self._verify = validator.verify_identity
        self._cached = validator.cached_verification
        self._verify_async = validator.verify_identity_async
        self._responses: BoundedMemo[AuthFailure, PreparedResponse] = BoundedMemo(_RESPONSES_REMEMBERED)
        # Authorization beyond scopes (issue 13); the defaults cost the hot path nothing.
        self._scope_claims = None if options.scope_claims == DEFAULT_SCOPE_CLAIMS else options.scope_claims
        self._admin_scope = options.admin_scope
        self._revocation = None if options.is_revoked is None else RevocationCheck(options.is_revoked)
        self._claims_refused = Refusal(self.failures.claims_refused())
        self._revoked = Refusal(self.failures.revoked())
        self._revocation_failed = Refusal(self.failures.revoked(checked=False))
        self._init_sources(options)

    def _init_sources(self, options: MiddlewareOptions) -> None:
        # With the classic sources (the Authorization header, plus the WebSocket query
        # shorthand) the fast paths above serve every request, exactly as before.
        sources = options.sources
        classic = tuple(source.kind for source in sources) in _CLASSIC_SOURCES
        self.sources: Optional[Tuple[TokenSource, ...]] = None if classic else sources
        if classic and len(sources) == 2:
            self._query_param = sources[1].name
        self._trusted_origins = options.trusted_origin_set
        self._csrf_header = options.csrf_header_name
        self.source_headers = frozenset() if classic else header_names(sources, self._csrf_header)
        self.cross_site_refused = self.failures.cross_site_refused()
        self._bad_format = Refusal(self.failures.invalid_request(BAD_FORMAT))

    # -- the flow --------------------------------------------------------------------------
    def authenticate(self, rule: Optional[Rule], authorization: Sequence[Union[str, bytes]]) -> Outcome:
        """The outcome of a request needing ``rule``, with these ``Authorization`` values (sync)."""
        settled = self.settled(rule, authorization)
        if settled is not None or rule is None:
            return settled or PASS
        token = self.token_from(authorization)
        if type(token) is not str:
            return self._without_token(token)  # type: ignore[arg-type]
        return self._finish(self._verify(token), rule, token)

    async def authenticate_async(
        self, rule: Optional[Rule], authorization: Sequence[Union[str, bytes]], query_string: Optional[bytes] = None
    ) -> Outcome:
        """:meth:`authenticate` for async servers; ``query_string`` is a WebSocket handshake's
        (the token may come from the configured query parameter), else ``None``."""
        if query_string is not None and self._query_param is not None:
            if rule is None:
                return PASS
            if rule is REFUSED:
                return self._refused_path
            token = self._token_from_query(query_string, authorization)
        else:
            settled = self.settled(rule, authorization)
            if settled is not None or rule is None:
                return settled or PASS
            token = self.token_from(authorization)
        if type(token) is not str:
            return self._without_token(token)  # type: ignore[arg-type]
        return await self._finish_async(await self._verify_async(token), rule, token)

    def settled(self, rule: Optional[Rule], authorization: Sequence[Union[str, bytes]]) -> Optional[Outcome]:
        """The outcome when it needs no parsing and no validation work, else ``None``.

        That is: no token needed, a refused path, or a plain ``Bearer <token>`` whose token
        is in the verified-token cache. Synchronous, so an async adapter awaits nothing on
        the hot path; after ``None``, :meth:`authenticate` or :meth:`authenticate_async`.
        With ``is_revoked``, a token is never settled here: the hook must be asked (and an
        async server must not call a sync hook on its event loop).
        """
        if rule is None:
            return PASS
        if rule is REFUSED:
            return self._refused_path
        if len(authorization) != 1 or self._revocation is not None:
            return None
        return self._cached_outcome(rule, authorization[0])

    def _cached_outcome(self, rule: Rule, raw: Union[str, bytes]) -> Optional[Outcome]:
        """The outcome for a plain ``Bearer <token>`` whose token is in the verified-token cache.

        The hot path of a busy API: the header is not parsed, since a cached token was
        verified and so is a well-formed ``b64token``; anything else returns ``None`` and
        takes the full way (parse, then validate), with the same answers as before.
        """
        value = raw.decode("latin-1") if type(raw) is bytes else raw
        if value[:7] not in _PLAIN_SCHEMES or len(value) > self._max_header:
            return None  # an oversized header is refused unhashed by the full way
        token: str = value[7:]  # type: ignore[assignment]
        verified = self._cached(token)
        if verified is None:
            return None
        if (
            type(verified) is Identity
            and self._scope_claims is None
            and not rule.claims
            and (not rule.scopes or _grants(verified.scopes, rule.scopes))
        ):
            return Authenticated(verified, token)
        return self._verdict(verified, rule, token)

    def _without_token(self, failure: Optional[AuthFailure]) -> Outcome:
        return PASS if failure is None else Refusal(failure)

    def _view(self, identity: Identity) -> Identity:
        """``identity`` with its scopes read from ``scope_claims`` (itself for the default claims)."""
        names = self._scope_claims
        return identity if names is None else identity.with_scope_claims(names)

    def _finish(self, verified: Union[Identity, ErrorCode], rule: Rule, token: str) -> Outcome:
        """The ``is_revoked`` hook (for every token source, cached tokens too), then the verdict."""
        if self._revocation is not None and type(verified) is Identity:
            verified = self._view(verified)
            refusal = self._revocation_refusal(self._revocation.check(verified.payload))
            if refusal is not None:
                return refusal
        return self._verdict(verified, rule, token)

    async def _finish_async(self, verified: Union[Identity, ErrorCode], rule: Rule, token: str) -> Outcome:
        """:meth:`_finish`, awaiting an async hook (a sync one runs off the event loop)."""
        if self._revocation is not None and type(verified) is Identity:
            verified = self._view(verified)
            refusal = self._revocation_refusal(await self._revocation.check_async(verified.payload))
            if refusal is not None:
                return refusal
        return self._verdict(verified, rule, token)

    def _revocation_refusal(self, answer: str) -> Optional[Refusal]:
        if answer == RevocationCheck.NOT_REVOKED:
            return None
        return self._revoked if answer == RevocationCheck.REVOKED else self._revocation_failed

    def _verdict(self, verified: Union[Identity, ErrorCode], rule: Rule, token: str) -> Outcome:
        if type(verified) is not Identity:
            return Refusal(self.failures.invalid_token(verified))  # type: ignore[arg-type]
        identity = self._view(verified)
        refusal = self._authorize(identity, rule)
        return Authenticated(identity, token) if refusal is None else refusal

    def _authorize(self, identity: Identity, rule: Rule) -> Optional[Refusal]:
        """``None`` when ``identity`` meets ``rule``'s scopes and claims, else the refusal."""
        if rule.scopes and not _grants(identity.scopes, rule.scopes):
            admin = self._admin_scope
            if admin is None or admin not in identity.scopes:
                return Refusal(self.failures.insufficient_scope(rule.scopes))
            logger.debug("admin scope %r stood in for the required scopes %s", admin, " ".join(rule.scopes))
        for requirement in rule.claims:
            if not requirement.satisfied_by(identity.payload):
                return self._claims_refused
        return None

    # -- the steps, also usable one by one -----------------------------------------------
    def token_from(self, values: Sequence[Union[str, bytes]]) -> Union[str, AuthFailure, None]:
        """The token in the ``Authorization`` header values, a failure, or ``None`` (anonymous).

        ``values`` holds every Authorization header of the request, as ``str`` (WSGI) or
        raw ``bytes`` (ASGI, decoded here as latin-1).
        """
        if len(values) == 1:
            raw = values[0]
            value = raw.decode("latin-1") if type(raw) is bytes else raw
            if len(value) > self._max_header:
                return self.failures.invalid_token(ErrorCode.TOO_LARGE)
            if "," in value:  # servers join repeated headers with commas; b64token has none
                return self.failures.invalid_request("Multiple authorization headers not allowed")
            header: Union[str, List[str]] = value  # type: ignore[assignment]
        elif not values and self.optional:
            return None
        else:
            header = [v.decode("latin-1") if isinstance(v, bytes) else v for v in values]
        try:
            return extract_bearer_token(header)
        except BearerTokenError as exc:
            if exc.missing:
                return None if self.optional else self.failures.no_credentials
            if exc.wrong_scheme:
                return self.failures.no_credentials
            return self.failures.invalid_request(str(exc))

    def _token_from_query(
        self, query: bytes, authorization: Sequence[Union[str, bytes]]
    ) -> Union[str, AuthFailure, None]:
        values = parse_qs(query.decode("latin-1"), keep_blank_values=True).get(self._query_param or "", [])
        if not values:
            return self.token_from(authorization)
        if authorization or len(values) > 1:
            # RFC 6750 section 2: a client must not send the token more than one way.
            return self.failures.invalid_request("Send the access token once: in one header or one query parameter")
        value = values[0]
        if not value:
            return None if self.optional else self.failures.no_credentials
        if not is_b64token(value):
            return self.failures.invalid_request(BAD_FORMAT)
        return value

    # -- token sources (token_sources) ----------------------------------------------------
    @property
    def websocket_query_param(self) -> Optional[str]:
        """The query parameter the classic path reads on WebSocket handshakes, or ``None``."""
        return self._query_param

    def authenticate_request(
        self,
        rule: Optional[Rule],
        method: str,
        headers: Mapping[str, Sequence[str]],
        environ_or_scope: Any,
        query_string: Optional[bytes] = None,
    ) -> Outcome:
        """The outcome of a request needing ``rule``, its token found in the configured sources (sync).

        ``headers`` maps each lower-case name of :attr:`source_headers` the request carries
        to its values; ``environ_or_scope`` goes to callable sources; ``query_string`` is a
        WebSocket handshake's (``None`` for plain HTTP).
        """
        found = self._request_token(rule, method, headers, environ_or_scope, query_string)
        if type(found) is not str:
            return found  # type: ignore[return-value]
        verified = self._cached(found)  # a cached token is well formed: no grammar check
        if verified is None:
            if not is_b64token(found):
                return self._bad_format
            verified = self._verify(found)
        return self._finish(verified, rule, found)  # type: ignore[arg-type]  # not None: a token was needed

    async def authenticate_request_async(
        self,
        rule: Optional[Rule],
        method: str,
        headers: Mapping[str, Sequence[str]],
        environ_or_scope: Any,
        query_string: Optional[bytes] = None,
    ) -> Outcome:
        """:meth:`authenticate_request` for async servers (a cached token awaits nothing)."""
        found = self._request_token(rule, method, headers, environ_or_scope, query_string)
        if type(found) is not str:
            return found  # type: ignore[return-value]
        verified = self._cached(found)  # a cached token is well formed: no grammar check
        if verified is None:
            if not is_b64token(found):
                return self._bad_format
            verified = await self._verify_async(found)
        return await self._finish_async(verified, rule, found)  # type: ignore[arg-type]  # as above

    def _request_token(
        self,
        rule: Optional[Rule],
        method: str,
        headers: Mapping[str, Sequence[str]],
        environ_or_scope: Any,
        query_string: Optional[bytes],
    ) -> Union[str, Outcome]:
        """The token to verify for a request needing ``rule``, or the outcome without one."""
        if rule is None:
            return PASS
        if rule is REFUSED:
            return self._refused_path
        token = self._source_token(method, headers, environ_or_scope, query_string)
        if type(token) is not str:
            return self._without_token(token)  # type: ignore[arg-type]
        return token

    def token_from_sources(
        self,
        method: str,
        headers: Mapping[str, Sequence[str]],
        environ_or_scope: Any,
        query_string: Optional[bytes] = None,
    ) -> Union[str, AuthFailure, None]:
        """The one token in the configured sources, a failure, or ``None`` (anonymous).

        RFC 6750 section 2: a token (even a malformed one) in more than one place is a
        400; a cookie token on an unsafe method or a WebSocket handshake must pass the
        CSRF check. ``query_string`` is not ``None`` on WebSocket handshakes only.
        """
        token = self._source_token(method, headers, environ_or_scope, query_string)
        if type(token) is str and not is_b64token(token):
            return self.failures.invalid_request(BAD_FORMAT)
        return token

    def _source_token(
        self,
        method: str,
        headers: Mapping[str, Sequence[str]],
        environ_or_scope: Any,
        query_string: Optional[bytes],
    ) -> Union[str, AuthFailure, None]:
        """:meth:`token_from_sources` but for the token's grammar, checked by the caller
        only when the token is not in the verified-token cache (the regex costs ~1 us)."""
        found: Union[str, AuthFailure, None] = None
        found_in: Optional[TokenSource] = None
        other_scheme = False
        for source in self.sources or ():
            kind = source.kind
            result: Union[str, AuthFailure, None]
            if kind == AUTHORIZATION:
                values = headers.get("authorization")
                if not values:
                    continue
                result = self.token_from(values)
                if result is self.failures.no_credentials:  # another scheme (Basic...): no Bearer token here
                    other_scheme, result = True, None
            elif kind == "cookie":
                result = self._cookie_token(headers.get("cookie"), source.name)
            elif kind == "header":
                result = self._header_token(headers.get(source.name))
            elif kind == "query":
                if query_string is None:
                    continue  # plain HTTP never takes the token from the query string
                result = self._query_token(query_values(query_string, source.name))
            else:
                result = self._checked_token(source.call(environ_or_scope))
            if result is None:
                continue
            if found is not None:
                return self.failures.invalid_request(_ONE_METHOD)
            found, found_in = result, source
        if found is None:
            return self.failures.no_credentials if other_scheme or not self.optional else None
        if (
            found_in is not None
            and found_in.kind == "cookie"
            and type(found) is str
            and not self._cross_site_allowed(method, headers, query_string is not None)
        ):
            logger.debug("cookie token refused: unsafe request without a trusted origin or the CSRF header")
            return self.cross_site_refused
        return found

    def _checked_token(self, value: Optional[str]) -> Union[str, AuthFailure, None]:
        """A token found outside ``Authorization``: ``None`` if empty; its grammar is checked later."""
        if not value:
            return None
        if len(value) > self._max_header:
            return self.failures.invalid_token(ErrorCode.TOO_LARGE)
        return value

    def _header_token(self, values: Optional[Sequence[str]]) -> Union[str, AuthFailure, None]:
        if not values:
            return None
        if len(values) > 1 or "," in values[0]:  # WSGI servers join repeated headers with ", "
            return self.failures.invalid_request(_ONE_METHOD)
        value = values[0].strip(" \t")
        if value[:7].lower() == "bearer ":
            value = value[7:].lstrip(" ")
        elif value.lower() == "bearer":  # the prefix without a token
            return self.failures.invalid_request(BAD_FORMAT)
        return self._checked_token(value)

    def _cookie_token(self, headers: Optional[Sequence[str]], name: str) -> Union[str, AuthFailure, None]:
        if not headers:
            return None
        values = [value for value in cookie_values(headers, name) if value]
        if not values:
            return None
        if len(values) > 1 and any(value != values[0] for value in values):
            return self.failures.invalid_request(_AMBIGUOUS_COOKIE)  # two cookies: which one is the user's?
        return self._checked_token(values[0])

    def _query_token(self, values: Sequence[str]) -> Union[str, AuthFailure, None]:
        if len(values) > 1:
            return self.failures.invalid_request(_ONE_METHOD)
        return self._checked_token(values[0]) if values else None

    def _cross_site_allowed(self, method: str, headers: Mapping[str, Sequence[str]], websocket: bool) -> bool:
        """May a cookie token be used for this request? (CSRF, and WebSocket hijacking.)"""
        if method in SAFE_METHODS and not websocket:
            return True
        if self._csrf_header is not None and headers.get(self._csrf_header):
            return True  # a cross-site page cannot send a custom header without a CORS preflight
        if not self._trusted_origins:
            return False
        origins = headers.get("origin")
        if origins:  # "null" (sandboxed pages, redirects) and anything malformed never match
            return len(origins) == 1 and origins[0].strip(" \t").lower() in self._trusted_origins
        referers = headers.get("referer")
        if referers and len(referers) == 1:
            return referer_origin(referers[0].strip(" \t")) in self._trusted_origins
        return False

    def verdict(self, result: JwtValidationResult, rule: Rule) -> Union[JWTPayload, AuthFailure]:
        """The claims when ``result`` is valid and meets ``rule`` (scopes from ``scope_claims``,
        ``admin_scope``, ``claims=``), else the failure. ``is_revoked`` is not asked here."""
        payload = result.payload
        if payload is None:
            return self.failures.invalid_token(result.error or ErrorCode.MALFORMED)
        identity = self._view(Identity(payload))
        refusal = self._authorize(identity, rule)
        return identity.payload if refusal is None else refusal.failure

    # -- responses -----------------------------------------------------------------------
    @property
    def has_default_renderer(self) -> bool:
        """True when refusals use :func:`default_error_response` (so they can be memoised)."""
        return self._on_error is None

    def response_for(self, failure: AuthFailure, environ_or_scope: Any) -> ErrorResponse:
        """The response to send: the ``on_error`` hook's, or the default JSON one."""
        if self._on_error is not None:
            try:
                status, headers, body = self._on_error(failure, environ_or_scope)
                return _checked(ErrorResponse(int(status), list(headers), bytes(body)))
            except Exception:
                logger.exception("on_error hook failed; sending the default error response")
        return default_error_response(failure)

    def prepared(self, failure: AuthFailure, environ_or_scope: Any) -> PreparedResponse:
        """:meth:`response_for`, ready to send; the default responses are built once each."""
        if self._on_error is None:
            prepared = self._responses.get(failure)
            if prepared is None:
                prepared = self._responses.put(failure, PreparedResponse(default_error_response(failure)))
            return prepared
        return PreparedResponse(self.response_for(failure, environ_or_scope))


class Guard(Flow):
    """:class:`Flow` built from keyword options, as before :class:`MiddlewareOptions` existed.

    Example::

        guard = Guard(validator, protect=["/api"], optional=True)
    """

    def __init__(self, validator: TokenValidator, **options: Any) -> None:
        super().__init__(validator, MiddlewareOptions(**options))
