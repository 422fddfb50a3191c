"""A browser app's API that keeps its access token in a cookie, for WSGI and ASGI servers.

Both answer ``{"user": ..., "method": ...}``; ``/healthz`` needs no token. Cookie tokens
on unsafe methods need ``Origin: https://app.example.com`` (or that ``Referer``) or an
``X-Requested-With`` header.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, Iterable

from wristband_mw import (
    JwtAsgiMiddleware,
    JwtWsgiMiddleware,
    WristbandJwtValidatorConfig,
    create_wristband_jwt_validator,
)

validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(
        issuer=os.environ["WRISTBAND_ISSUER"], jwks_url=os.environ["WRISTBAND_JWKS_URL"], jwks_fetch_timeout=5.0
    )
)
SOURCES: Dict[str, Any] = {
    "token_sources": ["authorization", "cookie:__Host-at"],
    "trusted_origins": ["https://app.example.com"],
    "csrf_header": "X-Requested-With",
    "exempt": ["/healthz"],
}


def _wsgi(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = json.dumps({"user": environ.get("REMOTE_USER"), "method": environ["REQUEST_METHOD"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


async def _asgi(scope: Dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    user = scope["user"].identity if scope["user"].is_authenticated else None
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps({"user": user})})
        await send({"type": "websocket.close", "code": 1000})
        return
    body = json.dumps({"user": user, "method": scope["method"]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


wsgi_application = JwtWsgiMiddleware(_wsgi, validator, **SOURCES)
asgi_application = JwtAsgiMiddleware(_asgi, validator, **SOURCES)
