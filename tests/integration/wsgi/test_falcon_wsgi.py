"""examples/falcon_wsgi_app.py under gunicorn's sync worker."""

from typing import Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from ..contract import HttpContract
from ..support import Server, assert_clean_log, gunicorn, serve, server_env


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer) -> Iterator[Server]:
    with serve(gunicorn("falcon_wsgi_app:application", worker="sync"), server_env(issuer)) as running:
        yield running
        assert_clean_log(running)


class TestFalconWsgiUnderGunicorn(HttpContract):
    pass
