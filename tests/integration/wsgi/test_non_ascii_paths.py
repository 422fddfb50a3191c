"""Issue 9 section 1: a protected prefix holding non-ASCII characters matches the path the
app routes on. PEP 3333 servers hand PATH_INFO over as UTF-8 bytes decoded as latin-1
(``/café`` arrives as ``/cafÃ©``) and Flask decodes it back before routing."""

from pathlib import Path
from typing import Callable, Iterator, List

import pytest

from wristband_mw.testing import LocalIssuer

from ..support import Server, assert_clean_log, gunicorn, serve, server_env

HERE = Path(__file__).resolve().parent
SERVERS = {
    "gunicorn": gunicorn("cafe_app:application"),
    "wsgiref": lambda port: ["cafe_app", str(port)],
}
CAFE = "/caf%C3%A9"
SPELLINGS = [f"{CAFE}/secret", "/caf%c3%a9/secret", f"{CAFE}//secret", f"{CAFE}/./secret", f"/x/..{CAFE}/secret"]


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request: pytest.FixtureRequest, issuer: LocalIssuer) -> Iterator[Server]:
    command: Callable[[int], List[str]] = SERVERS[request.param]
    with serve(command, server_env(issuer), cwd=HERE) as running:
        yield running
        assert_clean_log(running)


@pytest.mark.parametrize("path", SPELLINGS)
def test_no_token_never_reaches_the_protected_view(server: Server, path: str) -> None:
    response = server.request(path)
    assert response.status in (401, 404), (path, response.status, response.body)
    assert b"secret" not in response.body


def test_the_protected_view_answers_a_valid_token(server: Server, issuer: LocalIssuer) -> None:
    response = server.request(f"{CAFE}/secret", token=issuer.mint(sub="zoë"))
    assert response.status == 200, response.body
    assert response.json() == {"sub": "zoë", "secret": True}


def test_a_scoped_non_ascii_prefix_needs_its_scope(server: Server, issuer: LocalIssuer) -> None:
    assert server.request(f"{CAFE}/admin", token=issuer.mint(scope="openid")).status == 403
    assert server.request(f"{CAFE}/admin", token=issuer.mint(scope="admin")).status == 200
