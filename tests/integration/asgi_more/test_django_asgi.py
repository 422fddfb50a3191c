"""examples/django_asgi_app.py under uvicorn and daphne: request.user is the token's sub,
and a client's own Remote-User header never sets it (issue 9 section 2)."""

import json
import secrets
import socket
import subprocess
import sys
import time
from typing import Dict, Iterator, Optional

import pytest

from wristband_mw.testing import LocalIssuer

from ..contract import HttpContract
from ..support import EXAMPLES, Server, assert_clean_log, daphne, serve, server_env, uvicorn

# httptools explicitly: it appends chunked trailers to the list it put in scope["headers"].
SERVERS = {
    "uvicorn": uvicorn("django_asgi_app:application", "--http", "httptools"),
    "daphne": daphne("django_asgi_app:application"),
}
SPOOF = [("Remote-User", "mallory")]


def request_with_trailer(port: int, path: str, token: Optional[str] = None) -> bytes:
    """A chunked GET whose trailer, sent in a second segment once the app runs, says Remote-User: mallory."""
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
    if token is not None:
        head += f"Authorization: Bearer {token}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode("ascii") + b"\r\n1\r\nx\r\n")
        time.sleep(0.3)  # the middleware has run; Django is still reading the body
        sock.sendall(b"0\r\nRemote-User: mallory\r\n\r\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def decoded_body(response: bytes) -> object:
    start, end = response.find(b"{"), response.rfind(b"}")
    return json.loads(response[start : end + 1])


def migrate(env: Dict[str, str]) -> None:
    subprocess.run(  # the recipe's own set-up step: python django_asgi_app.py migrate
        [sys.executable, "django_asgi_app.py", "migrate", "--verbosity", "0"],
        cwd=EXAMPLES,
        env=env,
        check=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module", params=list(SERVERS))
def server(
    request: pytest.FixtureRequest, issuer: LocalIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    database = str(tmp_path_factory.mktemp("django-asgi") / "db.sqlite3")
    env = server_env(issuer, {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_DB": database})
    migrate(env)
    with serve(SERVERS[request.param], env) as running:
        yield running
        assert_clean_log(running)


class TestDjangoUnderAsgi(HttpContract):
    def test_request_user_is_the_subject(self, server: Server, issuer: LocalIssuer) -> None:
        response = server.request("/api/me", token=issuer.mint(sub="alice"))
        assert response.status == 200, response.body
        assert response.json()["sub"] == "alice"

    def test_spoofed_remote_user_on_an_exempt_path_is_anonymous(self, server: Server) -> None:
        response = server.request("/whoami", headers=SPOOF)
        assert response.status == 200, response.body
        assert response.json() == {"user": "", "authenticated": False}

    def test_spoofed_remote_user_without_a_token_is_challenged(self, server: Server) -> None:
        assert server.request("/api/me", headers=SPOOF).status == 401

    def test_spoofed_remote_user_with_a_token_is_the_token_subject(self, server: Server, issuer: LocalIssuer) -> None:
        response = server.request("/api/me", token=issuer.mint(sub="alice"), headers=SPOOF)
        assert response.status == 200, response.body
        assert response.json()["sub"] == "alice"
        spoofed_after = [("Remote-User", "mallory"), ("remote_user", "mallory")]
        response = server.request("/api/me", token=issuer.mint(sub="alice"), headers=spoofed_after)
        assert response.json()["sub"] == "alice"

    def test_remote_user_in_a_late_chunked_trailer_is_ignored(self, server: Server, issuer: LocalIssuer) -> None:
        response = request_with_trailer(server.port, "/whoami")
        assert response.startswith(b"HTTP/1.1 200"), response[:200]
        assert decoded_body(response) == {"user": "", "authenticated": False}
        response = request_with_trailer(server.port, "/api/me", issuer.mint(sub="alice"))
        assert response.startswith(b"HTTP/1.1 200"), response[:200]
        assert decoded_body(response)["sub"] == "alice"  # type: ignore[index]

    def test_a_session_cookie_does_not_outlive_the_token(self, server: Server, issuer: LocalIssuer) -> None:
        first = server.request("/api/me", token=issuer.mint(sub="cookie-user"))
        assert first.status == 200
        cookie = (first.header("Set-Cookie") or "").split(";", 1)[0]
        assert server.request("/api/me", headers=[("Cookie", cookie)]).status == 401
        response = server.request("/whoami", headers=[("Cookie", cookie)])
        assert response.json()["authenticated"] is False  # RemoteUserMiddleware logs the session out


def test_mounted_under_a_root_path(issuer: LocalIssuer, tmp_path_factory: pytest.TempPathFactory) -> None:
    # behind a proxy that strips /svc: uvicorn puts it back in path and root_path, Django
    # takes root_path as its SCRIPT_NAME and routes on what follows it
    database = str(tmp_path_factory.mktemp("django-asgi-mounted") / "db.sqlite3")
    env = server_env(issuer, {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_DB": database})
    migrate(env)
    with serve(uvicorn("django_asgi_app:application", "--root-path", "/svc"), env) as running:
        assert running.request("/api/me", headers=SPOOF).status == 401
        response = running.request("/api/me", token=issuer.mint(sub="mounted"))
        assert response.status == 200, response.body
        assert response.json()["sub"] == "mounted"
        assert running.request("/api/admin", token=issuer.mint(scope="openid")).status == 403
        assert_clean_log(running)
