"""A WSGI app for preforking servers: the validator is built and warmed at import.

Under ``gunicorn --preload`` and uWSGI without ``lazy-apps`` this module is imported
once, in the master, and the workers are forked from it with the keys already
cached. Every answer names the worker that served it (``X-Worker-Pid``).
"""

from __future__ import annotations

import json
import os
import time
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


# A worker answers a bare request in well under a millisecond, so one worker alone can
# keep up with every client and win every accept (uWSGI's workers race for each
# connection). Held this long, a busy worker leaves the next connections to the others.
HOLD_SECONDS = 0.02


def _app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO") != "/healthz":
        time.sleep(HOLD_SECONDS)
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
