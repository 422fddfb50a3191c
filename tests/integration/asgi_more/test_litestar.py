"""examples/litestar_app.py: in Litestar's middleware list and wrapped from outside, under
uvicorn and granian; request.user/request.auth, WebSockets, and root_path placements."""

from typing import Callable, Iterator, List

import pytest

from wristband_mw.testing import LocalIssuer

from ..asgi.websocket_checks import WebSocketContract, assert_claims_reach_the_app
from ..contract import BYPASS_ATTEMPTS, HttpContract
from ..support import Server, assert_clean_log, granian, hypercorn, serve, server_env, uvicorn

OUTSIDE = {
    "uvicorn": uvicorn("litestar_app:application", "--ws", "wsproto"),
    "granian": granian("litestar_app:application"),
}


class LitestarChecks(HttpContract, WebSocketContract):
    def test_user_and_auth_come_from_the_token(self, server: Server, issuer: LocalIssuer) -> None:
        data = assert_claims_reach_the_app(server, issuer, "ls-1", exp_in=600)
        assert data["exp"] == data["claims"]["exp"] and isinstance(data["exp"], int)


@pytest.fixture(scope="module", params=list(OUTSIDE))
def outside_server(request: pytest.FixtureRequest, issuer: LocalIssuer) -> Iterator[Server]:
    with serve(OUTSIDE[request.param], server_env(issuer)) as running:
        yield running
        assert_clean_log(running)


@pytest.fixture(scope="module")
def in_list_server(issuer: LocalIssuer) -> Iterator[Server]:
    with serve(uvicorn("litestar_app:app", "--ws", "wsproto"), server_env(issuer)) as running:
        yield running
        assert_clean_log(running)


class TestLitestarWrappedFromOutside(LitestarChecks):
    @pytest.fixture
    def server(self, outside_server: Server) -> Server:
        return outside_server


class TestLitestarInItsMiddlewareList(LitestarChecks):
    """Litestar runs its middleware list per route, after routing: what no route takes
    (an unknown path, a method no handler has) gets Litestar's own 404 or 405, and no
    handler runs; everything routed is checked."""

    refused_body_method = "GET"

    @pytest.fixture
    def server(self, in_list_server: Server) -> Server:
        return in_list_server

    def test_head_is_refused_without_a_body(self, server: Server) -> None:
        response = server.request("/api/me", method="HEAD")
        assert (response.status, response.body) == (405, b"")

    @pytest.mark.parametrize("path", BYPASS_ATTEMPTS)
    def test_path_tricks_do_not_bypass_the_check(self, server: Server, path: str) -> None:
        response = server.request(path)
        assert response.status in (401, 404), (path, response.status, response.body)
        assert b'"sub"' not in response.body


# issue 9 section 1: every interpretation of root_path an app could route on is checked.
ROOT_PATH_SERVERS: List[Callable[[int], List[str]]] = [
    uvicorn("litestar_app:app", "--root-path", "/api"),
    uvicorn("litestar_app:application", "--root-path", "/api"),
    uvicorn("starlette_app:app", "--root-path", "/api"),
]


@pytest.mark.parametrize("command", ROOT_PATH_SERVERS, ids=["litestar-in-list", "litestar-outside", "starlette"])
def test_root_path_equal_to_the_protected_prefix(issuer: LocalIssuer, command: Callable[[int], List[str]]) -> None:
    # uvicorn --root-path /api with routes under /api: no interpretation of /api/me is open
    # /healthz is /api/healthz to the client, inside the protected prefix: 401 means ready
    with serve(command, server_env(issuer), ready_path="/healthz", ready_status=401) as running:
        assert running.request("/api/me").status == 401
        assert running.request("/api/admin", token=issuer.mint(scope="openid")).status == 403
        assert_clean_log(running)


MOUNTED = ["litestar_app:app", "litestar_app:application", "starlette_app:app"]
MOUNTING_SERVERS = {
    "hypercorn": lambda module: hypercorn(module, "--root-path", "/mnt"),
    "granian": lambda module: granian(module, "--url-path-prefix", "/mnt"),
}


@pytest.mark.parametrize("module", MOUNTED)
@pytest.mark.parametrize("server_name", list(MOUNTING_SERVERS))
def test_root_path_inside_the_client_path_opens_nothing(issuer: LocalIssuer, server_name: str, module: str) -> None:
    # Litestar strips the prefix wherever it occurs: /x/mnt/api/me must not reach /api/me unchecked
    with serve(MOUNTING_SERVERS[server_name](module), server_env(issuer), ready_path="/mnt/healthz") as running:
        for path in ("/x/mnt/api/me", "/mnt/x/mnt/api/me", "/mnt/api/me", "/api/me"):
            response = running.request(path)
            assert response.status in (401, 404), (path, response.status, response.body)
            assert b'"sub"' not in response.body
        response = running.request("/mnt/api/me", token=issuer.mint(sub="mounted"))
        assert response.status == 200, response.body
        assert response.json()["sub"] == "mounted"
        assert_clean_log(running)
