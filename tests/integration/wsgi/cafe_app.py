"""A Flask app whose protected prefixes are not ASCII, for the non-ASCII path battery.

``python -m cafe_app PORT`` serves it with the standard library's wsgiref server;
gunicorn serves ``cafe_app:application``.
"""

import os
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

from flask import Flask, request

from wristband_mw import JwtWsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator

app = Flask(__name__)


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@app.get("/café/secret")
def secret() -> dict:
    return {"sub": request.remote_user, "secret": True}


@app.get("/café/admin")
def admin() -> dict:
    return {"sub": request.remote_user, "admin": True}


validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(issuer=os.environ["WRISTBAND_ISSUER"], jwks_url=os.environ["WRISTBAND_JWKS_URL"])
)
application = JwtWsgiMiddleware(app, validator, protect=["/café"], scopes={"/café/admin": ["admin"]})


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request on stderr is noise here


if __name__ == "__main__":
    with make_server("127.0.0.1", int(sys.argv[1]), application, handler_class=QuietHandler) as server:
        server.serve_forever()
