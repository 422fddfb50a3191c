"""Shared-secret tokens and the authorization options under gunicorn (gthread, two workers; authz_app.py)."""

from pathlib import Path
from typing import Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from ..authz_contract import (  # noqa: F401 (fixtures)
    AuthorizationContract,
    assert_log_clean_but_for_the_hook,
    authz_env,
    denylist,
    hs_issuer,
)
from ..support import Server, gunicorn, serve

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def server(hs_issuer: LocalIssuer, denylist: Path) -> Iterator[Server]:  # noqa: F811
    with serve(gunicorn("authz_app:application"), authz_env(hs_issuer, denylist, HERE)) as running:
        yield running
        assert_log_clean_but_for_the_hook(running)


class TestAuthorizationUnderGunicorn(AuthorizationContract):
    worker_processes = 2
