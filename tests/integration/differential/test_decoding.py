"""The policy's WSGI spellings hold what the frameworks themselves decode PATH_INFO to."""

from __future__ import annotations

import pytest

from wristband_mw.policy import wsgi_path_spellings

# PEP 3333 PATH_INFO values: valid, invalid, truncated and overlong UTF-8, as latin-1.
PATHS = [
    "/caf\xc3\xa9/x",
    "/donn\xc3\xa9es/\xc1\xb8",
    "/\xff\xfe",
    "/a\xe9b",
    "/\xf0\x9f\x98",
    "/\xc0\xaf",
    "/\xed\xa0\x80",
    "/ok",
]


@pytest.mark.parametrize("path_info", PATHS)
def test_spellings_include_werkzeug_falcon_and_django_decoding(path_info: str) -> None:
    from django.core.handlers.wsgi import get_path_info
    from werkzeug._internal import _wsgi_decoding_dance

    spellings = wsgi_path_spellings(path_info)
    assert _wsgi_decoding_dance(path_info) in spellings  # Flask; Falcon decodes the same way
    assert get_path_info({"PATH_INFO": path_info}) in spellings  # Django
    assert path_info in spellings  # an app routing on PATH_INFO itself


@pytest.mark.parametrize("path_info", PATHS)
def test_spellings_include_bottle_decoding(path_info: str) -> None:
    import bottle

    # Bottle decodes PATH_INFO in place before routing (errors="ignore").
    environ = {"PATH_INFO": path_info, "REQUEST_METHOD": "GET", "SERVER_NAME": "x", "SERVER_PORT": "80"}
    environ.update({"wsgi.url_scheme": "http", "SCRIPT_NAME": "", "wsgi.errors": None})
    bottle.Bottle(catchall=True)._handle(environ)
    assert environ["PATH_INFO"] in wsgi_path_spellings(path_info)
