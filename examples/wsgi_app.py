"""Any WSGI callable, no framework: the claims arrive in the environ.

Run it (production: WRISTBAND_DOMAIN=auth.yourapp.io; a local issuer: WRISTBAND_ISSUER
and WRISTBAND_JWKS_URL instead) under any WSGI server::

    gunicorn wsgi_app:application
"""

import json
import os

from wristband_mw import JwtWsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator, get_claims

domain, issuer, jwks_url = map(os.environ.get, ("WRISTBAND_DOMAIN", "WRISTBAND_ISSUER", "WRISTBAND_JWKS_URL"))
if not (domain or (issuer and jwks_url)):
    raise SystemExit("Set WRISTBAND_DOMAIN, or WRISTBAND_ISSUER and WRISTBAND_JWKS_URL, in the environment")
validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(wristband_application_vanity_domain=domain, issuer=issuer, jwks_url=jwks_url)
)


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    claims = get_claims(environ)  # environ["wristband_mw.claims"], the verified JWTPayload (None on /healthz)
    if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):  # CORS preflights (OPTIONS) pass without a token
        status, data = "405 Method Not Allowed", {"error": "method_not_allowed"}
    elif path == "/healthz":
        status, data = "200 OK", {"status": "ok"}
    elif path == "/api/me":
        data = {"sub": environ["REMOTE_USER"], "scopes": list(claims.scopes), "claims": claims.to_dict()}
        status = "200 OK"
    elif path == "/api/admin":
        status, data = "200 OK", {"sub": environ["REMOTE_USER"], "admin": True}
    else:
        status, data = "404 Not Found", {"error": "not_found"}
    body = json.dumps(data).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


# Every path needs a token except /healthz; /api/admin also needs the "admin" scope.
application = JwtWsgiMiddleware(app, validator, exempt=["/healthz"], scopes={"/api/admin": ["admin"]})
