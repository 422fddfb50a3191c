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

from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from .claims import CLAIMS_KEY, TOKEN_KEY
from .payload import JWTPayload
from .policy import REFUSED, Guard, OnError
from .responses import AuthFailure
from .validator import WristbandJwtValidator

if TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
else:
    StartResponse = Callable[..., Any]
    WSGIApplication = Callable[..., Iterable[bytes]]
    WSGIEnvironment = Dict[str, Any]

__all__ = ["JwtWsgiMiddleware"]


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


_STATUS_LINES = {status: _status_line(status) for status in (400, 401, 403, 503)}


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

    Paths are matched on ``PATH_INFO``, the path the app routes on below its mount
    point (``SCRIPT_NAME``), after normalisation, both as given (PEP 3333 latin-1) and
    UTF-8 decoded as frameworks decode it; a path holding a control character is
    refused with 400 ``invalid_request``.

    Example::

        app.wsgi_app = JwtWsgiMiddleware(app.wsgi_app, validator, protect=["/api"], exempt=["/api/health"])
    """

    def __init__(
        self,
        app: WSGIApplication,
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
    ) -> None:
        if not callable(app):
            raise ValueError("app must be a WSGI application")
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

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        outcome = self._authenticate(environ)
        if isinstance(outcome, AuthFailure):
            return self._refuse(outcome, environ, start_response)
        if "REMOTE_USER" in environ or "HTTP_REMOTE_USER" in environ:
            environ.pop("REMOTE_USER", None)
            environ.pop("HTTP_REMOTE_USER", None)
        if outcome is not None:
            payload, token = outcome
            environ[CLAIMS_KEY] = payload
            environ[TOKEN_KEY] = token
            sub = payload.sub
            if isinstance(sub, str) and sub.isprintable():  # no control characters into server logs
                environ["REMOTE_USER"] = sub
        return self.app(environ, start_response)

    def _authenticate(self, environ: WSGIEnvironment) -> Union[Tuple[JWTPayload, str], AuthFailure, None]:
        """``None`` to pass without claims, the claims and token, or the failure."""
        guard = self.guard
        method = environ.get("REQUEST_METHOD", "GET")
        preflight = method == "OPTIONS" and "HTTP_ORIGIN" in environ and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
        rule = guard.policy.rule_for_wsgi(method, environ.get("PATH_INFO", "") or "/", preflight)
        if rule is None:
            return None
        if rule is REFUSED:
            return guard.bad_path
        header = environ.get("HTTP_AUTHORIZATION")
        token = guard.token_from(() if header is None else (header,))
        if token is None or isinstance(token, AuthFailure):
            return token
        verdict = guard.verdict(guard.validator.validate(token), rule)
        if isinstance(verdict, AuthFailure):
            return verdict
        return verdict, token

    def _refuse(self, failure: AuthFailure, environ: WSGIEnvironment, start_response: StartResponse) -> List[bytes]:
        response = self.guard.response_for(failure, environ)
        status = _STATUS_LINES.get(response.status) or _status_line(response.status)
        start_response(status, list(response.headers))
        return [response.body]
