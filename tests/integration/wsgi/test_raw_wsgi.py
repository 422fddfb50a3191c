"""examples/wsgi_app.py (no framework) under gunicorn and granian's WSGI interface."""

from typing import Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from ..contract import HttpContract
from ..support import Server, assert_clean_log, granian, gunicorn, serve, server_env

SERVERS = {
    "gunicorn-sync": gunicorn("wsgi_app:application", worker="sync"),
    "granian-wsgi": granian("wsgi_app:application", interface="wsgi"),
}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request: pytest.FixtureRequest, issuer: LocalIssuer) -> Iterator[Server]:
    with serve(SERVERS[request.param], server_env(issuer)) as running:
        yield running
        assert_clean_log(running)


class TestRawWsgi(HttpContract):
    def test_unknown_paths_are_protected_too(self, server: Server, issuer: LocalIssuer) -> None:
        # wsgi_app protects everything but /healthz
        assert server.request("/nowhere").status == 401
        assert server.request("/nowhere", token=issuer.mint()).status == 404


def test_unreachable_jwks_is_a_503_with_retry_after() -> None:
    with LocalIssuer() as down:
        down.failing = True
        with serve(SERVERS["gunicorn-sync"], server_env(down)) as running:
            token = down.mint()
            response = running.request("/api/me", token=token)
            assert response.status == 503, response.body
            assert response.header("Retry-After")
            assert response.header("WWW-Authenticate") is None
            assert response.json()["error"] == "temporarily_unavailable"
            assert token.encode() not in response.body
