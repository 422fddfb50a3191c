"""Where a request's token may come from: the ``token_sources`` option, parsed and applied.

A source is a string a config file can hold, or a callable:

==========================  ==================================================================
``"authorization"``         ``Authorization: Bearer <token>`` (the default, alone)
``"cookie:NAME"``           the value of cookie ``NAME`` (RFC 6265); unsafe methods need a
                            trusted ``Origin`` or the ``csrf_header`` (see below)
``"header:NAME"``           header ``NAME``, with or without a ``Bearer`` prefix
``"query:NAME"``            query parameter ``NAME`` on WebSocket handshakes only (what
                            ``websocket_query_param="NAME"`` adds; ASGI only)
a callable                  ``finder(environ_or_scope) -> Optional[str]`` (apojwt's
                            ``token_finder``); it must be fast and must not block
==========================  ==================================================================

Rules, the same under WSGI and ASGI:

* one method only (RFC 6750 section 2): a token in more than one configured place is
  refused with 400 ``invalid_request``, whatever the values;
* a cookie seen twice with different values (cookie tossing, or two paths) is ambiguous:
  400 ``invalid_request``; an empty cookie counts as absent;
* cross-site request forgery: a browser attaches cookies to cross-site requests, so a
  cookie token on an unsafe method (anything but GET, HEAD, OPTIONS) or on a WebSocket
  handshake (cross-site WebSocket hijacking) passes only when its ``Origin`` (without
  one, the ``Referer``'s origin) is in ``trusted_origins``, or when it carries the
  ``csrf_header`` (a custom header a cross-site page cannot send without a CORS
  preflight); otherwise 403 ``csrf_refused``;
* a callable that raises or returns something other than a string or ``None`` is
  logged once per failure streak (at warning, never the token) and counts as "no token".

The adapters collect the few header values these sources need into one small
``{lower-case name: [values]}`` mapping; nothing here knows WSGI or ASGI.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
from typing import Any, Callable, FrozenSet, Iterable, List, Optional, Sequence, Tuple
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "AUTHORIZATION",
    "SAFE_METHODS",
    "TokenFinder",
    "TokenSource",
    "checked_header_name",
    "cookie_values",
    "normalize_origin",
    "parse_token_sources",
    "referer_origin",
]

logger = logging.getLogger("wristband_mw")

TokenFinder = Callable[[Any], Optional[str]]

AUTHORIZATION = "authorization"
SAFE_METHODS: FrozenSet[str] = frozenset(("GET", "HEAD", "OPTIONS"))

# RFC 7230 token characters, less "_": WSGI servers fold "-" and "_" into one CGI name
# (HTTP_X_TOKEN), so a name with "_" would be two headers in ASGI and one in WSGI.
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^`|~-]+")
# RFC 6265 cookie-name (an RFC 7230 token).
_COOKIE_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_RESERVED_HEADERS = {
    "authorization": "use the source 'authorization' for the Authorization header",
    "cookie": "use 'cookie:NAME' for a cookie",
    "proxy-authorization": "it carries the client's credentials for a proxy",
    "origin": "it names the page that sent the request",
    "referer": "it names the page that sent the request",
    "host": "it names the server",
}
_ORIGIN = re.compile(
    r"(?P<scheme>https?)://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?", re.IGNORECASE
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}


class TokenSource:
    """One parsed entry of ``token_sources``.

    ``kind`` is ``"authorization"``, ``"cookie"``, ``"header"``, ``"query"`` or
    ``"callable"``; ``name`` is the cookie's name, the header's lower-case name or the
    query parameter's name; ``finder`` the callable.
    """

    __slots__ = ("_failing", "_lock", "finder", "kind", "name")

    def __init__(self, kind: str, name: str = "", finder: Optional[TokenFinder] = None) -> None:
        self.kind = kind
        self.name = name
        self.finder = finder
        self._failing = False  # a callable's failure streak, so it is logged once
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        """How logs name this source (never a value)."""
        if self.kind == "callable":
            return f"callable {getattr(self.finder, '__qualname__', None) or type(self.finder).__name__}"
        return f"{self.kind}:{self.name}" if self.name else self.kind

    def __repr__(self) -> str:
        return f"TokenSource({self.label!r})"

    def call(self, environ_or_scope: Any) -> Optional[str]:
        """The callable's token, or ``None`` (also when it fails: logged once per streak)."""
        try:
            value = self.finder(environ_or_scope)  # type: ignore[misc]  # a callable source has one
        except Exception as exc:
            self._failed(f"raised {type(exc).__name__}")
            return None
        if value is None or type(value) is str:
            if self._failing:
                with self._lock:
                    recovered, self._failing = self._failing, False
                if recovered:
                    logger.debug("token source %s works again", self.label)
            return value
        if inspect.isawaitable(value):
            if inspect.iscoroutine(value):
                value.close()  # never awaited: no "coroutine was never awaited" warning
            self._failed("returned an awaitable (token sources must be synchronous)")
        else:
            self._failed(f"returned a {type(value).__name__}, not a str or None")
        return None

    def _failed(self, why: str) -> None:
        with self._lock:
            first, self._failing = not self._failing, True
        if first:  # once per failure streak; the value itself is never logged
            logger.warning("token source %s %s; treating the request as carrying no token there", self.label, why)


def checked_header_name(name: str, what: str) -> str:
    """``name`` in lower case; ``ValueError`` (naming ``what``) unless it is a usable header name."""
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"{what} needs a header name of letters, digits and '-' (no '_', no spaces)")
    lower = name.lower()
    reason = _RESERVED_HEADERS.get(lower)
    if reason is not None:
        raise ValueError(f"{what} is not allowed: {reason}")
    return lower


def _parse_one(entry: object) -> TokenSource:
    if callable(entry) and not isinstance(entry, str):
        return TokenSource("callable", finder=entry)
    if not isinstance(entry, str):
        raise ValueError(f"token_sources entries are strings or callables; got {type(entry).__name__}")
    if entry == AUTHORIZATION:
        return TokenSource(AUTHORIZATION)
    kind, colon, name = entry.partition(":")
    if not colon or kind not in ("cookie", "header", "query"):
        raise ValueError(
            f"token_sources: unknown source {entry!r}; use 'authorization', 'cookie:NAME', 'header:NAME', "
            "'query:NAME' (WebSocket handshakes) or a callable"
        )
    if kind == "cookie":
        if not _COOKIE_NAME.fullmatch(name):
            raise ValueError(f"token_sources: {entry!r} needs a cookie name (RFC 6265 token), e.g. 'cookie:__Host-at'")
        return TokenSource("cookie", name)
    if kind == "header":
        return TokenSource("header", checked_header_name(name, f"token_sources: {entry!r}"))
    if not name or not name.isprintable() or any(c in name for c in "&=#; "):
        raise ValueError(f"token_sources: {entry!r} needs a query parameter name, e.g. 'query:access_token'")
    return TokenSource("query", name)


def parse_token_sources(entries: Iterable[object], websocket_query_param: Optional[str]) -> Tuple[TokenSource, ...]:
    """``token_sources`` (and the ``websocket_query_param`` shorthand), checked.

    Raises ``ValueError`` for an unknown kind, a bad name, a reserved header, an empty
    list or a source named twice.

    Example::

        >>> parse_token_sources(["authorization", "cookie:__Host-at"], None)
        (TokenSource('authorization'), TokenSource('cookie:__Host-at'))
    """
    sources = [_parse_one(entry) for entry in entries]
    if websocket_query_param is not None:
        sources.append(_parse_one("query:" + websocket_query_param))
    if not sources:
        raise ValueError("token_sources must name at least one source, e.g. ('authorization',)")
    seen = set()
    for source in sources:
        key: object = source.finder if source.kind == "callable" else (source.kind, source.name)
        if key in seen:
            raise ValueError(f"token_sources: {source.label} is listed twice")
        seen.add(key)
    return tuple(sources)


def normalize_origin(origin: object) -> str:
    """A trusted origin as browsers send it: lower-case, no default port; ``ValueError`` if malformed.

    Example::

        >>> normalize_origin("HTTPS://App.Example.com:443")
        'https://app.example.com'
    """
    if not isinstance(origin, str):
        raise ValueError("trusted_origins entries must be strings such as 'https://app.example.com'")
    match = _ORIGIN.fullmatch(origin)
    if match is None:
        raise ValueError(
            f"trusted_origins: {origin!r} is not an origin: use scheme://host[:port] with http or https, "
            "no path, no trailing '/', no wildcard"
        )
    scheme, host, port = match.group("scheme").lower(), match.group("host").lower(), match.group("port")
    if port is not None and not 0 < int(port) < 65536:
        raise ValueError(f"trusted_origins: {origin!r} has an invalid port")
    if port is None or port.lstrip("0") == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{int(port)}"


def referer_origin(referer: str) -> Optional[str]:
    """The origin of a ``Referer`` URL (``None`` when it has none), normalised like trusted origins."""
    try:
        parts = urlsplit(referer)
        netloc = parts.netloc.rpartition("@")[2]
        return normalize_origin(f"{parts.scheme}://{netloc}")
    except ValueError:
        return None


def cookie_values(headers: Sequence[str], name: str) -> List[str]:
    """Every value of cookie ``name`` in these ``Cookie`` header values, in order.

    RFC 6265 section 4.2.1 (``name=value`` pairs separated by ``;``), strictly and
    cheaply: several headers (HTTP/2 splits them; WSGI servers join them with ``, ``)
    are read as one list, since a cookie value holds neither ``;`` nor ``,``; a value in
    double quotes is unquoted; a pair without ``=`` is skipped.

    Example::

        >>> cookie_values(["theme=dark; at=abc.def", "at=abc.def"], "at")
        ['abc.def', 'abc.def']
    """
    found: List[str] = []
    for header in headers:
        if name not in header:  # the common case: another cookie, no split at all
            continue
        for pair in header.replace(",", ";").split(";"):
            key, equals, value = pair.partition("=")
            if equals and key.strip(" \t") == name:
                value = value.strip(" \t")
                if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                    value = value[1:-1]
                found.append(value)
    return found


def query_values(query_string: bytes, name: str) -> List[str]:
    """Every value of query parameter ``name`` (percent-decoded)."""
    return parse_qs(query_string.decode("latin-1"), keep_blank_values=True).get(name, [])


def header_names(sources: Sequence[TokenSource], csrf_header: Optional[str]) -> FrozenSet[str]:
    """The lower-case names of the headers the adapters collect for these sources."""
    names = set()
    for source in sources:
        if source.kind == AUTHORIZATION:
            names.add("authorization")
        elif source.kind == "header":
            names.add(source.name)
        elif source.kind == "cookie":
            names.update(("cookie", "origin", "referer"))
            if csrf_header is not None:
                names.add(csrf_header)
    return frozenset(names)
