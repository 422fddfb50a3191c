"""Starlette: the middleware in the app's middleware list, ``@requires`` on the routes.

Run it (production: WRISTBAND_DOMAIN=auth.yourapp.io; a local issuer: WRISTBAND_ISSUER
and WRISTBAND_JWKS_URL instead)::

    uvicorn starlette_app:app
"""

import os

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route

from wristband_mw import JwtAsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator

domain, issuer, jwks_url = map(os.environ.get, ("WRISTBAND_DOMAIN", "WRISTBAND_ISSUER", "WRISTBAND_JWKS_URL"))
if not (domain or (issuer and jwks_url)):
    raise SystemExit("Set WRISTBAND_DOMAIN, or WRISTBAND_ISSUER and WRISTBAND_JWKS_URL, in the environment")
validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(wristband_application_vanity_domain=domain, issuer=issuer, jwks_url=jwks_url)
)


async def healthz(request):
    return JSONResponse({"status": "ok"})


async def me(request):
    user, auth = request.user, request.auth
    return JSONResponse({"sub": user.identity, "scopes": auth.scopes, "claims": auth.claims.to_dict()})


@requires("admin")
async def admin(request):
    return JSONResponse({"sub": request.user.identity, "admin": True})


@requires("reports:read")
async def reports(request):
    return JSONResponse({"sub": request.user.identity, "reports": []})


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/api/me", me),
        Route("/api/admin", admin),
        Route("/api/reports", reports),
    ],
    middleware=[Middleware(JwtAsgiMiddleware, validator=validator, protect=["/api"], scopes={"/api/admin": ["admin"]})],
)
