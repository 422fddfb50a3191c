"""examples/falcon_asgi_app.py under uvicorn."""

from typing import Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from ..contract import HttpContract
from ..support import Server, assert_clean_log, serve, server_env, uvicorn


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer) -> Iterator[Server]:
    with serve(uvicorn("falcon_asgi_app:application"), server_env(issuer)) as running:
        yield running
        assert_clean_log(running)


class TestFalconAsgiUnderUvicorn(HttpContract):
    pass
