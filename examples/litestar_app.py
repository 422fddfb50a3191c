"""Litestar: ``request.user`` and ``request.auth`` come from the token; two placements.

``app`` has the middleware in Litestar's own ``middleware=[...]`` list, which Litestar runs
per route, after routing: a path no route matches gets Litestar's 404 without a check, and
startup prefetch is not available there. ``application`` wraps a whole Litestar app from
outside instead, and sees every request. Either way ``request.user`` has ``identity``
(the ``sub``) and ``claims``, and ``request.auth`` has ``scopes`` and ``claims``
(``sub``, ``exp`` and the rest). Run it (production: WRISTBAND_DOMAIN=auth.yourapp.io; a
local issuer: WRISTBAND_ISSUER and WRISTBAND_JWKS_URL instead)::

    uvicorn litestar_app:app            # or: litestar_app:application
    granian --interface asgi litestar_app:application
"""

import os

from litestar import Litestar, Request, WebSocket, get, websocket
from litestar.middleware import DefineMiddleware

from wristband_mw import JwtAsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator

domain, issuer, jwks_url = map(os.environ.get, ("WRISTBAND_DOMAIN", "WRISTBAND_ISSUER", "WRISTBAND_JWKS_URL"))
if not (domain or (issuer and jwks_url)):
    raise SystemExit("Set WRISTBAND_DOMAIN, or WRISTBAND_ISSUER and WRISTBAND_JWKS_URL, in the environment")
validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(wristband_application_vanity_domain=domain, issuer=issuer, jwks_url=jwks_url)
)

# Every /api request needs a valid token; /api/admin also needs the "admin" scope.
RULES = {"protect": ["/api", "/ws"], "scopes": {"/api/admin": ["admin"]}}


@get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@get("/api/me")
async def me(request: Request) -> dict:
    claims = request.auth.claims  # the verified JWTPayload: claims.sub, claims.exp, claims["scope"]...
    return {"sub": request.user.identity, "scopes": request.auth.scopes, "exp": claims.exp, "claims": claims.to_dict()}


@get("/api/admin")
async def admin(request: Request) -> dict:
    return {"sub": request.user.identity, "admin": True}


@websocket("/ws/echo")
async def echo(socket: WebSocket) -> None:
    await socket.accept()
    await socket.send_json({"sub": socket.user.identity})
    async for text in socket.iter_data("text"):  # until the client leaves
        await socket.send_text(text)


ROUTES = [healthz, me, admin, echo]

# In Litestar's middleware list (per route):
app = Litestar(route_handlers=ROUTES, middleware=[DefineMiddleware(JwtAsgiMiddleware, validator=validator, **RULES)])

# Or from outside, in front of everything (and keys prefetched at startup):
application = JwtAsgiMiddleware(Litestar(route_handlers=ROUTES), validator, prefetch_on_startup=True, **RULES)
