"""Integration tests: the examples/ apps under real servers, over real sockets.

They need web frameworks and servers, which are test dependencies only, so they run
in their own tox environments (``tox -e integration-wsgi,integration-asgi``) and
only when asked for by path::

    pytest tests/integration            # everything here
    pytest tests/integration/wsgi       # gunicorn, granian, waitress, wsgiref: Flask, Django, Falcon, Pyramid,
                                        # Bottle, raw WSGI
    pytest tests/integration/asgi       # uvicorn, hypercorn, granian (ASGI): FastAPI, Starlette, Falcon, raw ASGI
    pytest tests/integration/asgi_more  # uvicorn, hypercorn (HTTP/2 too), granian, daphne: Litestar, Quart,
                                        # Django under ASGI, Sanic, BlackSheep

A plain ``pytest`` (``testpaths = tests``) does not collect them: that is the unit
suite of the py3x environments, which install no framework. Nothing here is ever
skipped: when a framework or server is missing, the tests asking for it fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

# Plain asserts in the shared helpers (contract.py, support.py, ...) explain their failures too.
_PACKAGE = __name__.rpartition(".")[0] or "integration"
pytest.register_assert_rewrite(
    *(
        f"{_PACKAGE}.{name}"
        for name in ("contract", "cookie_contract", "authz_contract", "support", "asgi.websocket_checks")
    )
)


def _asked_for(config: pytest.Config) -> bool:
    """True when the command line names this folder or something inside it."""
    for arg in config.args:
        target = Path(config.invocation_params.dir, arg.split("::", 1)[0]).resolve()
        if target == HERE or HERE in target.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_") and not _asked_for(config):
        return True
    return None
