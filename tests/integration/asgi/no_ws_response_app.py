"""examples/asgi_app.py behind a server that does not offer ``websocket.http.response``.

Every server tested here offers that ASGI extension, so refusing a WebSocket with a
close frame before accepting it (what the middleware does without the extension)
would go untested through a real server; this wrapper hides the extension.
"""

from asgi_app import application


async def app(scope, receive, send):
    if scope["type"] == "websocket":
        extensions = {k: v for k, v in (scope.get("extensions") or {}).items() if k != "websocket.http.response"}
        scope = {**scope, "extensions": extensions}
    await application(scope, receive, send)
