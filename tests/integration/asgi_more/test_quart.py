"""examples/quart_app.py under hypercorn, over HTTP/1.1 and HTTP/2 (h2c, prior knowledge):
g.user from the two-line hook, WebSockets."""

from typing import Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from ..asgi.websocket_checks import WebSocketContract, assert_claims_reach_the_app
from ..contract import HttpContract, assert_refused
from ..support import Server, assert_clean_log, h2_request, hypercorn, serve, server_env, uvicorn


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer) -> Iterator[Server]:
    with serve(hypercorn("quart_app:app"), server_env(issuer)) as running:
        yield running
        assert_clean_log(running)


class TestQuartUnderHypercorn(HttpContract, WebSocketContract):
    def test_g_user_holds_the_claims(self, server: Server, issuer: LocalIssuer) -> None:
        assert_claims_reach_the_app(server, issuer, "quart-1")


class TestQuartOverHttp2:
    def test_valid_token(self, server: Server, issuer: LocalIssuer) -> None:
        response = h2_request(server.port, "/api/me", token=issuer.mint(sub="h2-user"))
        assert response.status == 200, response.body
        assert response.json()["sub"] == "h2-user"

    def test_no_token_is_challenged(self, server: Server) -> None:
        assert_refused(h2_request(server.port, "/api/me"), 401, None)

    def test_expired_token_is_refused(self, server: Server, issuer: LocalIssuer) -> None:
        token = issuer.mint(exp_in=-60)
        assert_refused(h2_request(server.port, "/api/me", token=token), 401, "invalid_token", token)

    def test_missing_scope_is_forbidden(self, server: Server, issuer: LocalIssuer) -> None:
        token = issuer.mint(scope="openid")
        assert_refused(h2_request(server.port, "/api/admin", token=token), 403, "insufficient_scope", token)

    def test_exempt_path_needs_no_token(self, server: Server) -> None:
        assert h2_request(server.port, "/healthz").json() == {"status": "ok"}


def test_mounted_under_a_root_path(issuer: LocalIssuer) -> None:
    # hypercorn --root-path: Quart routes below the prefix; the middleware checks the same paths
    with serve(
        hypercorn("quart_app:app", "--root-path", "/svc"), server_env(issuer), ready_path="/svc/healthz"
    ) as running:
        assert running.request("/svc/api/me").status == 401
        response = running.request("/svc/api/me", token=issuer.mint(sub="mounted"))
        assert response.status == 200, response.body
        assert response.json()["sub"] == "mounted"
        assert running.request("/svc/api/admin", token=issuer.mint(scope="openid")).status == 403
        assert_clean_log(running)


ABSOLUTE_FORM_SERVERS = {
    "quart-uvicorn-h11": uvicorn("quart_app:app", "--http", "h11"),
    "sanic-hypercorn": hypercorn("sanic_app:application"),
}


@pytest.mark.parametrize("name", list(ABSOLUTE_FORM_SERVERS))
def test_absolute_form_target_never_reaches_a_handler(issuer: LocalIssuer, name: str) -> None:
    # h11 leaves "http://host/api/me" in scope["path"], and Quart and Sanic route it to /api/me
    with serve(ABSOLUTE_FORM_SERVERS[name], server_env(issuer)) as running:
        response = running.request(f"http://127.0.0.1:{running.port}/api/me")
        assert response.status in (400, 401, 404), (response.status, response.body)
        assert_clean_log(running)
