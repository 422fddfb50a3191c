"""The stacks of the differential test: one app per framework, run as ``python -m stacks NAME PORT``.

Every stack serves the same routes behind the same middleware options, on 127.0.0.1
only. Each handler answers ``ran:<handler>:<the path the framework routed on>`` so the
client can tell which handler ran for a request target, and appends the same to the file
named by ``DIFFERENTIAL_RECORD`` under the request's ``X-Probe`` number; ``/healthz`` answers ``ok``
once the server is up. The validator reads its issuer from ``WRISTBAND_ISSUER`` and
``WRISTBAND_JWKS_URL`` (a loopback issuer of the test).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from wristband_mw import (
    JwtAsgiMiddleware,
    JwtWsgiMiddleware,
    WristbandJwtValidatorConfig,
    create_wristband_jwt_validator,
)

# The same options in front of every stack; the test reads them from here too.
OPTIONS: Dict[str, Any] = {
    "protect": ["/api", "/café"],
    "exempt": ["/healthz"],
    "scopes": {"/api/admin": ["admin"], "/données": ["data"]},
}
# handler -> the scope it needs (None: a token without scopes; absent: open)
PROTECTED: Dict[str, Tuple[str, ...]] = {
    "api": (),
    "me": (),
    "item": (),
    "admin": ("admin",),
    "cafe": (),
    "data": ("data",),
}
# route -> handler; "{id}" is an integer parameter, "{rest}" any path below.
ROUTES: List[Tuple[str, str]] = [
    ("/healthz", "healthz"),
    ("/api", "api"),
    ("/api/me", "me"),
    ("/api/admin", "admin"),
    ("/api/items/{id}", "item"),
    ("/public/{rest}", "public"),
    ("/café/menu", "cafe"),
    ("/données/{rest}", "data"),
]


def validator() -> Any:
    return create_wristband_jwt_validator(
        WristbandJwtValidatorConfig(issuer=os.environ["WRISTBAND_ISSUER"], jwks_url=os.environ["WRISTBAND_JWKS_URL"])
    )


_RECORD = os.environ.get("DIFFERENTIAL_RECORD")
_RECORD_LOCK = threading.Lock()


def answer(handler: str, path: str, probe: Optional[str]) -> str:
    """The response body; also appends ``probe<TAB>handler<TAB>path`` to the record file.

    The record sees runs whose response never reaches the client (a server that drops
    the connection after the app ran).
    """
    if _RECORD is not None and probe is not None:
        with _RECORD_LOCK, open(_RECORD, "a", encoding="utf-8") as record:
            record.write(f"{probe}\t{handler}\t{path!r}\n")
    return f"ran:{handler}:{path!r}"


# -- WSGI ----------------------------------------------------------------------------------------


def flask_app() -> Any:
    from flask import Flask, request

    app = Flask(__name__)
    for route, handler in ROUTES:
        rule = route.replace("{id}", "<int:id>").replace("{rest}", "<path:rest>")

        def view(handler: str = handler, **_: Any) -> str:
            return "ok" if handler == "healthz" else answer(handler, request.path, request.headers.get("X-Probe"))

        app.add_url_rule(rule, handler, view)
    app.wsgi_app = JwtWsgiMiddleware(app.wsgi_app, validator(), **OPTIONS)  # type: ignore[method-assign]
    return app


def django_app() -> Any:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="differential-test-only",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
    )
    django.setup()
    from django.core.wsgi import get_wsgi_application

    return JwtWsgiMiddleware(get_wsgi_application(), validator(), **OPTIONS)


def _django_urlpatterns() -> List[Any]:
    from django.http import HttpResponse
    from django.urls import path

    patterns = []
    for route, handler in ROUTES:
        rule = route.lstrip("/").replace("{id}", "<int:id>").replace("{rest}", "<path:rest>")

        def view(request: Any, handler: str = handler, **_: Any) -> Any:
            return HttpResponse(
                "ok" if handler == "healthz" else answer(handler, request.path_info, request.META.get("HTTP_X_PROBE"))
            )

        patterns.append(path(rule, view))
    return patterns


def bottle_app() -> Any:
    import bottle

    app = bottle.Bottle()
    for route, handler in ROUTES:
        rule = route.replace("{id}", "<id:int>").replace("{rest}", "<rest:path>")

        def view(handler: str = handler, **_: Any) -> str:
            # Bottle routes on PATH_INFO decoded with errors="ignore".
            return (
                "ok"
                if handler == "healthz"
                else answer(handler, bottle.request.path, bottle.request.get_header("X-Probe"))
            )

        app.route(rule, "GET", view, name=handler)
    return JwtWsgiMiddleware(app, validator(), **OPTIONS)


def serve_wsgi(app: Callable[..., Iterable[bytes]], server: str, port: int) -> None:
    if server == "werkzeug":
        from werkzeug.serving import make_server

        make_server("127.0.0.1", port, app, threaded=True).serve_forever()
        return
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        request_queue_size = 128

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    make_server("127.0.0.1", port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler).serve_forever()


# -- ASGI ----------------------------------------------------------------------------------------


def starlette_app(fastapi: bool = False) -> Any:
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    def endpoint(handler: str) -> Callable[[Request], Any]:
        async def view(request: Request) -> PlainTextResponse:
            return PlainTextResponse(
                "ok" if handler == "healthz" else answer(handler, request.url.path, request.headers.get("x-probe"))
            )

        # FastAPI injects by annotation, and annotations here are strings (PEP 563).
        view.__annotations__ = {"request": Request, "return": PlainTextResponse}
        return view

    rules = [(route.replace("{id}", "{id:int}").replace("{rest}", "{rest:path}"), handler) for route, handler in ROUTES]
    if fastapi:
        from fastapi import FastAPI

        app: Any = FastAPI()
        for rule, handler in rules:
            app.add_api_route(rule, endpoint(handler), methods=["GET"], response_class=PlainTextResponse)
    else:
        from starlette.applications import Starlette

        app = Starlette(routes=[Route(rule, endpoint(handler)) for rule, handler in rules])
    app.add_middleware(JwtAsgiMiddleware, validator=validator(), **OPTIONS)
    return app


def litestar_app(inside: bool) -> Any:
    from litestar import Litestar, MediaType, Request, get
    from litestar.middleware import DefineMiddleware

    handlers = []
    for route, handler in ROUTES:
        rule = route.replace("{id}", "{id:int}").replace("{rest}", "{rest:path}")

        def view(request: Request[Any, Any, Any], handler: str = handler) -> str:
            return "ok" if handler == "healthz" else answer(handler, request.url.path, request.headers.get("x-probe"))

        handlers.append(get(rule, media_type=MediaType.TEXT, name=handler, sync_to_thread=False)(view))
    if inside:  # Litestar's own middleware list: runs after routing, per route
        middleware = [DefineMiddleware(JwtAsgiMiddleware, validator=validator(), **OPTIONS)]
        return Litestar(route_handlers=handlers, middleware=middleware)
    return JwtAsgiMiddleware(Litestar(route_handlers=handlers), validator(), **OPTIONS)


def quart_app() -> Any:
    from quart import Quart, request

    app = Quart(__name__)
    for route, handler in ROUTES:
        rule = route.replace("{id}", "<int:id>").replace("{rest}", "<path:rest>")

        async def view(handler: str = handler, **_: Any) -> str:
            return "ok" if handler == "healthz" else answer(handler, request.path, request.headers.get("X-Probe"))

        app.add_url_rule(rule, handler, view)
    return JwtAsgiMiddleware(app, validator(), **OPTIONS)


def sanic_app() -> Any:
    from sanic import Sanic
    from sanic.response import text

    app = Sanic("differential")
    for route, handler in ROUTES:
        rule = route.replace("{id}", "<id:int>").replace("{rest}", "<rest:path>")

        async def view(request: Any, handler: str = handler, **_: Any) -> Any:
            return text("ok" if handler == "healthz" else answer(handler, request.path, request.headers.get("x-probe")))

        app.add_route(view, rule, methods=["GET"], name=handler)
    return JwtAsgiMiddleware(app, validator(), **OPTIONS)


def blacksheep_app() -> Any:
    from blacksheep import Application, Request, text

    app = Application()
    for route, handler in ROUTES:
        rule = route.replace("{id}", "{int:id}").replace("{rest}", "{path:rest}")

        async def view(request: Request, handler: str = handler) -> Any:
            probe = request.get_first_header(b"x-probe")
            path = request.url.path.decode("utf-8", "replace")
            return text("ok" if handler == "healthz" else answer(handler, path, probe and probe.decode()))

        view.__annotations__ = {"request": Request}  # BlackSheep injects by annotation; PEP 563 makes them strings

        app.router.add_get(rule, view)
    return JwtAsgiMiddleware(app, validator(), **OPTIONS)


def serve_asgi(app: Any, port: int, root_path: str = "", http: str = "auto", lifespan: str = "off") -> None:
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        root_path=root_path,
        http=http,  # type: ignore[arg-type]
        log_level="warning",
        lifespan=lifespan,  # type: ignore[arg-type]
        timeout_graceful_shutdown=2,
    )


def serve_hypercorn(app: Any, port: int, root_path: str) -> None:
    import asyncio

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.root_path = root_path  # hypercorn leaves it out of the scope's path
    config.graceful_timeout = 2
    asyncio.run(serve(app, config))  # type: ignore[arg-type]


STACKS: Dict[str, Callable[[int], None]] = {
    "flask-werkzeug": lambda port: serve_wsgi(flask_app(), "werkzeug", port),
    "flask-wsgiref": lambda port: serve_wsgi(flask_app(), "wsgiref", port),
    "django-wsgiref": lambda port: serve_wsgi(django_app(), "wsgiref", port),
    "bottle-wsgiref": lambda port: serve_wsgi(bottle_app(), "wsgiref", port),
    "starlette-uvicorn": lambda port: serve_asgi(starlette_app(), port),
    # h11 (not httptools) leaves a raw "#fragment" and a target not starting with "/" in the path.
    "starlette-uvicorn-h11": lambda port: serve_asgi(starlette_app(), port, http="h11"),
    "quart-hypercorn": lambda port: serve_hypercorn(quart_app(), port, ""),
    "sanic-uvicorn-h11": lambda port: serve_asgi(sanic_app(), port, http="h11", lifespan="on"),
    "blacksheep-uvicorn": lambda port: serve_asgi(blacksheep_app(), port, lifespan="on"),
    "fastapi-uvicorn": lambda port: serve_asgi(starlette_app(fastapi=True), port),
    "litestar-uvicorn-wrapped": lambda port: serve_asgi(litestar_app(inside=False), port),
    "litestar-uvicorn-middleware-list": lambda port: serve_asgi(litestar_app(inside=True), port),
    # uvicorn --root-path /mnt: the scope's path starts with /mnt; Starlette routes below it,
    # Litestar after its first occurrence (and hands its middleware list the stripped path).
    "starlette-uvicorn-root-path": lambda port: serve_asgi(starlette_app(), port, "/mnt"),
    "litestar-uvicorn-wrapped-root-path": lambda port: serve_asgi(litestar_app(inside=False), port, "/mnt"),
    "litestar-uvicorn-middleware-list-root-path": lambda port: serve_asgi(litestar_app(inside=True), port, "/mnt"),
    # hypercorn --root-path /mnt: the path does not start with /mnt, and Litestar routes the
    # client-chosen /x/mnt/api/me on /api/me.
    "litestar-hypercorn-wrapped-root-path": lambda port: serve_hypercorn(litestar_app(inside=False), port, "/mnt"),
    "litestar-hypercorn-middleware-list-root-path": lambda port: serve_hypercorn(
        litestar_app(inside=True), port, "/mnt"
    ),
}


def __getattr__(name: str) -> Any:  # Django's ROOT_URLCONF reads urlpatterns from this module
    if name == "urlpatterns":
        return _django_urlpatterns()
    raise AttributeError(name)


if __name__ == "__main__":
    STACKS[sys.argv[1]](int(sys.argv[2]))
