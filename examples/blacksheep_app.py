"""BlackSheep: wrap the app; handlers read the claims with ``get_claims(request)``.

Run it (production: WRISTBAND_DOMAIN=auth.yourapp.io; a local issuer: WRISTBAND_ISSUER
and WRISTBAND_JWKS_URL instead)::

    granian --interface asgi blacksheep_app:application
"""

import os

from blacksheep import Application, Request, WebSocket, WebSocketDisconnectError, json

from wristband_mw import JwtAsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator, get_claims

domain, issuer, jwks_url = map(os.environ.get, ("WRISTBAND_DOMAIN", "WRISTBAND_ISSUER", "WRISTBAND_JWKS_URL"))
if not (domain or (issuer and jwks_url)):
    raise SystemExit("Set WRISTBAND_DOMAIN, or WRISTBAND_ISSUER and WRISTBAND_JWKS_URL, in the environment")
validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(wristband_application_vanity_domain=domain, issuer=issuer, jwks_url=jwks_url)
)

app = Application()


@app.router.get("/healthz")
async def healthz():
    return json({"status": "ok"})


@app.router.get("/api/me")
async def me(request: Request):
    claims = get_claims(request)  # the verified JWTPayload
    return json({"sub": claims.sub, "scopes": list(claims.scopes), "claims": claims.to_dict()})


@app.router.get("/api/admin")
async def admin(request: Request):
    return json({"sub": get_claims(request).sub, "admin": True})


@app.router.ws("/ws/echo")
async def echo(websocket: WebSocket):
    await websocket.accept()
    await websocket.send_json({"sub": get_claims(websocket).sub})
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnectError:
        pass  # the client left


# Every /api and /ws request needs a valid token; /api/admin also needs the "admin" scope.
application = JwtAsgiMiddleware(app, validator, protect=["/api", "/ws"], scopes={"/api/admin": ["admin"]})
