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
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Mapping, MutableMapping, Optional, Tuple, Union
from urllib.parse import parse_qs

from .bearer import BAD_FORMAT, is_b64token
from .claims import CLAIMS_KEY, TOKEN_KEY, AnonymousUser, AuthCredentials, AuthenticatedUser
from .payload import JWTPayload
from .policy import REFUSED, Guard, OnError, is_request_target
from .responses import AuthFailure
from .validator import WristbandJwtValidator

__all__ = ["JwtAsgiMiddleware"]

logger = logging.getLogger("wristband_mw")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
EncodedResponse = Tuple[int, List[Tuple[bytes, bytes]], bytes]

_ANONYMOUS = AnonymousUser()
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
        websocket_query_param: also accept the token from this query parameter on
            WebSocket handshakes (browsers cannot set headers there), e.g.
            ``"access_token"``. Off by default; never used for plain HTTP.
        remote_user_header: add a ``remote-user`` header holding the verified ``sub``
            (UTF-8) for the app, as Django reads ``REMOTE_USER`` under ASGI (default:
            true). Client-sent ``Remote-User`` headers are always removed.
        prefetch_on_startup: warm the key cache when the lifespan scope arrives, before any
            ``lifespan.startup``, in a thread; failures are logged and startup goes on.

    Paths are matched on ``path`` as given, below ``root_path`` and with ``root_path``
    removed where it occurs (frameworks disagree; the strictest answer wins); a path
    holding a control character is refused with 400 ``invalid_request``.

    Example::

        app = JwtAsgiMiddleware(app, validator, protect=["/api"], scopes={"/api/admin": ["admin"]})
    """

    def __init__(
        self,
        app: ASGIApp,
        validator: WristbandJwtValidator,
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
    ) -> None:
        if not callable(app):
            raise ValueError("app must be an ASGI application")
        if websocket_query_param is not None and (
            not isinstance(websocket_query_param, str) or not websocket_query_param
        ):
            raise ValueError("websocket_query_param must be a query parameter name such as 'access_token', or None")
        if not isinstance(prefetch_on_startup, bool):
            raise ValueError("prefetch_on_startup must be True or False")
        if not isinstance(remote_user_header, bool):
            raise ValueError("remote_user_header must be True or False")
        self.app = app
        self.guard = Guard(
            validator,
            protect=protect,
            exempt=exempt,
            exempt_methods=exempt_methods,
            cors_preflight=cors_preflight,
            required_scopes=required_scopes,
            scopes=scopes,
            optional=optional,
            on_error=on_error,
            realm=realm,
        )
        self.websocket_query_param = websocket_query_param
        self.prefetch_on_startup = prefetch_on_startup
        self.remote_user_header = remote_user_header
        self._encoded: Dict[AuthFailure, EncodedResponse] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type == "http" or scope_type == "websocket":
            outcome = await self._authenticate(scope, scope_type == "websocket")
            if isinstance(outcome, AuthFailure):
                await self._refuse(outcome, scope, receive, send)
                return
            # ASGI: copy the scope before changing it, so nothing leaks upstream.
            if outcome is None:
                scope = {"user": _ANONYMOUS, "auth": AuthCredentials(), **scope}
                # Always a new list: some servers (uvicorn with httptools) append chunked
                # trailers to the list they put in the scope, after this middleware ran.
                scope["headers"] = _without_remote_user(scope.get("headers") or ())
            else:
                payload, token = outcome
                scope = {
                    **scope,
                    CLAIMS_KEY: payload,
                    TOKEN_KEY: token,
                    "user": AuthenticatedUser(payload),
                    "auth": AuthCredentials(payload.scopes, payload),
                }
                headers = scope.get("headers") or ()
                sub = payload.sub if self.remote_user_header else None
                if sub is not None and isinstance(sub, str) and sub.isprintable():
                    scope["headers"] = [*_without_remote_user(headers), (b"remote-user", sub.encode("utf-8"))]
                else:  # a new list, as above
                    scope["headers"] = _without_remote_user(headers)
        elif scope_type == "lifespan" and self.prefetch_on_startup:
            self._start_prefetch()
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope, websocket: bool) -> Union[Tuple[JWTPayload, str], AuthFailure, None]:
        """``None`` to pass without claims, the claims and token, or the failure."""
        guard = self.guard
        method = "GET" if websocket else scope.get("method", "GET")
        headers = scope.get("headers") or ()
        preflight = method == "OPTIONS" and _is_preflight(headers)
        root_path = scope.get("root_path") or ""
        path = scope.get("path") or "/"
        raw_path = scope.get("raw_path")
        if isinstance(raw_path, bytes) and raw_path[:1] != b"/" and not is_request_target(raw_path.decode("latin-1")):
            return guard.bad_path  # e.g. "%2F/api": the path starts with "/", but Sanic routes on raw_path
        rule = guard.policy.rule_for_asgi(method, path, root_path if isinstance(root_path, str) else "", preflight)
        if rule is None:
            return None
        if rule is REFUSED:
            return guard.bad_path
        # ASGI servers lowercase header names; the length test keeps a mis-cased one cheap.
        authorization: List[bytes] = [
            value
            for name, value in headers
            if name == b"authorization" or (len(name) == 13 and name.lower() == b"authorization")
        ]
        if websocket and self.websocket_query_param is not None:
            token = self._token_from_query(scope, authorization)
        else:
            token = guard.token_from(authorization)
        if token is None or isinstance(token, AuthFailure):
            return token
        verdict = guard.verdict(await guard.validator.validate_async(token), rule)
        if isinstance(verdict, AuthFailure):
            return verdict
        return verdict, token

    def _token_from_query(self, scope: Scope, authorization: List[bytes]) -> Union[str, AuthFailure, None]:
        query: bytes = scope.get("query_string") or b""
        values = parse_qs(query.decode("latin-1"), keep_blank_values=True).get(self.websocket_query_param or "", [])
        if not values:
            return self.guard.token_from(authorization)
        failures = self.guard.failures
        if authorization or len(values) > 1:
            # RFC 6750 section 2: a client must not send the token more than one way.
            return failures.invalid_request("Send the access token once: in one header or one query parameter")
        value = values[0]
        if not value:
            return None if self.guard.optional else failures.no_credentials
        if not is_b64token(value):
            return failures.invalid_request(BAD_FORMAT)
        return value

    async def _refuse(self, failure: AuthFailure, scope: Scope, receive: Receive, send: Send) -> None:
        status, headers, body = self._encode(failure, scope)
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

    def _encode(self, failure: AuthFailure, scope: Scope) -> EncodedResponse:
        encoded = self._encoded.get(failure)
        if encoded is not None:
            return encoded
        response = self.guard.response_for(failure, scope)
        encoded = (
            response.status,
            [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers],
            response.body,
        )
        if self.guard.has_default_renderer:  # a hook may answer differently per request
            self._encoded[failure] = encoded
        return encoded

    def _start_prefetch(self) -> None:
        """Fetch the JWKS in a thread: the app may refuse lifespan, and startup never waits."""
        try:
            threading.Thread(target=self._prefetch, name="wristband_mw-prefetch", daemon=True).start()
        except Exception as exc:  # e.g. no thread left: startup must go on regardless
            logger.warning("could not start the signing-key prefetch (the first request will fetch): %s", exc)

    def _prefetch(self) -> None:
        try:
            self.guard.validator.prefetch()
            logger.debug("signing keys prefetched at startup")
        except Exception as exc:
            logger.warning("could not prefetch signing keys at startup (requests will retry): %s", exc)


def _without_remote_user(headers: Iterable[Tuple[bytes, bytes]]) -> List[Tuple[bytes, bytes]]:
    """A new header list without any client-sent ``Remote-User``: only the token sets identity."""
    return [h for h in headers if len(h[0]) != 11 or h[0].lower().replace(b"_", b"-") != b"remote-user"]
