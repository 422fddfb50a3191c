"""The protected sample app behind ``wristband-mw demo``.

The same three routes as a WSGI app (served by the standard library's ``wsgiref``)
and as an ASGI app (served by uvicorn), each wrapped by this package's middleware
with the same options:

* ``GET /`` public: what this is;
* ``GET /api/me`` needs a valid token: echoes the verified claims;
* ``GET /api/admin`` needs a valid token with the ``admin`` scope.

Only the public API is used: this is what an application would write.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterable, List, Tuple

from . import JwtAsgiMiddleware, JwtWsgiMiddleware, WristbandJwtValidator, get_claims
from .asgi import Receive, Scope, Send

__all__ = ["MIDDLEWARE_OPTIONS", "asgi_demo_app", "wsgi_demo_app"]

#: How the demo is protected (the same for WSGI and ASGI).
MIDDLEWARE_OPTIONS: Dict[str, Any] = {"protect": ["/api"], "scopes": {"/api/admin": ["admin"]}}


def _route(path: str, claims: Any) -> Tuple[int, Dict[str, Any]]:
    if path == "/":
        return 200, {"message": "wristband-mw demo: try /api/me and /api/admin with a Bearer token"}
    if path == "/api/me":
        return 200, {"message": "Hello from a protected API!", "claims": claims.to_dict() if claims else None}
    if path == "/api/admin":
        return 200, {"message": "Hello, admin!", "sub": claims.sub if claims else None}
    return 404, {"error": "not_found"}


def _json(status: int, document: Dict[str, Any]) -> Tuple[str, List[Tuple[str, str]], bytes]:
    body = json.dumps(document, indent=2).encode("utf-8") + b"\n"
    reason = {200: "OK", 404: "Not Found"}[status]
    return f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], body


def _sample_wsgi(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    status, headers, body = _json(*_route(environ.get("PATH_INFO") or "/", get_claims(environ)))
    start_response(status, headers)
    return [body]


async def _sample_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":  # lifespan: nothing to set up
        return
    status, headers, body = _json(*_route(scope.get("path") or "/", get_claims(scope)))
    encoded = [(name.lower().encode(), value.encode()) for name, value in headers]
    await send({"type": "http.response.start", "status": int(status.split()[0]), "headers": encoded})
    await send({"type": "http.response.body", "body": body})


def wsgi_demo_app(validator: WristbandJwtValidator) -> JwtWsgiMiddleware:
    """The sample WSGI app, protected."""
    return JwtWsgiMiddleware(_sample_wsgi, validator, **MIDDLEWARE_OPTIONS)


def asgi_demo_app(validator: WristbandJwtValidator) -> JwtAsgiMiddleware:
    """The sample ASGI app, protected."""
    return JwtAsgiMiddleware(_sample_asgi, validator, **MIDDLEWARE_OPTIONS)
