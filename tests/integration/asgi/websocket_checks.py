"""WebSocket checks shared by the ASGI modules: a real client against ``/ws/echo``."""

from __future__ import annotations

import json

from wristband_mw.testing import LocalIssuer

from ..contract import assert_refused
from ..support import Server, ws_connect, ws_refusal


def assert_ws_accepts_header_token(server: Server, issuer: LocalIssuer) -> None:
    with ws_connect(server.ws_url("/ws/echo"), issuer.mint(sub="ws-user")) as connection:
        assert json.loads(connection.recv(timeout=10)) == {"sub": "ws-user"}
        connection.send("ping")
        assert connection.recv(timeout=10) == "ping"


def assert_ws_refuses(server: Server, token: str | None, status: int, error: str | None) -> int:
    """The handshake is refused: a real ``status`` response when the server offers the
    ``websocket.http.response`` extension, else the server's 403 for a close before accept.
    Returns the status seen."""
    response = ws_refusal(server.ws_url("/ws/echo"), token)
    if response.status == status:
        assert_refused(response, status, error, token)
    else:
        assert response.status == 403, (response.status, response.body)
        assert b"Bearer" not in response.body and (token is None or token.encode() not in response.body)
    return response.status
