"""Quart: wrap ``app.asgi_app``; a two-line hook puts the claims in ``g.user``.

Run it (production: WRISTBAND_DOMAIN=auth.yourapp.io; a local issuer: WRISTBAND_ISSUER
and WRISTBAND_JWKS_URL instead)::

    hypercorn quart_app:app
"""

import os

from quart import Quart, g, request, websocket

from wristband_mw import JwtAsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator, get_claims

domain, issuer, jwks_url = map(os.environ.get, ("WRISTBAND_DOMAIN", "WRISTBAND_ISSUER", "WRISTBAND_JWKS_URL"))
if not (domain or (issuer and jwks_url)):
    raise SystemExit("Set WRISTBAND_DOMAIN, or WRISTBAND_ISSUER and WRISTBAND_JWKS_URL, in the environment")
validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(wristband_application_vanity_domain=domain, issuer=issuer, jwks_url=jwks_url)
)

app = Quart(__name__)


@app.before_request
async def load_user():
    g.user = get_claims(request)  # the verified JWTPayload, or None on /healthz


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


@app.get("/api/me")
async def me():
    return {"sub": g.user.sub, "scopes": list(g.user.scopes), "claims": g.user.to_dict()}


@app.get("/api/admin")
async def admin():
    return {"sub": g.user.sub, "admin": True}


@app.websocket("/ws/echo")
async def echo():
    await websocket.accept()
    await websocket.send_json({"sub": get_claims(websocket).sub})
    while True:
        await websocket.send(await websocket.receive())


# Every /api and /ws request needs a valid token; /api/admin also needs the "admin" scope.
app.asgi_app = JwtAsgiMiddleware(app.asgi_app, validator, protect=["/api", "/ws"], scopes={"/api/admin": ["admin"]})
