"""A WSGI app for preforking servers: the validator is built and warmed at import.

Under ``gunicorn --preload`` and uWSGI without ``lazy-apps`` this module is imported
once, in the master, and the workers are forked from it with the keys already
cached. Every answer names the worker that served it (``X-Worker-Pid``).
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, Iterable, List, Tuple

from wristband_mw import JwtWsgiMiddleware, WristbandJwtValidatorConfig, create_wristband_jwt_validator

validator = create_wristband_jwt_validator(
    WristbandJwtValidatorConfig(
        issuer=os.environ["WRISTBAND_ISSUER"],
        jwks_url=os.environ["WRISTBAND_JWKS_URL"],
        jwks_fetch_timeout=5.0,
    )
)
validator.prefetch()  # fail fast at start-up; every worker inherits the warm key cache
MASTER_PID = os.getpid()


def _app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    stats = validator.stats()
    body = json.dumps(
        {
            "user": environ.get("REMOTE_USER"),
            "fetches": stats["jwks_fetches_ok"] + stats["jwks_fetches_failed"],
            "master": MASTER_PID,
        }
    ).encode()
    headers: List[Tuple[str, str]] = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("X-Worker-Pid", str(os.getpid())),
    ]
    start_response("200 OK", headers)
    return [body]


application = JwtWsgiMiddleware(_app, validator, exempt=["/healthz"])
