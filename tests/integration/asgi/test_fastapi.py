"""examples/fastapi_app.py under uvicorn: request.user/request.auth, @requires, WebSockets."""

import json
from typing import Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from ..contract import HttpContract
from ..support import UVICORN_SANSIO_REFUSAL_NOISE, Server, assert_clean_log, serve, server_env, uvicorn, ws_connect
from .websocket_checks import assert_ws_accepts_header_token, assert_ws_refuses

# What uvicorn picks by itself (websockets-sansio since uvicorn 0.50, the legacy websockets
# one before), and its other implementation. Each offers the websocket.http.response
# extension, so refusals are real 401 responses.
WS_IMPLEMENTATIONS = ["auto", "wsproto"]


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer) -> Iterator[Server]:
    with serve(uvicorn("fastapi_app:app"), server_env(issuer)) as running:
        yield running
        assert_clean_log(running)


@pytest.fixture(scope="module", params=WS_IMPLEMENTATIONS)
def ws_server(request: pytest.FixtureRequest, issuer: LocalIssuer) -> Iterator[Server]:
    # --log-level warning as the recipe says: at info, uvicorn logs ?access_token=...
    command = uvicorn("fastapi_app:app", "--ws", request.param, "--log-level", "warning")
    with serve(command, server_env(issuer)) as running:
        yield running
        # the recipe's --ws wsproto logs nothing for a refusal; only the default sansio one does
        assert_clean_log(running, allow=UVICORN_SANSIO_REFUSAL_NOISE if request.param == "auto" else ())


class TestFastApiUnderUvicorn(HttpContract):
    def test_user_and_auth_come_from_the_token(self, server: Server, issuer: LocalIssuer) -> None:
        # fastapi_app answers from request.user.identity, request.auth.scopes and request.auth.claims
        response = server.request("/api/me", token=issuer.mint(sub="fa-1", scope="openid admin"))
        assert response.status == 200
        data = response.json()
        assert (data["sub"], data["scopes"], data["claims"]["sub"]) == ("fa-1", ["openid", "admin"], "fa-1")

    def test_requires_lets_a_granted_scope_through(self, server: Server, issuer: LocalIssuer) -> None:
        token = issuer.mint(sub="writer", scope="openid orders:write")
        response = server.request("/api/orders", method="POST", token=token, body=b"{}")
        assert response.status == 200, response.body
        assert response.json() == {"sub": "writer", "created": True}

    def test_requires_refuses_a_missing_scope(self, server: Server, issuer: LocalIssuer) -> None:
        # Starlette's own 403 (the middleware does not guard /api/orders by scope)
        token = issuer.mint(sub="reader", scope="openid orders:read")
        response = server.request("/api/orders", method="POST", token=token, body=b"{}")
        assert response.status == 403
        assert response.header("WWW-Authenticate") is None

    def test_requires_on_admin_sees_the_admin_scope(self, server: Server, issuer: LocalIssuer) -> None:
        # both the middleware's scopes= and @requires("admin") guard /api/admin: both pass
        response = server.request("/api/admin", token=issuer.mint(sub="boss", scope="admin"))
        assert response.status == 200
        assert response.json() == {"sub": "boss", "admin": True}


class TestFastApiWebSocket:
    def test_token_in_header_is_accepted(self, ws_server: Server, issuer: LocalIssuer) -> None:
        assert_ws_accepts_header_token(ws_server, issuer)

    def test_token_in_query_parameter_is_accepted(self, ws_server: Server, issuer: LocalIssuer) -> None:
        url = ws_server.ws_url("/ws/echo?access_token=" + issuer.mint(sub="browser-user"))
        with ws_connect(url) as connection:
            assert json.loads(connection.recv(timeout=10)) == {"sub": "browser-user"}

    def test_no_token_is_refused_with_401(self, ws_server: Server) -> None:
        assert assert_ws_refuses(ws_server, None, 401, None) == 401

    def test_expired_token_is_refused_with_401(self, ws_server: Server, issuer: LocalIssuer) -> None:
        assert assert_ws_refuses(ws_server, issuer.mint(exp_in=-60), 401, "invalid_token") == 401


def test_behind_a_proxy_with_a_root_path(issuer: LocalIssuer) -> None:
    # uvicorn --root-path: scope["path"] includes the prefix; the app routes on what follows it
    with serve(uvicorn("fastapi_app:app", "--root-path", "/svc"), server_env(issuer)) as running:
        assert running.request("/healthz").status == 200
        assert running.request("/api/me").status == 401
        assert running.request("//api/me").status == 401
        response = running.request("/api/me", token=issuer.mint(sub="proxied"))
        assert response.status == 200
        assert response.json()["sub"] == "proxied"
        assert running.request("/api/admin", token=issuer.mint(scope="openid")).status == 403
        assert_clean_log(running)
