"""examples/starlette_app.py under uvicorn, and the event loop while keys are fetched."""

import threading
import time
from typing import Iterator, List

import pytest

from wristband_mw.testing import LocalIssuer

from ..contract import HttpContract
from ..support import Response, Server, assert_clean_log, serve, server_env, uvicorn


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer) -> Iterator[Server]:
    with serve(uvicorn("starlette_app:app"), server_env(issuer)) as running:
        yield running
        assert_clean_log(running)


class TestStarletteUnderUvicorn(HttpContract):
    def test_requires_refuses_a_missing_scope(self, server: Server, issuer: LocalIssuer) -> None:
        response = server.request("/api/reports", token=issuer.mint(scope="openid"))
        assert response.status == 403  # Starlette's @requires, reading scope["auth"]
        assert response.header("WWW-Authenticate") is None

    def test_requires_lets_a_granted_scope_through(self, server: Server, issuer: LocalIssuer) -> None:
        response = server.request("/api/reports", token=issuer.mint(sub="analyst", scope="openid reports:read"))
        assert response.status == 200
        assert response.json() == {"sub": "analyst", "reports": []}


def test_event_loop_keeps_serving_while_keys_are_fetched() -> None:
    with LocalIssuer() as slow, serve(uvicorn("starlette_app:app"), server_env(slow)) as running:
        slow.stall_seconds = 2.0  # the first token needs the JWKS, which now takes 2 s
        results: List[Response] = []
        worker = threading.Thread(target=lambda: results.append(running.request("/api/me", token=slow.mint())))
        worker.start()
        deadline = time.monotonic() + 10
        while slow.fetch_count == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert slow.fetch_count == 1
        started = time.monotonic()
        assert running.request("/healthz").status == 200
        assert time.monotonic() - started < 1.0, "the event loop waited for the JWKS fetch"
        worker.join(timeout=15)
        assert [r.status for r in results] == [200]
        assert_clean_log(running)


def test_unreachable_jwks_is_a_503_with_retry_after() -> None:
    with LocalIssuer() as down, serve(uvicorn("starlette_app:app"), server_env(down)) as running:
        down.failing = True
        token = down.mint()
        response = running.request("/api/me", token=token)
        assert response.status == 503, response.body
        assert response.header("Retry-After")
        assert response.header("WWW-Authenticate") is None
        assert response.json()["error"] == "temporarily_unavailable"
        assert token.encode() not in response.body
