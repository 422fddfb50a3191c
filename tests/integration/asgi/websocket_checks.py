"""WebSocket checks shared by the ASGI modules: a real client against ``/ws/echo``."""

from __future__ import annotations

import json
from typing import Any, Dict

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


class WebSocketContract:
    """The WebSocket cases every ASGI framework test runs against its ``/ws/echo`` route
    (a ``server`` fixture in the module), next to :class:`~tests.integration.contract.HttpContract`."""

    def test_websocket_with_a_token_is_accepted(self, server: Server, issuer: LocalIssuer) -> None:
        assert_ws_accepts_header_token(server, issuer)

    def test_websocket_without_a_token_is_refused(self, server: Server) -> None:
        assert_ws_refuses(server, None, 401, None)

    def test_websocket_with_an_expired_token_is_refused(self, server: Server, issuer: LocalIssuer) -> None:
        assert_ws_refuses(server, issuer.mint(exp_in=-60), 401, "invalid_token")


def assert_claims_reach_the_app(server: Server, issuer: LocalIssuer, sub: str, **claims: Any) -> Dict[str, Any]:
    """A token for ``sub`` reaches the framework's own way of reading the user; its JSON answer."""
    response = server.request("/api/me", token=issuer.mint(sub=sub, scope="openid admin", **claims))
    assert response.status == 200, response.body
    data: Dict[str, Any] = response.json()
    assert (data["sub"], data["scopes"], data["claims"]["sub"]) == (sub, ["openid", "admin"], sub)
    return data
