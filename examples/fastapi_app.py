"""FastAPI: the middleware fills ``request.user`` and ``request.auth``, so Starlette's
``@requires`` works; WebSockets are checked before they are accepted.

Run it (production: WRISTBAND_DOMAIN=auth.yourapp.io; a local issuer: WRISTBAND_ISSUER
and WRISTBAND_JWKS_URL instead)::

    pip install fastapi uvicorn websockets   # uvicorn needs websockets (or wsproto) for /ws
    uvicorn fastapi_app:app --log-level warning --ws wsproto   # with: pip install wsproto

(At level info uvicorn logs every WebSocket's path with its query string, so it
would log ``?access_token=`` tokens. ``--ws wsproto`` or ``--ws websockets``: uvicorn's
default ``websockets-sansio`` logs an ERROR line for every WebSocket the middleware refuses,
although the client gets the right 401.)
"""

import os

from fastapi import FastAPI, Request, WebSocket
from starlette.authentication import requires

from wristband_mw import JwtAsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator

domain, issuer, jwks_url = map(os.environ.get, ("WRISTBAND_DOMAIN", "WRISTBAND_ISSUER", "WRISTBAND_JWKS_URL"))
if not (domain or (issuer and jwks_url)):
    raise SystemExit("Set WRISTBAND_DOMAIN, or WRISTBAND_ISSUER and WRISTBAND_JWKS_URL, in the environment")
validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(wristband_application_vanity_domain=domain, issuer=issuer, jwks_url=jwks_url)
)

app = FastAPI()
app.add_middleware(
    JwtAsgiMiddleware,
    validator=validator,
    protect=["/api", "/ws"],
    scopes={"/api/admin": ["admin"]},  # refused with 403 before any route runs
    websocket_query_param="access_token",  # browsers cannot set headers on a WebSocket
)


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


@app.get("/api/me")
async def me(request: Request):
    return {"sub": request.user.identity, "scopes": request.auth.scopes, "claims": request.auth.claims.to_dict()}


@app.get("/api/admin")
@requires("admin")  # reads request.auth.scopes, which the middleware filled
async def admin(request: Request):
    return {"sub": request.user.identity, "admin": True}


@app.post("/api/orders")
@requires("orders:write")  # Starlette answers 403 itself when the scope is missing
async def create_order(request: Request):
    return {"sub": request.user.identity, "created": True}


@app.websocket("/ws/echo")
async def echo(websocket: WebSocket):
    await websocket.accept()
    await websocket.send_json({"sub": websocket.user.identity})
    async for text in websocket.iter_text():
        await websocket.send_text(text)
