"""Bottle: wrap the app; routes read the token's ``sub`` from ``request.environ["REMOTE_USER"]``
and the claims with ``get_claims(request)``.

Run it (production: WRISTBAND_DOMAIN=auth.yourapp.io; a local issuer: WRISTBAND_ISSUER
and WRISTBAND_JWKS_URL instead)::

    gunicorn --worker-class gthread --threads 8 bottle_app:application
"""

import os

from bottle import Bottle, request

from wristband_mw import JwtWsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator, get_claims

domain, issuer, jwks_url = map(os.environ.get, ("WRISTBAND_DOMAIN", "WRISTBAND_ISSUER", "WRISTBAND_JWKS_URL"))
if not (domain or (issuer and jwks_url)):
    raise SystemExit("Set WRISTBAND_DOMAIN, or WRISTBAND_ISSUER and WRISTBAND_JWKS_URL, in the environment")
validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(wristband_application_vanity_domain=domain, issuer=issuer, jwks_url=jwks_url)
)

app = Bottle()


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.get("/api/me")
def me():
    claims = get_claims(request)  # the verified JWTPayload
    return {"sub": request.environ["REMOTE_USER"], "scopes": list(claims.scopes), "claims": claims.to_dict()}


@app.get("/api/admin")
def admin():
    return {"sub": request.environ["REMOTE_USER"], "admin": True}


# Every /api request needs a valid token; /api/admin also needs the "admin" scope.
application = JwtWsgiMiddleware(app, validator, protect=["/api"], scopes={"/api/admin": ["admin"]})
