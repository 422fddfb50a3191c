"""Flask: every /api request needs a valid access token; /api/admin also needs "admin".

Run it (production: WRISTBAND_DOMAIN=auth.yourapp.io; a local issuer: WRISTBAND_ISSUER
and WRISTBAND_JWKS_URL instead)::

    gunicorn --worker-class gthread --threads 8 flask_app:app
"""

import os

from flask import Flask, request

from wristband_mw import JwtWsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator, get_claims

domain, issuer, jwks_url = map(os.environ.get, ("WRISTBAND_DOMAIN", "WRISTBAND_ISSUER", "WRISTBAND_JWKS_URL"))
if not (domain or (issuer and jwks_url)):
    raise SystemExit("Set WRISTBAND_DOMAIN, or WRISTBAND_ISSUER and WRISTBAND_JWKS_URL, in the environment")
validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(wristband_application_vanity_domain=domain, issuer=issuer, jwks_url=jwks_url)
)

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.get("/api/me")
def me():
    claims = get_claims(request)  # the verified JWTPayload
    return {"sub": request.remote_user, "scopes": list(claims.scopes), "claims": claims.to_dict()}


@app.get("/api/admin")
def admin():
    return {"sub": request.remote_user, "admin": True}


# Every /api request needs a valid token; /api/admin also needs the "admin" scope.
app.wsgi_app = JwtWsgiMiddleware(app.wsgi_app, validator, protect=["/api"], scopes={"/api/admin": ["admin"]})
