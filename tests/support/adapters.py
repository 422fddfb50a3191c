"""One driver per adapter, so the contract suite describes a request once and runs it on both.

A request is described neutrally: method, the path the app routes on (text), headers as
``(name, value)`` pairs (value ``str`` or raw ``bytes``) and an optional ``Authorization``
value. Each driver translates it the way a real server does:

* WSGI (PEP 3333): the path's UTF-8 bytes decoded as latin-1 in ``PATH_INFO``; each header
  in ``HTTP_<NAME>``, repeated headers joined with ``", "`` (as gunicorn, waitress and
  wsgiref do);
* ASGI: the path as text, header names and values as raw bytes, repeated headers kept as
  separate entries.

``Sent.seen`` is the environ or scope the app received; :meth:`Adapter.user` reads the
verified identity out of it the way each interface carries it (``REMOTE_USER``, ``scope["user"]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

from wristband_mw import AuthenticatedUser, JwtAsgiMiddleware, JwtWsgiMiddleware

from .drive import AsgiApp, Sent, WsgiApp, call_asgi, call_wsgi, make_environ, make_scope

__all__ = ["ADAPTERS", "ASGI", "WSGI", "Adapter", "Header"]

Header = Tuple[str, Union[str, bytes]]


def _as_bytes(value: Union[str, bytes]) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


def _wsgi_request(
    path: str, method: str, headers: Sequence[Header], authorization: Optional[Union[str, bytes]]
) -> Dict[str, Any]:
    joined: Dict[str, str] = {}
    pairs = list(headers)
    if authorization is not None:
        pairs.append(("Authorization", authorization))
    for name, value in pairs:
        key = "HTTP_" + name.upper().replace("-", "_")
        text = _as_bytes(value).decode("latin-1")
        joined[key] = f"{joined[key]}, {text}" if key in joined else text
    return make_environ(path.encode("utf-8").decode("latin-1"), method, **joined)


def _asgi_request(
    path: str, method: str, headers: Sequence[Header], authorization: Optional[Union[str, bytes]]
) -> Dict[str, Any]:
    raw = [(name.encode("latin-1"), _as_bytes(value)) for name, value in headers]
    if authorization is not None:
        raw.append((b"authorization", _as_bytes(authorization)))
    return make_scope(path, method, raw)


def _wsgi_user(seen: Dict[str, Any]) -> Optional[str]:
    return seen.get("REMOTE_USER")


def _asgi_user(seen: Dict[str, Any]) -> Optional[str]:
    user = seen["user"]  # always set: an AnonymousUser when no token was verified
    if not user.is_authenticated:
        return None
    assert isinstance(user, AuthenticatedUser)
    return str(user.identity)


@dataclass(frozen=True)
class Adapter:
    """How to build a middleware of one interface and send it a neutrally described request."""

    name: str  # "WSGI" or "ASGI", as the middleware's own error messages spell it
    middleware_class: Any
    recording_app: Callable[[], Any]
    _request: Callable[[str, str, Sequence[Header], Optional[Union[str, bytes]]], Dict[str, Any]]
    _send: Callable[[Any, Dict[str, Any]], Sent]
    user: Callable[[Dict[str, Any]], Optional[str]]  # the verified identity the app sees, or None

    def __repr__(self) -> str:
        return self.name

    def middleware(self, validator: Any, **options: Any) -> Any:
        """The middleware around a recording app that answers 200 ``app``."""
        return self.middleware_class(self.recording_app(), validator, **options)

    def request(
        self,
        path: str = "/api/x",
        method: str = "GET",
        headers: Sequence[Header] = (),
        authorization: Optional[Union[str, bytes]] = None,
    ) -> Dict[str, Any]:
        """The environ or scope a server would build for this request."""
        return self._request(path, method, headers, authorization)

    def send(self, middleware: Any, request: Dict[str, Any]) -> Sent:
        return self._send(middleware, request)

    def get(
        self,
        middleware: Any,
        path: str = "/api/x",
        authorization: Optional[Union[str, bytes]] = None,
        method: str = "GET",
        headers: Sequence[Header] = (),
    ) -> Sent:
        return self._send(middleware, self._request(path, method, headers, authorization))


WSGI = Adapter("WSGI", JwtWsgiMiddleware, WsgiApp, _wsgi_request, call_wsgi, _wsgi_user)
ASGI = Adapter("ASGI", JwtAsgiMiddleware, AsgiApp, _asgi_request, call_asgi, _asgi_user)
ADAPTERS = (WSGI, ASGI)
