"""Falcon (WSGI): wrap the app; ``req.context.user`` holds the claims.

Run it (production: WRISTBAND_DOMAIN=auth.yourapp.io; a local issuer: WRISTBAND_ISSUER
and WRISTBAND_JWKS_URL instead)::

    gunicorn falcon_wsgi_app:application
"""

import os

import falcon

from wristband_mw import JwtWsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator, get_claims

domain, issuer, jwks_url = map(os.environ.get, ("WRISTBAND_DOMAIN", "WRISTBAND_ISSUER", "WRISTBAND_JWKS_URL"))
if not (domain or (issuer and jwks_url)):
    raise SystemExit("Set WRISTBAND_DOMAIN, or WRISTBAND_ISSUER and WRISTBAND_JWKS_URL, in the environment")
validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(wristband_application_vanity_domain=domain, issuer=issuer, jwks_url=jwks_url)
)


class LoadUser:
    """Falcon middleware: ``req.context.user`` is the verified JWTPayload (None on /healthz)."""

    def process_request(self, req, resp):
        req.context.user = get_claims(req)


class Health:
    def on_get(self, req, resp):
        resp.media = {"status": "ok"}


class Me:
    def on_get(self, req, resp):
        claims = req.context.user
        resp.media = {"sub": claims.sub, "scopes": list(claims.scopes), "claims": claims.to_dict()}


class Admin:
    def on_get(self, req, resp):
        resp.media = {"sub": req.context.user.sub, "admin": True}


app = falcon.App(middleware=[LoadUser()])
app.add_route("/healthz", Health())
app.add_route("/api/me", Me())
app.add_route("/api/admin", Admin())

# Every /api request needs a valid token; /api/admin also needs the "admin" scope.
application = JwtWsgiMiddleware(app, validator, protect=["/api"], scopes={"/api/admin": ["admin"]})
