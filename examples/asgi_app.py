"""Any ASGI 3 callable, no framework: the claims arrive in the scope.

``prefetch_on_startup`` fetches the signing keys when the server starts (on
``lifespan.startup``), so the first request does not wait for them. Run it
(production: WRISTBAND_DOMAIN=auth.yourapp.io; a local issuer: WRISTBAND_ISSUER and
WRISTBAND_JWKS_URL instead) under any ASGI server::

    uvicorn asgi_app:application
    hypercorn asgi_app:application
    granian --interface asgi asgi_app:application
"""

import json
import os

from wristband_mw import JwtAsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator, get_claims

domain, issuer, jwks_url = map(os.environ.get, ("WRISTBAND_DOMAIN", "WRISTBAND_ISSUER", "WRISTBAND_JWKS_URL"))
if not (domain or (issuer and jwks_url)):
    raise SystemExit("Set WRISTBAND_DOMAIN, or WRISTBAND_ISSUER and WRISTBAND_JWKS_URL, in the environment")
validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(wristband_application_vanity_domain=domain, issuer=issuer, jwks_url=jwks_url)
)


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    claims = get_claims(scope)  # scope["wristband_mw.claims"], the verified JWTPayload (None on /healthz)
    if scope["type"] == "websocket":  # echo until the client leaves
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps({"sub": claims.sub})})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text") or ""})
        return
    if scope["method"] not in ("GET", "HEAD"):  # CORS preflights (OPTIONS) pass without a token
        status, data = 405, {"error": "method_not_allowed"}
    elif scope["path"] == "/healthz":
        status, data = 200, {"status": "ok"}
    elif scope["path"] == "/api/me":
        status, data = 200, {"sub": scope["user"].identity, "scopes": scope["auth"].scopes, "claims": claims.to_dict()}
    elif scope["path"] == "/api/admin":
        status, data = 200, {"sub": claims.sub, "admin": True}
    else:
        status, data = 404, {"error": "not_found"}
    body = json.dumps(data).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# Every path needs a token except /healthz; /api/admin also needs the "admin" scope.
application = JwtAsgiMiddleware(
    app, validator, exempt=["/healthz"], scopes={"/api/admin": ["admin"]}, prefetch_on_startup=True
)
