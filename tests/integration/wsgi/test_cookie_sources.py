"""Cookie token sources and their CSRF check under gunicorn, over real sockets (issue 13)."""

from typing import Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from ..cookie_contract import CookieContract
from ..support import REPO, Server, assert_clean_log, gunicorn, serve, server_env


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer) -> Iterator[Server]:
    with serve(
        gunicorn("cookie_app:wsgi_application", worker="sync"), server_env(issuer), cwd=REPO / "tests" / "integration"
    ) as running:
        yield running
        assert_clean_log(running)


class TestCookieSourcesGunicorn(CookieContract):
    pass
