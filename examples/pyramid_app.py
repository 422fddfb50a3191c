"""Pyramid: ``request.remote_user`` is the token's ``sub``; a small security policy makes
``request.authenticated_userid`` (and ``request.identity``, the claims) work too.

Run it (production: WRISTBAND_DOMAIN=auth.yourapp.io; a local issuer: WRISTBAND_ISSUER
and WRISTBAND_JWKS_URL instead)::

    waitress-serve --listen 127.0.0.1:8000 pyramid_app:application
"""

import os

from pyramid.config import Configurator
from pyramid.security import Allowed, Denied

from wristband_mw import JwtWsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator, get_claims

domain, issuer, jwks_url = map(os.environ.get, ("WRISTBAND_DOMAIN", "WRISTBAND_ISSUER", "WRISTBAND_JWKS_URL"))
if not (domain or (issuer and jwks_url)):
    raise SystemExit("Set WRISTBAND_DOMAIN, or WRISTBAND_ISSUER and WRISTBAND_JWKS_URL, in the environment")
validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(wristband_application_vanity_domain=domain, issuer=issuer, jwks_url=jwks_url)
)


class TokenSecurityPolicy:
    """Pyramid's view of the verified token: the middleware has already checked it."""

    def identity(self, request):
        return get_claims(request)  # the verified JWTPayload, or None

    def authenticated_userid(self, request):
        return request.remote_user  # the token's sub

    def permits(self, request, context, permission):  # permission = a scope the token must carry
        claims = get_claims(request)
        return Allowed("granted") if claims and permission in claims.scopes else Denied("missing scope")

    def remember(self, request, userid, **kw):
        return []

    def forget(self, request, **kw):
        return []


def healthz(request):
    return {"status": "ok"}


def me(request):
    claims = request.identity
    return {"sub": request.authenticated_userid, "scopes": list(claims.scopes), "claims": claims.to_dict()}


def admin(request):
    return {"sub": request.remote_user, "admin": True}


with Configurator() as config:
    config.set_security_policy(TokenSecurityPolicy())
    # request_method: Pyramid matches views on every method otherwise, CORS preflights included
    for name, route, view in [("healthz", "/healthz", healthz), ("me", "/api/me", me), ("admin", "/api/admin", admin)]:
        config.add_route(name, route)
        config.add_view(view, route_name=name, renderer="json", request_method=("GET", "HEAD"))
    app = config.make_wsgi_app()

# Every /api request needs a valid token; /api/admin also needs the "admin" scope.
application = JwtWsgiMiddleware(app, validator, protect=["/api"], scopes={"/api/admin": ["admin"]})
