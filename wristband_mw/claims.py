"""Where verified claims go, and how an application gets them back.

WSGI: ``environ["wristband_mw.claims"]``, ``environ["wristband_mw.token"]`` and
``environ["REMOTE_USER"]`` (the ``sub``), so Flask's ``request.remote_user`` and
Django's ``RemoteUserMiddleware`` work unchanged.

ASGI: ``scope["wristband_mw.claims"]``, ``scope["wristband_mw.token"]``, plus
``scope["user"]`` and ``scope["auth"]`` shaped like Starlette's ``BaseUser`` and
``AuthCredentials``, so ``request.user``, ``request.auth`` and
``starlette.authentication.requires("scope")`` work without this package importing
Starlette.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Tuple

from .payload import JWTPayload

__all__ = [
    "CLAIMS_KEY",
    "TOKEN_KEY",
    "AnonymousUser",
    "AuthCredentials",
    "AuthenticatedUser",
    "GrantedScopes",
    "get_claims",
    "get_token",
]

CLAIMS_KEY = "wristband_mw.claims"
TOKEN_KEY = "wristband_mw.token"


class AuthenticatedUser:
    """``scope["user"]`` for a request with a verified token (Starlette ``BaseUser`` shape)."""

    __slots__ = ("claims",)

    def __init__(self, claims: JWTPayload) -> None:
        self.claims = claims

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def identity(self) -> str:
        """The token's ``sub``."""
        sub = self.claims.sub
        return sub if isinstance(sub, str) else ""

    @property
    def display_name(self) -> str:
        """The token's ``sub`` (tokens carry no display name)."""
        return self.identity

    def __repr__(self) -> str:
        return f"AuthenticatedUser(identity={self.identity!r})"


class AnonymousUser:
    """``scope["user"]`` when no token was needed or none was sent under ``optional=True``."""

    __slots__ = ()
    is_authenticated = False
    identity = ""
    display_name = ""
    claims: Optional[JWTPayload] = None

    def __repr__(self) -> str:
        return "AnonymousUser()"


class GrantedScopes(List[str]):
    """The token's scopes, as a list; ``"authenticated" in`` it is also true.

    Starlette's documented idiom is ``@requires("authenticated")``, and its own
    authentication backends grant that pseudo-scope to every signed-in user. Membership
    answers it without adding a scope the token does not carry: the list itself (and
    ``==``, iteration, ``len``) holds exactly the token's scopes.
    """

    __slots__ = ()

    def __contains__(self, scope: object) -> bool:
        return scope == "authenticated" or super().__contains__(scope)


class AuthCredentials:
    """``scope["auth"]``: the granted ``scopes`` (Starlette ``AuthCredentials`` shape) and ``claims``."""

    __slots__ = ("claims", "scopes")

    def __init__(self, scopes: Tuple[str, ...] = (), claims: Optional[JWTPayload] = None) -> None:
        self.scopes: List[str] = GrantedScopes(scopes) if claims is not None else list(scopes)
        self.claims = claims

    def __repr__(self) -> str:
        return f"AuthCredentials(scopes={self.scopes!r})"


def _carrier(request: Any) -> Optional[Mapping[str, Any]]:
    if isinstance(request, Mapping):
        return request
    for attribute in ("scope", "environ", "META", "env"):
        value = getattr(request, attribute, None)
        if isinstance(value, Mapping):
            return value
    return None


def get_claims(request: Any) -> Optional[JWTPayload]:
    """The verified claims for ``request``, or ``None`` when it carries none.

    ``request`` is a WSGI environ, an ASGI scope, or a framework request object that
    exposes one as ``.environ`` (Flask, Werkzeug), ``.env`` (Falcon WSGI), ``.META``
    (Django) or ``.scope`` (Starlette, FastAPI, Quart, Litestar, Falcon ASGI).
    """
    carrier = _carrier(request)
    claims = carrier.get(CLAIMS_KEY) if carrier is not None else None
    return claims if isinstance(claims, JWTPayload) else None


def get_token(request: Any) -> Optional[str]:
    """The raw verified token for ``request`` (to forward downstream), or ``None``."""
    carrier = _carrier(request)
    token = carrier.get(TOKEN_KEY) if carrier is not None else None
    return token if isinstance(token, str) else None
