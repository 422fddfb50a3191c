"""examples/asgi_app.py (no framework) under uvicorn, hypercorn and granian: HTTP,
WebSockets and lifespan (prefetch_on_startup)."""

import os
import time
from pathlib import Path
from typing import Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from ..contract import HttpContract
from ..support import (
    UVICORN_SANSIO_REFUSAL_NOISE,
    Server,
    assert_clean_log,
    granian,
    hypercorn,
    serve,
    server_env,
    uvicorn,
    ws_refusal,
)
from .websocket_checks import assert_ws_accepts_header_token, assert_ws_refuses

HERE = Path(__file__).resolve().parent
SERVERS = {
    "uvicorn": uvicorn("asgi_app:application"),  # httptools when installed, as in production
    "uvicorn-h11": uvicorn("asgi_app:application", "--http", "h11"),
    "hypercorn": hypercorn("asgi_app:application"),
    "granian": granian("asgi_app:application"),
}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request: pytest.FixtureRequest, issuer: LocalIssuer) -> Iterator[Server]:
    with serve(SERVERS[request.param], server_env(issuer)) as running:
        yield running
        assert_clean_log(running, allow=UVICORN_SANSIO_REFUSAL_NOISE if request.param.startswith("uvicorn") else ())


class TestRawAsgi(HttpContract):
    def test_unknown_paths_are_protected_too(self, server: Server, issuer: LocalIssuer) -> None:
        # asgi_app protects everything but /healthz
        assert server.request("/nowhere").status == 401
        assert server.request("/nowhere", token=issuer.mint()).status == 404

    def test_websocket_with_token_is_accepted(self, server: Server, issuer: LocalIssuer) -> None:
        assert_ws_accepts_header_token(server, issuer)

    def test_websocket_without_token_is_refused(self, server: Server) -> None:
        assert_ws_refuses(server, None, 401, None)

    def test_websocket_with_expired_token_is_refused(self, server: Server, issuer: LocalIssuer) -> None:
        assert_ws_refuses(server, issuer.mint(exp_in=-60), 401, "invalid_token")


SERVER_KINDS = {"granian": granian, "hypercorn": hypercorn, "uvicorn": uvicorn}


@pytest.mark.parametrize("name", sorted(SERVER_KINDS))
def test_keys_are_prefetched_at_startup(name: str) -> None:
    with LocalIssuer() as fresh, serve(SERVERS[name], server_env(fresh)) as running:
        deadline = time.monotonic() + 10
        while fresh.fetch_count == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fresh.fetch_count >= 1, "lifespan.startup did not prefetch the keys"
        fetched = fresh.fetch_count
        assert running.request("/api/me", token=fresh.mint()).status == 200
        assert fresh.fetch_count == fetched  # the first request found the keys cached
        assert_clean_log(running)


@pytest.mark.parametrize("name", sorted(SERVER_KINDS))
def test_websocket_refusal_without_the_response_extension_is_a_close(name: str, issuer: LocalIssuer) -> None:
    # the middleware closes (1008) before accepting; the server turns that into HTTP 403
    env = server_env(issuer, {"PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))})
    command = SERVER_KINDS[name]("no_ws_response_app:app")
    with serve(command, env) as running:
        response = ws_refusal(running.ws_url("/ws/echo"))
        assert response.status == 403, (response.status, response.body)
        assert b"Bearer" not in response.body
        assert_ws_accepts_header_token(running, issuer)
        assert_clean_log(running)
