"""examples/pyramid_app.py under waitress: request.remote_user, and authenticated_userid
through the recipe's security policy."""

from typing import Dict, Iterator, List

import pytest

from wristband_mw.testing import LocalIssuer

from ..contract import HttpContract
from ..support import Server, assert_clean_log, serve, server_env, waitress


def pyramid_env(issuer: LocalIssuer) -> Dict[str, str]:
    # pyramid imports pkg_resources, whose deprecation warning is setuptools' noise, not ours
    return server_env(issuer, {"PYTHONWARNINGS": "ignore:pkg_resources is deprecated:UserWarning"})


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer) -> Iterator[Server]:
    with serve(waitress("pyramid_app:application"), pyramid_env(issuer)) as running:
        yield running
        assert_clean_log(running)


class TestPyramidUnderWaitress(HttpContract):
    def test_authenticated_userid_is_the_subject(self, server: Server, issuer: LocalIssuer) -> None:
        # pyramid_app answers "sub" from request.authenticated_userid, "claims" from request.identity
        response = server.request("/api/me", token=issuer.mint(sub="pyr-1", scope="openid admin"))
        assert response.status == 200, response.body
        data = response.json()
        assert (data["sub"], data["scopes"], data["claims"]["sub"]) == ("pyr-1", ["openid", "admin"], "pyr-1")


def test_mounted_below_a_url_prefix(issuer: LocalIssuer) -> None:
    def command(port: int) -> List[str]:
        return [*waitress("pyramid_app:application")(port)[:-1], "--url-prefix=/svc", "pyramid_app:application"]

    with serve(command, pyramid_env(issuer), ready_path="/svc/healthz") as running:
        assert running.request("/svc/api/me").status == 401
        response = running.request("/svc/api/me", token=issuer.mint(sub="mounted"))
        assert response.status == 200, response.body
        assert response.json()["sub"] == "mounted"
        assert running.request("/svc/api/admin", token=issuer.mint(scope="openid")).status == 403
        assert_clean_log(running)
