"""Sanic (as an ASGI app): a two-line hook puts the claims in ``request.ctx.user``.

Sanic routes on the full path and ignores an ASGI ``root_path``: mount it at the root.
Run it (production: WRISTBAND_DOMAIN=auth.yourapp.io; a local issuer: WRISTBAND_ISSUER
and WRISTBAND_JWKS_URL instead)::

    uvicorn sanic_app:application
"""

import json
import os

from sanic import Sanic
from sanic.response import json as json_response

from wristband_mw import JwtAsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator, get_claims

domain, issuer, jwks_url = map(os.environ.get, ("WRISTBAND_DOMAIN", "WRISTBAND_ISSUER", "WRISTBAND_JWKS_URL"))
if not (domain or (issuer and jwks_url)):
    raise SystemExit("Set WRISTBAND_DOMAIN, or WRISTBAND_ISSUER and WRISTBAND_JWKS_URL, in the environment")
validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(wristband_application_vanity_domain=domain, issuer=issuer, jwks_url=jwks_url)
)

app = Sanic("wristband_example")


@app.on_request
async def load_user(request):
    request.ctx.user = get_claims(request)  # the verified JWTPayload, or None on /healthz


@app.get("/healthz")
async def healthz(request):
    return json_response({"status": "ok"})


@app.get("/api/me")
async def me(request):
    user = request.ctx.user
    return json_response({"sub": user.sub, "scopes": list(user.scopes), "claims": user.to_dict()})


@app.get("/api/admin")
async def admin(request):
    return json_response({"sub": request.ctx.user.sub, "admin": True})


@app.websocket("/ws/echo")
async def echo(request, ws):
    await ws.send(json.dumps({"sub": request.ctx.user.sub}))
    while (text := await ws.recv()) is not None:  # None once the client leaves
        await ws.send(text)


# Every /api and /ws request needs a valid token; /api/admin also needs the "admin" scope.
application = JwtAsgiMiddleware(app, validator, protect=["/api", "/ws"], scopes={"/api/admin": ["admin"]})
