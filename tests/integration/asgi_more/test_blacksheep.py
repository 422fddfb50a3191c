"""examples/blacksheep_app.py under granian and uvicorn: get_claims(request), WebSockets."""

from typing import Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from ..asgi.websocket_checks import WebSocketContract, assert_claims_reach_the_app
from ..contract import HttpContract
from ..support import Server, assert_clean_log, granian, serve, server_env, uvicorn

SERVERS = {
    "granian": granian("blacksheep_app:application"),
    "uvicorn": uvicorn("blacksheep_app:application", "--ws", "wsproto"),
}


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request: pytest.FixtureRequest, issuer: LocalIssuer) -> Iterator[Server]:
    with serve(SERVERS[request.param], server_env(issuer)) as running:
        yield running
        assert_clean_log(running)


class TestBlackSheep(HttpContract, WebSocketContract):
    def test_get_claims_reads_the_token(self, server: Server, issuer: LocalIssuer) -> None:
        assert_claims_reach_the_app(server, issuer, "bs-1")


def test_mounted_under_a_root_path(issuer: LocalIssuer) -> None:
    # behind a proxy that strips /svc: uvicorn puts it back in path and root_path, BlackSheep
    # routes below root_path
    with serve(uvicorn("blacksheep_app:application", "--root-path", "/svc"), server_env(issuer)) as running:
        assert running.request("/api/me").status == 401
        response = running.request("/api/me", token=issuer.mint(sub="mounted"))
        assert response.status == 200, response.body
        assert response.json()["sub"] == "mounted"
        assert running.request("/api/admin", token=issuer.mint(scope="openid")).status == 403
        assert_clean_log(running)
