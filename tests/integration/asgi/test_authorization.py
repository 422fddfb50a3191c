"""Shared-secret tokens and the authorization options under uvicorn (Starlette, authz_app.py)."""

import threading
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from wristband_mw.testing import LocalIssuer

from ..authz_contract import (  # noqa: F401 (fixtures)
    AuthorizationContract,
    assert_log_clean_but_for_the_hook,
    authz_env,
    denylist,
    hs_issuer,
    mint,
)
from ..support import Response, Server, serve, uvicorn

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def server(hs_issuer: LocalIssuer, denylist: Path) -> Iterator[Server]:  # noqa: F811
    with serve(uvicorn("authz_app:app"), authz_env(hs_issuer, denylist, HERE)) as running:
        yield running
        assert_log_clean_but_for_the_hook(running)


class TestAuthorizationUnderUvicorn(AuthorizationContract):
    def test_a_slow_sync_hook_never_blocks_the_event_loop(self, server: Server, hs_issuer: LocalIssuer) -> None:  # noqa: F811
        results: List[Response] = []
        token = mint(hs_issuer, perms=["tenant:read"], tnt_id="t-1", jti="slow")  # the hook sleeps 3 s
        worker = threading.Thread(target=lambda: results.append(server.request("/api/tenant/a", token=token)))
        worker.start()
        time.sleep(0.3)  # the slow request is in the hook by now
        started = time.monotonic()
        fast = server.request("/api/tenant/a", token=mint(hs_issuer, perms=["tenant:read"], tnt_id="t-1"))
        elapsed = time.monotonic() - started
        worker.join(timeout=15)
        assert fast.status == 200
        assert elapsed < 1.5, f"a request waited {elapsed:.2f} s for another request's revocation check"
        assert [r.status for r in results] == [200]
