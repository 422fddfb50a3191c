"""examples/bottle_app.py under gunicorn (gthread) and waitress."""

from typing import Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from ..contract import HttpContract
from ..support import Server, assert_clean_log, gunicorn, serve, server_env, waitress

SERVERS = {"gunicorn": gunicorn("bottle_app:application"), "waitress": waitress("bottle_app:application")}


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request: pytest.FixtureRequest, issuer: LocalIssuer) -> Iterator[Server]:
    with serve(SERVERS[request.param], server_env(issuer)) as running:
        yield running
        assert_clean_log(running)


class TestBottle(HttpContract):
    def test_remote_user_is_the_subject(self, server: Server, issuer: LocalIssuer) -> None:
        response = server.request("/api/me", token=issuer.mint(sub="bottle-1"))
        assert response.status == 200, response.body
        assert response.json()["sub"] == "bottle-1"
