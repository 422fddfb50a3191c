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


def test_mounted_below_a_script_name(issuer: LocalIssuer) -> None:
    # gunicorn takes SCRIPT_NAME from its environment: Bottle routes on what follows it
    env = server_env(issuer, {"SCRIPT_NAME": "/svc"})
    with serve(gunicorn("bottle_app:application"), env, ready_path="/svc/healthz") as running:
        assert running.request("/svc/api/me").status == 401
        response = running.request("/svc/api/me", token=issuer.mint(sub="mounted"))
        assert response.status == 200, response.body
        assert response.json()["sub"] == "mounted"
        assert running.request("/svc/api/admin", token=issuer.mint(scope="openid")).status == 403
        assert_clean_log(running)
