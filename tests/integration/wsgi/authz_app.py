"""A plain WSGI app behind JwtWsgiMiddleware with shared-secret tokens and every authorization option.

Configured like tests/integration/asgi/authz_app.py (``WRISTBAND_ISSUER``,
``WRISTBAND_HMAC_SECRET``, ``WRISTBAND_DENYLIST``); the revocation hook runs inline in
the worker thread, and reads the denylist file on every request, so every worker
process sees a revocation at once.
"""

import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterable

from wristband_mw import JWTPayload, JwtWsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
DENYLIST = Path(os.environ["WRISTBAND_DENYLIST"])


def is_revoked(claims: JWTPayload) -> bool:
    if claims.get("jti") == "boom":
        raise ConnectionError("denylist unreachable")
    return claims.get("jti") in DENYLIST.read_text().split()


def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    claims = environ.get("wristband_mw.claims")
    body = {"path": environ["PATH_INFO"]}
    if claims is not None:
        body.update(sub=claims.sub, scopes=list(claims.scopes), tenant=claims.get("tnt_id"))
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(
        issuer=os.environ["WRISTBAND_ISSUER"],
        hmac_secret=bytes.fromhex(os.environ["WRISTBAND_HMAC_SECRET"]),
        algorithms=["HS256"],
        token_typ=None,
    )
)
application = JwtWsgiMiddleware(
    app,
    validator,
    exempt=["/healthz"],
    scope_claims=["scope", "perms"],
    admin_scope="admin",
    scopes={"/api/orders": ["orders:read"], "/api/tenant": ["tenant:read"]},
    claims={"/api/tenant": {"tnt_id": ["t-1", "t-2"]}},
    is_revoked=is_revoked,
)
