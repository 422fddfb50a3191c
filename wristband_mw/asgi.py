"""ASGI middleware: require a valid Bearer token before the wrapped app runs.

Raw ASGI 3, so it works under uvicorn, hypercorn and granian, with Starlette's
``app.add_middleware``, and around any framework. It dispatches on ``scope["type"]``:
``http`` and ``websocket`` are checked, ``lifespan`` and anything else pass through
(``prefetch_on_startup`` warms the key cache as soon as the lifespan scope arrives,
whatever the app then does with it: Django raises on lifespan before reading
``lifespan.startup``).

The event loop never waits for the network: a token whose key is cached is checked
inline, and only a JWKS fetch runs in a worker thread (``validate_async``). There is
no extra task per request, unlike ``BaseHTTPMiddleware``.

A request with a valid token reaches the app with a copy of the scope holding
``wristband_mw.claims``, ``wristband_mw.token``, ``user`` and ``auth``; see
:mod:`wristband_mw.claims`.

Identity only the token can set: every client-sent ``Remote-User`` header (any case,
``_`` for ``-`` too, which Django also maps to ``HTTP_REMOTE_USER``) is removed from
the scope passed on, on every request; a verified token with a ``sub`` adds one
``remote-user`` header carrying it (``remote_user_header=True``), so Django's
``RemoteUserMiddleware`` works under ASGI as under WSGI.
"""

from __future__ import annotations

import logging
import threading
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Mapping,
    MutableMapping,
    Optional,
    Tuple,
    Union,
)

from .authorization import DEFAULT_SCOPE_CLAIMS, RevocationHook
from .flow import Authenticated, Flow, Outcome, Refusal, TokenValidator
from .identity import CLAIMS_KEY, TOKEN_KEY, AnonymousUser, AuthCredentials
from .options import MiddlewareOptions, OnError
from .policy import REFUSED, Rule, is_request_target
from .responses import AuthFailure
from .sources import TokenFinder

__all__ = ["JwtAsgiMiddleware"]

logger = logging.getLogger("wristband_mw")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Shared by every anonymous request: both are read-only.
_ANONYMOUS = AnonymousUser()
_NO_CREDENTIALS = AuthCredentials()
_POLICY_VIOLATION = 1008  # RFC 6455 close code
_PREFLIGHT_HEADERS = (b"origin", b"access-control-request-method")


def _is_preflight(headers: Iterable[Tuple[bytes, bytes]]) -> bool:
    """A CORS preflight carries both Origin and Access-Control-Request-Method."""
    names = {name.lower() for name, _ in headers}
    return all(header in names for header in _PREFLIGHT_HEADERS)


class JwtAsgiMiddleware:
    """Validate ``Authorization: Bearer`` tokens in front of an ASGI app.

    Parameters:
        app: the ASGI application to protect.
        validator: from :func:`~wristband_mw.create_wristband_jwt_validator`.
        protect, exempt, exempt_methods, cors_preflight, required_scopes, scopes,
        optional, on_error, realm: as for :class:`~wristband_mw.JwtWsgiMiddleware`
            (``on_error`` receives the scope instead of the environ).
        token_sources, trusted_origins, csrf_header: as for
            :class:`~wristband_mw.JwtWsgiMiddleware` (a callable source receives the
            scope), plus ``"query:NAME"``: the query parameter ``NAME`` on WebSocket
            handshakes only. A WebSocket handshake carrying a cookie token must pass the
            same origin check as an unsafe method (cross-site WebSocket hijacking).
        websocket_query_param: also accept the token from this query parameter on
            WebSocket handshakes (browsers cannot set headers there), e.g.
            ``"access_token"``: shorthand for adding ``"query:access_token"`` to
            ``token_sources``. Off by default; never used for plain HTTP.
        remote_user_header: add a ``remote-user`` header holding the verified ``sub``
            (UTF-8) for the app, as Django reads ``REMOTE_USER`` under ASGI (default:
            true). Client-sent ``Remote-User`` headers are always removed.
        prefetch_on_startup: warm the key cache when the lifespan scope arrives, before any
            ``lifespan.startup``, in a thread; failures are logged and startup goes on.
        scope_claims, admin_scope, claims: as for :class:`~wristband_mw.JwtWsgiMiddleware`.
        is_revoked: as for :class:`~wristband_mw.JwtWsgiMiddleware`, sync or ``async``: an
            ``async`` hook is awaited; a plain one runs in the event loop's default thread
            pool (``run_in_executor``), never on the loop itself, so it may do blocking I/O.

    Paths are matched on ``path`` as given, below ``root_path`` and with ``root_path``
    removed where it occurs (frameworks disagree; the strictest answer wins); a path
    holding a control character is refused with 400 ``invalid_request``.

    The options are checked once, into :attr:`options` (a
    :class:`~wristband_mw.MiddlewareOptions`); invalid ones raise ``ValueError``.

    Example::

        app = JwtAsgiMiddleware(app, validator, protect=["/api"], scopes={"/api/admin": ["admin"]})
    """

    def __init__(
        self,
        app: ASGIApp,
        validator: TokenValidator,
        *,
        protect: Optional[Iterable[str]] = None,
        exempt: Iterable[str] = (),
        exempt_methods: Iterable[str] = (),
        cors_preflight: bool = True,
        required_scopes: Iterable[str] = (),
        scopes: Optional[Mapping[str, Iterable[str]]] = None,
        optional: bool = False,
        on_error: Optional[OnError] = None,
        realm: Optional[str] = None,
        websocket_query_param: Optional[str] = None,
        prefetch_on_startup: bool = False,
        remote_user_header: bool = True,
        token_sources: Iterable[Union[str, TokenFinder]] = ("authorization",),
        trusted_origins: Iterable[str] = (),
        csrf_header: Optional[str] = None,
        scope_claims: Iterable[str] = DEFAULT_SCOPE_CLAIMS,
        admin_scope: Optional[str] = None,
        claims: Optional[Mapping[str, Mapping[str, Any]]] = None,
        is_revoked: Optional[RevocationHook] = None,
    ) -> None:
        if not callable(app):
            raise ValueError("app must be an ASGI application")
        self.app = app
        self.options = MiddlewareOptions(
            protect=protect,  # type: ignore[arg-type]  # checked and kept as a tuple there
            exempt=exempt,  # type: ignore[arg-type]
            exempt_methods=exempt_methods,  # type: ignore[arg-type]
            cors_preflight=cors_preflight,
            required_scopes=required_scopes,  # type: ignore[arg-type]
            scopes=scopes,
            optional=optional,
            on_error=on_error,
            realm=realm,
            websocket_query_param=websocket_query_param,
            prefetch_on_startup=prefetch_on_startup,
            remote_user_header=remote_user_header,
            token_sources=token_sources,  # type: ignore[arg-type]
            trusted_origins=trusted_origins,  # type: ignore[arg-type]
            csrf_header=csrf_header,
            scope_claims=scope_claims,  # type: ignore[arg-type]
            admin_scope=admin_scope,
            claims=claims,
            is_revoked=is_revoked,
        )
        self.flow = Flow(validator, self.options)
        self._rule_for = self.flow.policy.rule_for_asgi
        self._authenticate = self.flow.authenticate_async
        self._settled = self.flow.settled
        self._query_tokens = self.flow.websocket_query_param is not None
        # The (lower-case, bytes) names of the headers the configured sources read; None
        # with the default sources, whose path reads the Authorization header alone.
        self._source_headers: Optional[FrozenSet[bytes]] = None
        if self.flow.sources is not None:
            self._source_headers = frozenset(name.encode("latin-1") for name in self.flow.source_headers)
        self._authenticate_request = self.flow.authenticate_request_async

    @property
    def guard(self) -> Flow:
        """The request flow (its old name)."""
        return self.flow

    @property
    def websocket_query_param(self) -> Optional[str]:
        return self.options.websocket_query_param

    @property
    def prefetch_on_startup(self) -> bool:
        return self.options.prefetch_on_startup

    @property
    def remote_user_header(self) -> bool:
        return self.options.remote_user_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type == "http" or scope_type == "websocket":
            websocket = scope_type == "websocket"
            headers = scope.get("headers") or ()
            # One pass over the headers: the Authorization values and any Remote-User.
            # ASGI servers lowercase names; the length tests keep the common case cheap.
            authorization: List[bytes] = []
            remote_user = False
            for name, value in headers:
                size = len(name)
                if size == 13 and (name == b"authorization" or name.lower() == b"authorization"):
                    authorization.append(value)
                elif size == 11 and name.lower().replace(b"_", b"-") == b"remote-user":
                    remote_user = True
            method = "GET" if websocket else scope.get("method", "GET")
            preflight = method == "OPTIONS" and _is_preflight(headers)
            root_path = scope.get("root_path") or ""
            raw_path = scope.get("raw_path")
            if (
                isinstance(raw_path, bytes)
                and raw_path[:1] != b"/"
                and not is_request_target(raw_path.decode("latin-1"))
            ):
                rule: Optional[Rule] = REFUSED  # "%2F/api": the path starts with "/", but Sanic routes on raw_path
            else:
                path = scope.get("path") or "/"
                rule = self._rule_for(method, path, root_path if isinstance(root_path, str) else "", preflight)
            if self._source_headers is not None and rule is not None:
                outcome: Outcome = await self._authenticate_request(
                    rule,
                    method,
                    _collect(headers, self._source_headers),
                    scope,
                    (scope.get("query_string") or b"") if websocket else None,
                )
            elif websocket and self._query_tokens:
                outcome = await self._authenticate(rule, authorization, scope.get("query_string") or b"")
            else:
                # A cached token, or no token needed, is settled without awaiting anything.
                outcome = self._settled(rule, authorization) or await self._authenticate(rule, authorization)
            # ASGI: copy the scope before changing it, so nothing leaks upstream.
            if type(outcome) is Authenticated:
                identity = outcome.identity
                scope = {
                    **scope,
                    CLAIMS_KEY: identity.payload,
                    TOKEN_KEY: outcome.token,
                    "user": identity.user,
                    "auth": identity.credentials,
                }
                # Identity only the token sets: client-sent Remote-User headers never pass.
                # Always a new list: some servers (uvicorn with httptools) append chunked
                # trailers to the list they put in the scope, after this middleware ran.
                header = identity.remote_user_header if self.options.remote_user_header else None
                scope["headers"] = _without_remote_user(headers, remote_user)
                if header is not None:
                    scope["headers"].append(header)
            elif type(outcome) is Refusal:
                await self._refuse(outcome.failure, scope, receive, send)
                return
            else:
                scope = {"user": _ANONYMOUS, "auth": _NO_CREDENTIALS, **scope}
                scope["headers"] = _without_remote_user(headers, remote_user)  # a new list, as above
        elif scope_type == "lifespan" and self.options.prefetch_on_startup:
            self._start_prefetch()
        await self.app(scope, receive, send)

    async def _refuse(self, failure: AuthFailure, scope: Scope, receive: Receive, send: Send) -> None:
        response = self.flow.prepared(failure, scope)
        status, headers, body = response.status, response.raw_headers, response.body
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        message = await receive()  # websocket.connect: refuse the handshake it announces
        if message.get("type") != "websocket.connect":
            return
        if "websocket.http.response" in (scope.get("extensions") or {}):
            await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": _POLICY_VIOLATION, "reason": failure.description})

    def _start_prefetch(self) -> None:
        """Fetch the JWKS in a thread: the app may refuse lifespan, and startup never waits."""
        try:
            threading.Thread(target=self._prefetch, name="wristband_mw-prefetch", daemon=True).start()
        except Exception as exc:  # e.g. no thread left: startup must go on regardless
            logger.warning("could not start the signing-key prefetch (the first request will fetch): %s", exc)

    def _prefetch(self) -> None:
        try:
            self.flow.validator.prefetch()
            logger.debug("signing keys prefetched at startup")
        except Exception as exc:
            logger.warning("could not prefetch signing keys at startup (requests will retry): %s", exc)


def _collect(headers: Iterable[Tuple[bytes, bytes]], wanted: FrozenSet[bytes]) -> Dict[str, List[str]]:
    """The values of the ``wanted`` headers, by lower-case name (latin-1, as HTTP/1.1 carries them)."""
    found: Dict[str, List[str]] = {}
    for name, value in headers:
        if name not in wanted:
            name = name.lower()  # ASGI servers send lower case; a hand-built scope may not
            if name not in wanted:
                continue
        found.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    return found


def _has_remote_user(headers: Iterable[Tuple[bytes, bytes]]) -> bool:
    # Django turns "-" and "_" alike into "_" for META: both spellings are the same header.
    # The length test first keeps the common case (no such header) cheap; a plain loop is
    # about twice as fast as any() over a generator here.
    for name, _ in headers:  # noqa: SIM110
        if len(name) == 11 and name.lower().replace(b"_", b"-") == b"remote-user":
            return True
    return False


def _without_remote_user(headers: Iterable[Tuple[bytes, bytes]], present: bool = True) -> List[Tuple[bytes, bytes]]:
    """A new header list without any client-sent ``Remote-User``: only the token sets identity.

    ``present=False`` (no such header was seen) skips the filter; the list is still new.
    """
    if not present:
        return list(headers)
    return [h for h in headers if len(h[0]) != 11 or h[0].lower().replace(b"_", b"-") != b"remote-user"]
