"""Who a request is: the user and credential objects, where verified claims go, and
how an application gets them back.

WSGI: ``environ["wristband_mw.claims"]``, ``environ["wristband_mw.token"]`` and
``environ["REMOTE_USER"]`` (the ``sub``), so Flask's ``request.remote_user`` and
Django's ``RemoteUserMiddleware`` work unchanged.

ASGI: ``scope["wristband_mw.claims"]``, ``scope["wristband_mw.token"]``, plus
``scope["user"]`` and ``scope["auth"]`` shaped like Starlette's ``BaseUser`` and
``AuthCredentials``, so ``request.user``, ``request.auth`` and
``starlette.authentication.requires("scope")`` work without this package importing
Starlette.

An :class:`Identity` is built once per verified token, when the validator stores it in
its verified-token cache, and is shared by every request carrying that token: the user
and credential objects are therefore read-only, like the claims they wrap.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from .payload import FrozenList, JWTPayload

__all__ = [
    "CLAIMS_KEY",
    "TOKEN_KEY",
    "AnonymousUser",
    "AuthCredentials",
    "AuthenticatedUser",
    "GrantedScopes",
    "Identity",
    "get_claims",
    "get_token",
]

CLAIMS_KEY = "wristband_mw.claims"
TOKEN_KEY = "wristband_mw.token"


class AuthenticatedUser:
    """``scope["user"]`` for a request with a verified token (Starlette ``BaseUser`` shape)."""

    __slots__ = ("claims",)
    claims: JWTPayload

    def __init__(self, claims: JWTPayload) -> None:
        object.__setattr__(self, "claims", claims)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only: it is shared by every request with this token")

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


class GrantedScopes(FrozenList):
    """The token's scopes, as a read-only list; ``"authenticated" in`` it is also true.

    Starlette's documented idiom is ``@requires("authenticated")``, and its own
    authentication backends grant that pseudo-scope to every signed-in user. Membership
    answers it without adding a scope the token does not carry: the list itself (and
    ``==``, iteration, ``len``) holds exactly the token's scopes.
    """

    __slots__ = ()

    def __contains__(self, scope: object) -> bool:
        return scope == "authenticated" or list.__contains__(self, scope)

    def __reduce__(self) -> Any:
        return (GrantedScopes, (list(self),))


class AuthCredentials:
    """``scope["auth"]``: the granted ``scopes`` (Starlette ``AuthCredentials`` shape) and ``claims``."""

    __slots__ = ("claims", "scopes")

    scopes: List[str]
    claims: Optional[JWTPayload]

    def __init__(self, scopes: Tuple[str, ...] = (), claims: Optional[JWTPayload] = None) -> None:
        object.__setattr__(self, "scopes", GrantedScopes(scopes) if claims is not None else FrozenList(scopes))
        object.__setattr__(self, "claims", claims)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only: it is shared by every request with this token")

    def __repr__(self) -> str:
        return f"AuthCredentials(scopes={list(self.scopes)!r})"


class Identity:
    """Everything a verified token gives a request, built once per token.

    The validator builds it when it accepts a token and keeps it with the token's
    verified-token cache entry, so a request answered from that cache allocates none of it.

    Attributes:
        payload: the verified claims.
        user: ``scope["user"]`` (an :class:`AuthenticatedUser`).
        credentials: ``scope["auth"]`` (an :class:`AuthCredentials`).
        scopes: the granted scopes (``payload.scopes``).
        remote_user: the ``sub`` when it is a printable string (for ``REMOTE_USER``), else ``None``.
        remote_user_header: ``(b"remote-user", sub as UTF-8)`` for an ASGI scope, or ``None``.

    Example::

        identity = Identity(JWTPayload({"sub": "user-1", "scope": "orders:read"}))
        identity.user.identity, identity.scopes  # -> ('user-1', ('orders:read',))
    """

    __slots__ = ("_views", "credentials", "payload", "remote_user", "remote_user_header", "scopes", "user")

    def __init__(self, payload: JWTPayload) -> None:
        self._views: Optional[Dict[Tuple[str, ...], Identity]] = None
        self.payload = payload
        self.user = AuthenticatedUser(payload)
        self.credentials = AuthCredentials(payload.scopes, payload)
        self.scopes: Tuple[str, ...] = payload.scopes
        sub = payload.sub
        # No control characters into REMOTE_USER (server logs) or a header.
        self.remote_user: Optional[str] = sub if isinstance(sub, str) and sub.isprintable() else None
        self.remote_user_header: Optional[Tuple[bytes, bytes]] = (
            None if self.remote_user is None else (b"remote-user", self.remote_user.encode("utf-8"))
        )

    def with_scope_claims(self, names: Tuple[str, ...]) -> Identity:
        """This identity with its scopes read from the claims ``names`` (the ``scope_claims`` option).

        Built once per identity and list of names, and kept with this identity (so with
        its verified-token cache entry): later requests carrying the token allocate
        nothing. The payload's ``scopes`` and ``scope["auth"].scopes`` follow ``names``.

        Example::

            identity = Identity(JWTPayload({"sub": "u", "perms": ["read"]}))
            identity.with_scope_claims(("scope", "perms")).scopes  # -> ('read',)
        """
        views = self._views
        view = views.get(names) if views is not None else None
        if view is None:
            view = Identity(self.payload._with_scopes_from(names))
            view._views = {names: view}  # asked again (as the flow may), a view is its own answer
            # Two threads may both build one: equal, immutable values; the dict is replaced, never mutated.
            self._views = {**(views or {}), names: view}
        return view

    def __repr__(self) -> str:
        return f"Identity(sub={self.remote_user!r})"


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
