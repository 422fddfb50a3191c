"""Django under ASGI: ``request.user`` is the token's ``sub``, and only the token sets it.

Under ASGI Django (5.2 and later) has no ``REMOTE_USER``: its ``RemoteUserMiddleware``
reads the ``Remote-User`` header instead (``request.META["HTTP_REMOTE_USER"]``; before
5.2, subclass it with ``header = "HTTP_REMOTE_USER"``). ``JwtAsgiMiddleware`` drops every
client-sent ``Remote-User`` header and, for a verified token, adds one carrying its
``sub``. Run it (production: WRISTBAND_DOMAIN=auth.yourapp.io; a local issuer:
WRISTBAND_ISSUER and WRISTBAND_JWKS_URL instead)::

    export DJANGO_SECRET_KEY=... DJANGO_DB=/var/lib/myapp/db.sqlite3
    python django_asgi_app.py migrate
    uvicorn django_asgi_app:application    # or: daphne django_asgi_app:application
"""

import os
import sys

import django
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.http import require_safe

from wristband_mw import JwtAsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator, get_claims

settings.configure(
    SECRET_KEY=os.environ["DJANGO_SECRET_KEY"],
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("DJANGO_DB", "db.sqlite3")}},
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.auth.middleware.RemoteUserMiddleware",
    ],
    AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.RemoteUserBackend"],
    SESSION_ENGINE="django.contrib.sessions.backends.cache",
)
django.setup()


@require_safe  # GET and HEAD only: a CORS preflight passes without a token, and gets a 405
def healthz(request):
    return JsonResponse({"status": "ok"})


@require_safe
def whoami(request):  # not under /api: no token needed, and anonymous without one
    return JsonResponse({"user": request.user.get_username(), "authenticated": request.user.is_authenticated})


@require_safe
def me(request):
    claims = get_claims(request)  # the verified JWTPayload
    return JsonResponse({"sub": request.user.get_username(), "scopes": list(claims.scopes), "claims": claims.to_dict()})


@require_safe
def admin(request):
    return JsonResponse({"sub": request.user.get_username(), "admin": True})


urlpatterns = [path("healthz", healthz), path("whoami", whoami), path("api/me", me), path("api/admin", admin)]

domain, issuer, jwks_url = map(os.environ.get, ("WRISTBAND_DOMAIN", "WRISTBAND_ISSUER", "WRISTBAND_JWKS_URL"))
if not (domain or (issuer and jwks_url)):
    raise SystemExit("Set WRISTBAND_DOMAIN, or WRISTBAND_ISSUER and WRISTBAND_JWKS_URL, in the environment")
validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(wristband_application_vanity_domain=domain, issuer=issuer, jwks_url=jwks_url)
)

# Every /api request needs a valid token; /api/admin also needs the "admin" scope.
application = JwtAsgiMiddleware(get_asgi_application(), validator, protect=["/api"], scopes={"/api/admin": ["admin"]})

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
