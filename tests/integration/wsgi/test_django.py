"""examples/django_app.py under gunicorn: RemoteUserMiddleware makes request.user the token's sub."""

import secrets
import sqlite3
import subprocess
import sys
from contextlib import closing
from typing import Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from ..contract import HttpContract
from ..support import EXAMPLES, Server, assert_clean_log, gunicorn, serve, server_env


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("django") / "db.sqlite3")


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer, database: str) -> Iterator[Server]:
    env = server_env(issuer, {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_DB": database})
    subprocess.run(  # the recipe's own set-up step: python django_app.py migrate
        [sys.executable, "django_app.py", "migrate", "--verbosity", "0"],
        cwd=EXAMPLES,
        env=env,
        check=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    with serve(gunicorn("django_app:application", worker="gthread"), env) as running:
        yield running
        assert_clean_log(running)


class TestDjangoUnderGunicorn(HttpContract):
    def test_request_user_is_the_subject(self, server: Server, issuer: LocalIssuer, database: str) -> None:
        # django_app answers "sub" from request.user.get_username(): RemoteUserMiddleware saw REMOTE_USER
        response = server.request("/api/me", token=issuer.mint(sub="django-user-9"))
        assert response.status == 200, response.body
        assert response.json()["sub"] == "django-user-9"
        # ... and RemoteUserBackend created the user on first sight
        with closing(sqlite3.connect(database)) as db:
            rows = db.execute("SELECT username FROM auth_user WHERE username = ?", ("django-user-9",)).fetchall()
        assert rows == [("django-user-9",)]

    def test_a_session_cookie_does_not_outlive_the_token(self, server: Server, issuer: LocalIssuer) -> None:
        first = server.request("/api/me", token=issuer.mint(sub="cookie-user"))
        assert first.status == 200
        cookie = (first.header("Set-Cookie") or "").split(";", 1)[0]
        assert cookie.startswith("sessionid=")
        # the session Django opened for the token's user is no way around the middleware
        assert server.request("/api/me", headers=[("Cookie", cookie)]).status == 401
