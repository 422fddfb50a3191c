"""examples/flask_app.py under gunicorn's gthread worker."""

from typing import Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from ..contract import HttpContract
from ..support import Server, assert_clean_log, gunicorn, serve, server_env


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer) -> Iterator[Server]:
    with serve(gunicorn("flask_app:app", worker="gthread"), server_env(issuer)) as running:
        yield running
        assert_clean_log(running)


class TestFlaskUnderGunicorn(HttpContract):
    def test_remote_user_is_the_subject(self, server: Server, issuer: LocalIssuer) -> None:
        # flask_app answers "sub" from request.remote_user, i.e. environ["REMOTE_USER"]
        response = server.request("/api/me", token=issuer.mint(sub="remote-user-7"))
        assert response.status == 200
        assert response.json()["sub"] == "remote-user-7"

    def test_cors_preflight_reaches_flask(self, server: Server) -> None:
        headers = [("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET")]
        response = server.request("/api/me", method="OPTIONS", headers=headers)
        assert response.status == 200  # Flask's automatic OPTIONS answer, not a 401
        assert "GET" in (response.header("Allow") or "")

    def test_plain_options_is_still_checked(self, server: Server) -> None:
        assert server.request("/api/me", method="OPTIONS").status == 401


def test_mounted_below_a_script_name(issuer: LocalIssuer) -> None:
    # gunicorn takes SCRIPT_NAME from its environment: the app routes on what follows it
    env = server_env(issuer, {"SCRIPT_NAME": "/svc"})
    with serve(gunicorn("flask_app:app"), env, ready_path="/svc/healthz") as running:
        assert running.request("/svc/healthz").status == 200
        assert running.request("/svc/api/me").status == 401
        assert running.request("/svc//api/me").status == 401
        response = running.request("/svc/api/me", token=issuer.mint(sub="mounted"))
        assert response.status == 200
        assert response.json()["sub"] == "mounted"
        assert running.request("/svc/api/admin", token=issuer.mint(scope="openid")).status == 403
        assert_clean_log(running)
