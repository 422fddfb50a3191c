"""The applications the soak test serves (tests/soak/test_soak.py starts the servers).

``asgi_app`` (for uvicorn) and ``wsgi_app`` (for gunicorn's gthread worker) are the
same trivial app behind :class:`JwtAsgiMiddleware` / :class:`JwtWsgiMiddleware`, with a
validator configured from the environment, as a deployment would configure it:

``WRISTBAND_MW_SOAK_ISSUER``, ``WRISTBAND_MW_SOAK_JWKS_URL``
    the test's LocalIssuer;
``WRISTBAND_MW_SOAK_TTL_MS``, ``WRISTBAND_MW_SOAK_COOLDOWN``, ``WRISTBAND_MW_SOAK_VERIFIED_CACHE``
    ``jwks_cache_ttl`` (ms), ``jwks_refresh_cooldown`` (s), ``verified_token_cache_size``.

Routes: ``/health`` and ``/stats`` (the validator's counters, as JSON) need no token;
everything else needs a valid one and answers ``200 ok``. Each gunicorn worker imports
this module after the fork, so each has its own validator, as in production.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Callable, Dict, Iterable, List, Tuple

from wristband_mw import (
    JwtAsgiMiddleware,
    JwtWsgiMiddleware,
    WristbandJwtValidatorConfig,
    create_wristband_jwt_validator,
)

EXEMPT = ["/health", "/stats"]

validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(
        issuer=os.environ["WRISTBAND_MW_SOAK_ISSUER"],
        jwks_url=os.environ["WRISTBAND_MW_SOAK_JWKS_URL"],
        jwks_cache_ttl=int(os.environ.get("WRISTBAND_MW_SOAK_TTL_MS", "1000")),
        jwks_refresh_cooldown=float(os.environ.get("WRISTBAND_MW_SOAK_COOLDOWN", "1")),
        verified_token_cache_size=int(os.environ.get("WRISTBAND_MW_SOAK_VERIFIED_CACHE", "256")),
    )
)


def _route(path: str) -> Tuple[int, str, bytes]:
    if path == "/stats":
        stats: Dict[str, Any] = validator.stats()
        stats["pid"] = os.getpid()
        stats["threads"] = threading.active_count()
        return 200, "application/json", json.dumps(stats).encode("utf-8")
    return 200, "text/plain", b"ok"


def _wsgi(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    status, content_type, body = _route(environ.get("PATH_INFO") or "/")
    start_response(f"{status} OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


async def _asgi(scope: Dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                validator.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    status, content_type, body = _route(scope.get("path") or "/")
    headers: List[Tuple[bytes, bytes]] = [
        (b"content-type", content_type.encode("ascii")),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


asgi_app = JwtAsgiMiddleware(_asgi, validator, exempt=EXEMPT)
wsgi_app = JwtWsgiMiddleware(_wsgi, validator, exempt=EXEMPT)
