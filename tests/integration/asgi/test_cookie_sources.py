"""Cookie token sources and their CSRF check under uvicorn, over real sockets, WebSockets too (issue 13)."""

import http.client
import json
from typing import Any, Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from ..cookie_contract import APP, EVIL, CookieContract, assert_csrf_refused
from ..support import REPO, UVICORN_SANSIO_REFUSAL_NOISE, Response, Server, assert_clean_log, serve, server_env, uvicorn


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer) -> Iterator[Server]:
    command = uvicorn("cookie_app:asgi_application")
    with serve(command, server_env(issuer), cwd=REPO / "tests" / "integration") as running:
        yield running
        assert_clean_log(running, allow=UVICORN_SANSIO_REFUSAL_NOISE)


class TestCookieSourcesUvicorn(CookieContract):
    def test_websocket_cookie_needs_a_trusted_origin(self, server: Server, issuer: LocalIssuer) -> None:
        # a browser sends cookies on a cross-site WebSocket handshake: cross-site WebSocket hijacking
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        token = issuer.mint(sub="alice")
        headers = [("Cookie", f"__Host-at={token}")]
        url = server.ws_url("/ws")
        with connect(url, origin=APP, additional_headers=headers, open_timeout=10, close_timeout=5, proxy=None) as ws:
            assert json.loads(ws.recv(timeout=10)) == {"user": "alice"}
        with pytest.raises(InvalidStatus) as refused:
            connect(url, origin=EVIL, additional_headers=headers, open_timeout=10, close_timeout=5, proxy=None)
        response = refused.value.response
        assert_csrf_refused(Response(response.status_code, _headers(response.headers), response.body or b""))


def _headers(headers: Any) -> http.client.HTTPMessage:
    message = http.client.HTTPMessage()
    for name, value in headers.raw_items():
        message[name] = value
    return message
