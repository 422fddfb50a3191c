"""examples/sanic_app.py under uvicorn: request.ctx.user from the two-line hook, WebSockets."""

from typing import Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from ..contract import HttpContract
from ..support import Server, assert_clean_log, serve, server_env, uvicorn
from .websocket_checks import assert_ws_accepts_header_token, assert_ws_refuses


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer) -> Iterator[Server]:
    with serve(uvicorn("sanic_app:application", "--ws", "wsproto"), server_env(issuer)) as running:
        yield running
        assert_clean_log(running)


class TestSanicUnderUvicorn(HttpContract):
    def test_request_ctx_user_holds_the_claims(self, server: Server, issuer: LocalIssuer) -> None:
        response = server.request("/api/me", token=issuer.mint(sub="sanic-1", scope="openid admin"))
        assert response.status == 200, response.body
        data = response.json()
        assert (data["sub"], data["scopes"], data["claims"]["sub"]) == ("sanic-1", ["openid", "admin"], "sanic-1")

    def test_websocket_with_a_token_is_accepted(self, server: Server, issuer: LocalIssuer) -> None:
        assert_ws_accepts_header_token(server, issuer)

    def test_websocket_without_a_token_is_refused(self, server: Server) -> None:
        assert_ws_refuses(server, None, 401, None)

    def test_websocket_with_an_expired_token_is_refused(self, server: Server, issuer: LocalIssuer) -> None:
        assert_ws_refuses(server, issuer.mint(exp_in=-60), 401, "invalid_token")


def test_a_root_path_never_opens_the_full_path(issuer: LocalIssuer) -> None:
    # Sanic routes on the full path and ignores root_path: whatever the prefix, /api stays checked
    with serve(uvicorn("sanic_app:application", "--root-path", "/svc"), server_env(issuer)) as running:
        for path in ("/api/me", "/svc/api/me"):
            response = running.request(path)
            assert response.status in (401, 404), (path, response.status)
        assert running.request("/api/me", token=issuer.mint(sub="full")).json()["sub"] == "full"
        assert_clean_log(running)
