"""examples/sanic_app.py under uvicorn: request.ctx.user from the two-line hook, WebSockets."""

from typing import Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from ..asgi.websocket_checks import WebSocketContract, assert_claims_reach_the_app
from ..contract import HttpContract
from ..support import Server, assert_clean_log, serve, server_env, uvicorn


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer) -> Iterator[Server]:
    with serve(uvicorn("sanic_app:application", "--ws", "wsproto"), server_env(issuer)) as running:
        yield running
        assert_clean_log(running)


class TestSanicUnderUvicorn(HttpContract, WebSocketContract):
    def test_request_ctx_user_holds_the_claims(self, server: Server, issuer: LocalIssuer) -> None:
        assert_claims_reach_the_app(server, issuer, "sanic-1")


@pytest.mark.parametrize("module", ["sanic_app:application", "falcon_asgi_app:application"])
def test_full_path_routers_under_a_root_path_stay_checked(issuer: LocalIssuer, module: str) -> None:
    # Sanic and Falcon ASGI ignore root_path and route on the full path. uvicorn --root-path /api
    # turns the client's /me into path /api/me (root_path /api): the app serves /api/me for it,
    # so the middleware must check it as /api/me, not only as /me below the root_path.
    with serve(uvicorn(module, "--root-path", "/api"), server_env(issuer), ready_status=401) as running:
        response = running.request("/me")
        assert response.status == 401, (response.status, response.body)
        assert running.request("/admin", token=issuer.mint(scope="openid")).status == 403
        response = running.request("/me", token=issuer.mint(sub="full-path"))
        assert response.status == 200, response.body
        assert response.json()["sub"] == "full-path"
        assert_clean_log(running)
