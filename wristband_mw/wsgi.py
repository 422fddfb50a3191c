"""WSGI middleware: require a valid Bearer token before the wrapped app runs.

Wrap any WSGI application (Flask, Django, Falcon, Bottle, Pyramid, plain WSGI). A
request that needs a token and lacks a good one never reaches the app: it gets the
RFC 6750 response from :mod:`wristband_mw.responses`. A request with a valid token
reaches the app with the claims in the environ::

    environ["wristband_mw.claims"]  # JWTPayload
    environ["wristband_mw.token"]   # the raw token, to forward to downstream APIs
    environ["REMOTE_USER"]          # the token's sub

Identity only the token can set: on every request that reaches the app, a
``REMOTE_USER`` the middleware did not set from a verified token (a server may fill it
from unverified Basic credentials, or pass a proxy's header through) and any
client-sent ``Remote-User`` header (``HTTP_REMOTE_USER``) are removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from .authorization import DEFAULT_SCOPE_CLAIMS, RevocationCheck, RevocationHook
from .flow import PASS, Authenticated, Flow, Outcome, Refusal, TokenValidator
from .identity import CLAIMS_KEY, TOKEN_KEY
from .options import MiddlewareOptions, OnError
from .sources import TokenFinder

if TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
else:
    StartResponse = Callable[..., Any]
    WSGIApplication = Callable[..., Iterable[bytes]]
    WSGIEnvironment = Dict[str, Any]

__all__ = ["JwtWsgiMiddleware"]


class JwtWsgiMiddleware:
    """Validate ``Authorization: Bearer`` tokens in front of a WSGI app.

    Parameters:
        app: the WSGI application to protect.
        validator: from :func:`~wristband_mw.create_wristband_jwt_validator`.
        protect: path prefixes that need a token (default: every path).
        exempt: path prefixes that never need one, e.g. ``["/healthz"]``; exempt wins.
        exempt_methods: HTTP methods that never need one (default: none).
        cors_preflight: let CORS preflights (``OPTIONS`` with ``Origin`` and
            ``Access-Control-Request-Method``) through without a token (default: true).
        required_scopes: scopes every protected request needs.
        scopes: path prefix -> required scopes; the longest matching prefix wins.
        optional: let requests with no Authorization header through as anonymous
            (no claims placed); a present but bad token is still refused.
        on_error: ``(failure, environ) -> ErrorResponse`` to render refusals your way.
        realm: the ``WWW-Authenticate`` realm (default: the issuer's host).
        token_sources: where a token may come from, in a list of ``"authorization"``
            (the default, alone), ``"cookie:NAME"``, ``"header:NAME"`` (with or without
            a ``Bearer`` prefix) and callables ``finder(environ) -> Optional[str]``. A
            token found in more than one of them is refused (400 ``invalid_request``).
            See :mod:`wristband_mw.sources`.
        trusted_origins: origins (``"https://app.example.com"``) whose pages may send a
            cookie token on unsafe methods (anything but GET, HEAD, OPTIONS); checked
            against ``Origin``, or without it the ``Referer``'s origin.
        csrf_header: a header (e.g. ``"X-Requested-With"``, any value) that also lets a
            cookie token through on unsafe methods: a cross-site page cannot send it
            without a CORS preflight. Without a trusted origin or this header, such a
            request gets 403 ``csrf_refused``.
        scope_claims: the claims holding granted scopes (default ``("scope", "scp",
            "permissions")``; apojwt tokens: add ``"perms"``); they feed every scope
            check, ``JWTPayload.scopes`` of the claims placed, and ``scope["auth"].scopes``.
        admin_scope: a scope that satisfies every scope requirement (default: none).
        claims: path prefix -> ``{claim: required}``: an exact value (str, int, bool),
            a list of them (one of), or a predicate ``value -> bool`` that must return
            ``True``. The longest matching prefix wins, independently of ``scopes``; a
            request must meet both. Refused with 403 ``insufficient_scope``.
        is_revoked: ``(claims) -> bool`` asked for every request with a valid token
            (cached ones too): ``True`` refuses it with 401 ``invalid_token``, and so
            does an exception or a non-bool answer (fail closed, logged once per streak).
            Called inline, so it blocks this worker while it runs; an ``async`` hook is refused here.

    Paths are matched on ``PATH_INFO``, the path the app routes on below its mount
    point (``SCRIPT_NAME``), after normalisation, both as given (PEP 3333 latin-1) and
    UTF-8 decoded as frameworks decode it; a path holding a control character is
    refused with 400 ``invalid_request``.

    The options are checked once, into :attr:`options` (a
    :class:`~wristband_mw.MiddlewareOptions`); invalid ones raise ``ValueError``.

    Example::

        app.wsgi_app = JwtWsgiMiddleware(app.wsgi_app, validator, protect=["/api"], exempt=["/api/health"])

        # a browser app keeping its access token in a cookie
        app.wsgi_app = JwtWsgiMiddleware(
            app.wsgi_app, validator, token_sources=["cookie:__Host-access_token"],
            trusted_origins=["https://app.example.com"],
        )
    """

    def __init__(
        self,
        app: WSGIApplication,
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
        token_sources: Iterable[Union[str, TokenFinder]] = ("authorization",),
        trusted_origins: Iterable[str] = (),
        csrf_header: Optional[str] = None,
        scope_claims: Iterable[str] = DEFAULT_SCOPE_CLAIMS,
        admin_scope: Optional[str] = None,
        claims: Optional[Mapping[str, Mapping[str, Any]]] = None,
        is_revoked: Optional[RevocationHook] = None,
    ) -> None:
        if not callable(app):
            raise ValueError("app must be a WSGI application")
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
            token_sources=token_sources,  # type: ignore[arg-type]
            trusted_origins=trusted_origins,  # type: ignore[arg-type]
            csrf_header=csrf_header,
            scope_claims=scope_claims,  # type: ignore[arg-type]
            admin_scope=admin_scope,
            claims=claims,
            is_revoked=is_revoked,
        )
        if any(source.kind == "query" for source in self.options.sources):
            raise ValueError("token_sources: 'query:NAME' is for WebSocket handshakes, which WSGI does not serve")
        if is_revoked is not None and RevocationCheck(is_revoked).is_async:
            raise ValueError("is_revoked is async, and a WSGI server cannot await it: pass a plain function")
        self.flow = Flow(validator, self.options)
        self._rule_for = self.flow.policy.rule_for_wsgi
        self._authenticate = self.flow.authenticate
        # The environ keys (PEP 3333 CGI names) of the headers the configured sources read;
        # None with the default source, whose path reads HTTP_AUTHORIZATION alone.
        self._source_keys: Optional[Tuple[Tuple[str, str], ...]] = None
        if self.flow.sources is not None:
            self._source_keys = tuple(
                (name, "HTTP_" + name.upper().replace("-", "_")) for name in sorted(self.flow.source_headers)
            )

    @property
    def guard(self) -> Flow:
        """The request flow (its old name)."""
        return self.flow

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        preflight = method == "OPTIONS" and "HTTP_ORIGIN" in environ and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
        rule = self._rule_for(method, environ.get("PATH_INFO", "") or "/", preflight)
        if rule is None:
            outcome: Outcome = PASS
        elif self._source_keys is not None:
            headers = {name: [value] for name, key in self._source_keys if type(value := environ.get(key)) is str}
            outcome = self.flow.authenticate_request(rule, method, headers, environ)
            if type(outcome) is Refusal:
                return self._refuse(outcome, environ, start_response)
        else:
            header = environ.get("HTTP_AUTHORIZATION")
            outcome = self._authenticate(rule, () if header is None else (header,))
            if type(outcome) is Refusal:
                return self._refuse(outcome, environ, start_response)
        # Identity only the token sets: never a server's or a client's REMOTE_USER.
        if "REMOTE_USER" in environ or "HTTP_REMOTE_USER" in environ:
            environ.pop("REMOTE_USER", None)
            environ.pop("HTTP_REMOTE_USER", None)
        if type(outcome) is Authenticated:
            identity = outcome.identity
            environ[CLAIMS_KEY] = identity.payload
            environ[TOKEN_KEY] = outcome.token
            if identity.remote_user is not None:  # no control characters into server logs
                environ["REMOTE_USER"] = identity.remote_user
        return self.app(environ, start_response)

    def _refuse(self, refusal: Refusal, environ: WSGIEnvironment, start_response: StartResponse) -> List[bytes]:
        response = self.flow.prepared(refusal.failure, environ)
        start_response(response.status_line, list(response.headers))
        return [response.body]
