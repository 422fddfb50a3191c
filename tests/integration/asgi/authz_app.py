"""A Starlette app behind JwtAsgiMiddleware with shared-secret tokens and every authorization option.

Configured from the environment by tests/integration/asgi/test_authorization.py:
``WRISTBAND_ISSUER``, ``WRISTBAND_HMAC_SECRET`` (hex) and ``WRISTBAND_DENYLIST`` (a
file of revoked ``jti`` values, one per line, read on every request as a shared store
would be). The revocation hook is sync on purpose: the middleware runs it in a worker
thread, so its blocking I/O (and the ``slow`` jti's sleep) never stalls the event loop.
"""

import logging
import os
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from wristband_mw import JwtAsgiMiddleware, JWTPayload, WristbandJwtValidatorConfig, create_wristband_jwt_validator

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
DENYLIST = Path(os.environ["WRISTBAND_DENYLIST"])


def is_revoked(claims: JWTPayload) -> bool:
    jti = claims.get("jti")
    if jti == "boom":
        raise ConnectionError("denylist unreachable")
    if jti == "slow":
        time.sleep(3.0)
    return jti in DENYLIST.read_text().split()


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@requires("orders:read")
async def orders(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity, "scopes": list(request.auth.scopes)})


async def tenant(request: Request) -> JSONResponse:
    return JSONResponse({"tenant": request.scope["wristband_mw.claims"]["tnt_id"]})


validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(
        issuer=os.environ["WRISTBAND_ISSUER"],
        hmac_secret=bytes.fromhex(os.environ["WRISTBAND_HMAC_SECRET"]),
        algorithms=["HS256"],
        token_typ=None,  # apojwt-style tokens carry typ JWT
    )
)
routes = [Route("/healthz", healthz), Route("/api/orders", orders), Route("/api/tenant/{name}", tenant)]
app = JwtAsgiMiddleware(
    Starlette(routes=routes),
    validator,
    exempt=["/healthz"],
    scope_claims=["scope", "perms"],
    admin_scope="admin",
    scopes={"/api/tenant": ["tenant:read"]},
    claims={"/api/tenant": {"tnt_id": ["t-1", "t-2"]}},
    is_revoked=is_revoked,
)
