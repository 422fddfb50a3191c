"""Which requests need a token, and what a request's outcome is: shared by WSGI and ASGI.

:class:`AccessPolicy` is built once, at middleware construction, from the path and
method options. A path is matched, on whole segments, in every spelling an application
could route on, and the strictest answer wins: protected if any spelling is protected,
exempt only if all are. The spellings:

- normalised (repeated slashes collapsed, ``.`` and ``..`` resolved) and literal
  (``..`` kept as a segment, as Starlette's ``/api/{id}`` matches ``/api/..``);
- with percent-escapes decoded once more (``/api%2Fx``, ``/%61pi``);
- WSGI: ``PATH_INFO`` as given (PEP 3333 latin-1) and its UTF-8 bytes decoded the way
  frameworks decode them: invalid bytes replaced (werkzeug, Falcon), re-percent-encoded
  (Django) or dropped (Bottle), so a ``/café`` prefix matches ``/caf%C3%A9`` under every server;
- as routers re-parse it: cut at the first ``#`` (Sanic under h11-based servers), and an
  absolute-form target on its path part, as ``urllib.parse`` gives it (Quart, Sanic);
- ASCII-lowercased, against lowercased prefixes (BlackSheep routes case-insensitively);
- ASGI with a ``root_path``: ``path`` as given (Falcon, Sanic), below ``root_path``
  (Starlette), after the first occurrence of ``root_path`` and with every occurrence removed
  (Litestar); a ``path`` outside ``root_path`` is also matched with ``root_path`` in front,
  so it is never more open than the same path inside it.

A path holding a control character (C0, DEL or C1, raw or percent-encoded, in any of
those spellings) is refused outright, on every path and method, before any app code
runs: routers disagree about such paths (Starlette's ``$`` matches before a final
newline, so ``/api%0A`` routes to ``/api``), and no real client needs them. So is a path
that is no request target (not ``/...``, absolute-form, ``*`` or empty; see
:func:`is_request_target`).

:class:`Guard` holds the policy, the validator and the failure responses, and gives
both adapters the same three steps: which rule applies, which token the headers
carry, and whether the validated token satisfies the rule.
"""

from __future__ import annotations

import logging
import math
import re
from contextlib import suppress
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import unquote, urlsplit

from .bearer import extract_bearer_token
from .errors import BearerTokenError, ErrorCode
from .payload import JWTPayload, JwtValidationResult
from .responses import AuthFailure, ErrorResponse, FailureFactory, default_error_response
from .validator import WristbandJwtValidator

__all__ = [
    "REFUSED",
    "AccessPolicy",
    "Guard",
    "Rule",
    "asgi_path_spellings",
    "is_request_target",
    "normalize_path",
    "wsgi_path_spellings",
]

logger = logging.getLogger("wristband_mw")

OnError = Callable[[AuthFailure, Any], Union[ErrorResponse, Tuple[int, List[Tuple[str, str]], bytes]]]


def normalize_path(path: str) -> str:
    """Collapse repeated slashes and resolve ``.`` and ``..``; never climbs above ``/``."""
    if "//" not in path and "/." not in path and path.startswith("/"):
        return path if len(path) == 1 or not path.endswith("/") else path.rstrip("/") or "/"
    segments: List[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return "/" + "/".join(segments)


def _literal_path(path: str) -> str:
    """``path`` with repeated slashes collapsed and ``.`` dropped, but ``..`` kept as a segment."""
    return "/" + "/".join(segment for segment in path.split("/") if segment not in ("", "."))


def _normalize_prefix(prefix: object, option: str) -> str:
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise ValueError(f"{option} entries must be path prefixes starting with '/', e.g. '/api'; got {prefix!r}")
    if _has_control(prefix):
        raise ValueError(f"{option} entries must not contain control characters; got {prefix!r}")
    return normalize_path(prefix)


# C0, DEL and C1: no router agrees with another on them (see the module docstring).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _has_control(path: str) -> bool:
    """True when ``path``, as given or with its percent-escapes decoded, holds a control character."""
    return _CONTROL.search(path) is not None or ("%" in path and _CONTROL.search(unquote(path)) is not None)


# surrogateescape writes each byte UTF-8 cannot decode as U+DC80..U+DCFF: back to "%XX".
_ESCAPED_BYTES = {0xDC00 + byte: f"%{byte:02X}" for byte in range(0x80, 0x100)}


def _repercent_broken_utf8(raw: bytes) -> str:
    """``raw`` decoded as UTF-8 with each invalid byte written as ``%XX``, as Django does (RFC 3987 3.2).

    One decode and one substitution, whatever the number of invalid bytes (linear time).
    """
    return raw.decode("utf-8", "surrogateescape").translate(_ESCAPED_BYTES)


def wsgi_path_spellings(path_info: str) -> Tuple[str, ...]:
    """Every spelling a WSGI app could route ``PATH_INFO`` as; the UTF-8 decoded ones first.

    PEP 3333 servers pass the path's bytes decoded as latin-1, so ``/café`` arrives as
    ``/cafÃ©``. Frameworks decode it back: werkzeug and Falcon with invalid bytes
    replaced by U+FFFD, Django with them re-percent-encoded, Bottle with them dropped
    (``/a%FFpi`` routes as ``/api`` there); Pyramid (WebOb) decodes strictly, which gives
    the replaced spelling for any path it accepts. The latin-1 spelling is kept for apps
    that route on ``PATH_INFO`` directly::

        >>> wsgi_path_spellings("/caf\xc3\xa9")
        ('/café', '/cafÃ©')
        >>> wsgi_path_spellings("/x/\xc1")
        ('/x/�', '/x/%C1', '/x/', '/x/Á')
    """
    if path_info.isascii():
        return (path_info,)
    try:
        raw = path_info.encode("latin-1")
    except UnicodeEncodeError:  # not PEP 3333: the server decoded it already
        return (path_info,)
    replaced = raw.decode("utf-8", "replace")
    dropped = raw.decode("utf-8", "ignore")
    return tuple(dict.fromkeys((replaced, _repercent_broken_utf8(raw), dropped, path_info)))


def asgi_path_spellings(path: str, root_path: str) -> Tuple[str, ...]:
    """Every spelling an ASGI app could route ``path`` as, given the scope's ``root_path``.

    Starlette routes on ``path`` below ``root_path``, Falcon and Sanic on ``path`` as
    given, Litestar on what follows the first occurrence of ``root_path`` (and its own
    middleware list receives a ``path`` already stripped while ``root_path`` is kept).
    A ``path`` outside ``root_path`` is also matched with ``root_path`` in front::

        >>> asgi_path_spellings("/mnt/api/me", "/mnt")
        ('/mnt/api/me', '/api/me')
        >>> asgi_path_spellings("/x/mnt/api/me", "/mnt")
        ('/x/mnt/api/me', '/mnt/x/mnt/api/me', '/api/me', '/x/api/me')
    """
    if not root_path or root_path == "/":
        return (path,)
    spellings = [path]
    if path.startswith(root_path):
        spellings.append(path[len(root_path) :])
    else:
        spellings.append(root_path + path)
    at = path.find(root_path)
    if at >= 0:
        spellings.append(path[at + len(root_path) :])
        spellings.append(path.replace(root_path, ""))
    return tuple(dict.fromkeys(spelling or "/" for spelling in spellings))


# What urllib.parse.urlsplit strips from the front of a URL (WHATWG: C0 control or space).
_C0_OR_SPACE = "".join(map(chr, range(0x21)))
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


# An absolute-form target (RFC 9112 3.2.2) as h11-based servers leave it in the path:
# scheme, "//", an authority of host and port characters only, then the path.
_ABSOLUTE_FORM = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9._~\[\]:-]*(?:[/?#].*)?\Z", re.DOTALL)


def is_request_target(path: str) -> bool:
    """True for a path a request target can give: ``/...``, absolute-form, ``*`` or empty.

    Anything else (``%20/api/me`` arrives as a space and ``/api/me``) is no request target
    at all (RFC 9112 3.2), and frameworks disagree about it: Quart strips the leading space
    and routes it, Sanic answers 500. It is refused, as Go's net/http and Envoy do. The
    ASGI middleware also checks the scope's ``raw_path`` (Sanic routes on it)::

        >>> [is_request_target(t) for t in ("/api", "http://h:1/api", "*", " /api", "%2F/api")]
        [True, True, True, False, False]
    """
    return path.startswith("/") or not path or path == "*" or _ABSOLUTE_FORM.match(path) is not None


def _ascii_lower(text: str) -> str:
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def _reparsed_spellings(path: str) -> Tuple[str, ...]:
    """``path`` and what routers that re-parse it as a URL make of it, each starting with ``/``.

    A request target never carries a fragment, but h11-based servers (hypercorn,
    ``uvicorn --http h11``) leave a raw ``#`` in the path and Sanic routes on what precedes
    it; a ``%23`` arrives as the same ``#`` in an ASGI ``path``, so the path is cut at the
    first ``#`` as one more spelling rather than refused. A path not starting with ``/``
    (an absolute-form ``http://host/api/me``; anything else is refused before) is re-parsed
    by Quart and Sanic through ``urllib.parse``, which strips leading spaces and takes the
    URL's path::

        >>> _reparsed_spellings("/api#x")
        ('/api#x', '/api')
        >>> _reparsed_spellings(" /api/me")
        ('/ /api/me', '/api/me')
        >>> _reparsed_spellings("http://host/api/me")
        ('/http://host/api/me', '/api/me')
    """
    if path.startswith("/") and "#" not in path:
        return (path,)
    spellings = [path]
    if "#" in path:
        spellings.append(path[: path.index("#")])
    for spelling in tuple(spellings):
        if not spelling.startswith("/"):
            with suppress(ValueError):  # e.g. an unclosed "[" in the authority: no router gets a path
                spellings.append(urlsplit(spelling.lstrip(_C0_OR_SPACE)).path)
    return tuple(dict.fromkeys(spelling if spelling.startswith("/") else "/" + spelling for spelling in spellings))


def _strictest(*rules: Optional[Rule]) -> Optional[Rule]:
    """No token needed only if no rule needs one; else every scope any of them needs."""
    found = [rule for rule in rules if rule is not None]
    if not found:
        return None
    if len(found) == 1 or all(rule is found[0] for rule in found):  # most often: one and the same rule
        return found[0]
    return Rule(tuple(dict.fromkeys(scope for rule in found for scope in rule.scopes)))


def _under(path: str, prefix: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


class Rule:
    """What a protected request needs: a valid token, and these scopes."""

    __slots__ = ("scopes",)

    def __init__(self, scopes: Tuple[str, ...]) -> None:
        self.scopes = scopes


def _pep3333(prefix: str) -> str:
    return prefix.encode("utf-8").decode("latin-1")


class _Prefixes:
    """The exempt, scoped and protected prefixes, optionally transcoded by ``spell``."""

    __slots__ = ("exempt", "protect", "scoped")

    def __init__(
        self,
        protect: Optional[Tuple[str, ...]],
        exempt: Tuple[str, ...],
        scoped: Tuple[Tuple[str, Rule], ...],
        spell: Optional[Callable[[str], str]],
    ) -> None:
        spell = spell or (lambda prefix: prefix)
        self.protect = None if protect is None else tuple(map(spell, protect))
        self.exempt = tuple(map(spell, exempt))
        self.scoped = tuple((spell(prefix), rule) for prefix, rule in scoped)


_UNKNOWN = Rule(())  # "not memoised yet", distinct from None ("no token needed")
REFUSED = Rule(())
"""The rule for a path holding a control character, or no request target: refused with 400, whatever the method."""
_HEADERS_REMEMBERED = 64
_PATHS_REMEMBERED = 1024
_PATH_MEMO_MAX_LENGTH = 256


def _scope_list(value: object, option: str) -> Tuple[str, ...]:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(
        isinstance(s, str) and s and not any(c.isspace() for c in s) for s in value
    ):
        raise ValueError(f"{option} must be a list of scope names without spaces, e.g. ['orders:read']")
    return tuple(dict.fromkeys(value))


class AccessPolicy:
    """Decides, per request, whether a token is needed and which scopes it must carry.

    Parameters:
        protect: path prefixes that need a token; ``None`` means every path.
        exempt: path prefixes that never need one (exempt wins over protect).
        exempt_methods: HTTP methods that never need one (e.g. ``["OPTIONS"]``).
        cors_preflight: let real CORS preflights through (``OPTIONS`` with both
            ``Origin`` and ``Access-Control-Request-Method``).
        required_scopes: scopes every protected request needs.
        scopes: path prefix -> scopes; the longest matching prefix adds its scopes.
            A prefix listed here is protected even when outside ``protect``.
    """

    def __init__(
        self,
        *,
        protect: Optional[Iterable[str]] = None,
        exempt: Iterable[str] = (),
        exempt_methods: Iterable[str] = (),
        cors_preflight: bool = True,
        required_scopes: Iterable[str] = (),
        scopes: Optional[Mapping[str, Iterable[str]]] = None,
    ) -> None:
        if any(
            isinstance(option, (str, bytes)) or not isinstance(option, Iterable)
            for option in (() if protect is None else protect, exempt, exempt_methods)
        ):
            raise ValueError("protect, exempt and exempt_methods take lists, e.g. protect=['/api']")
        self.protect: Optional[Tuple[str, ...]] = (
            None if protect is None else tuple(_normalize_prefix(p, "protect") for p in protect)
        )
        self.exempt = tuple(_normalize_prefix(p, "exempt") for p in exempt)
        if not all(isinstance(m, str) and m.isalpha() for m in exempt_methods):
            raise ValueError("exempt_methods must be HTTP method names, e.g. ['OPTIONS', 'HEAD']")
        self.exempt_methods: FrozenSet[str] = frozenset(m.upper() for m in exempt_methods)
        if not isinstance(cors_preflight, bool):
            raise ValueError("cors_preflight must be True or False")
        self.cors_preflight = cors_preflight
        base = _scope_list(required_scopes, "required_scopes")
        if scopes is not None and not isinstance(scopes, Mapping):
            raise ValueError("scopes must map path prefixes to scope lists, e.g. {'/api/admin': ['admin']}")
        by_prefix = {_normalize_prefix(p, "scopes"): _scope_list(s, "scopes values") for p, s in (scopes or {}).items()}
        # Longest prefix first, so the first match is the most specific one.
        self._scoped: Tuple[Tuple[str, Rule], ...] = tuple(
            (prefix, Rule(tuple(dict.fromkeys(base + extra))))
            for prefix, extra in sorted(by_prefix.items(), key=lambda item: -len(item[0]))
        )
        self._default_rule = Rule(base)
        # The same prefixes as a WSGI app routing on the raw PATH_INFO sees them (PEP 3333:
        # UTF-8 bytes as latin-1), for matching that spelling: "/café" is "/cafÃ©" there.
        self._latin1 = _Prefixes(self.protect, self.exempt, self._scoped, _pep3333)
        self._prefixes = _Prefixes(self.protect, self.exempt, self._scoped, None)
        self._folded = _Prefixes(self.protect, self.exempt, self._scoped, _ascii_lower)
        self._upper_in_prefixes = any(
            prefix != _ascii_lower(prefix)
            for prefix in (*(self.protect or ()), *self.exempt, *(prefix for prefix, _ in self._scoped))
        )
        self._by_path: Dict[Union[str, Tuple[str, ...]], Optional[Rule]] = {}

    def rule_for(self, method: str, path: str, preflight: bool = False) -> Optional[Rule]:
        """The rule for this request, :data:`REFUSED`, or ``None`` when it needs no token.

        ``path`` is the path the app routes on, already decoded (an ASGI ``path``).
        """
        return self._rule(method, path, preflight, path)

    def rule_for_wsgi(self, method: str, path_info: str, preflight: bool = False) -> Optional[Rule]:
        """:meth:`rule_for` for a PEP 3333 ``PATH_INFO`` (see :func:`wsgi_path_spellings`)."""
        if path_info.isascii():  # the common case: one spelling, shared with rule_for's memo
            return self._rule(method, path_info, preflight, path_info)
        return self._rule(method, (path_info,), preflight, path_info)

    def rule_for_asgi(self, method: str, path: str, root_path: str = "", preflight: bool = False) -> Optional[Rule]:
        """:meth:`rule_for` for an ASGI scope's ``path`` and ``root_path`` (see :func:`asgi_path_spellings`)."""
        if not root_path:
            return self._rule(method, path, preflight, path)
        return self._rule(method, (path, root_path), preflight, path)

    def _rule(self, method: str, key: Union[str, Tuple[str, ...]], preflight: bool, path: str) -> Optional[Rule]:
        # Most traffic hits a few paths: remember their rules (bounded in number and length).
        rule = self._by_path.get(key, _UNKNOWN)
        if rule is _UNKNOWN:
            if isinstance(key, str):
                spellings: Tuple[str, ...] = (key,)
                checked = spellings
            elif len(key) == 1:  # a non-ASCII WSGI PATH_INFO
                spellings = wsgi_path_spellings(key[0])
                # The latin-1 spelling (last) holds C1 characters wherever the path holds
                # UTF-8 (é is C3 A9): only the decoded ones are checked. They hold the same
                # ASCII characters and escapes, and every real C1 character.
                checked = spellings[:-1] if len(spellings) > 1 else spellings
            else:
                spellings = checked = asgi_path_spellings(key[0], key[1])
            latin1_last = len(checked) < len(spellings)
            if not is_request_target(path) or any(map(_has_control, checked)):
                rule = REFUSED
            else:
                rule = self._rule_for_spellings(spellings, latin1_last)
            if len(path) <= _PATH_MEMO_MAX_LENGTH:
                if len(self._by_path) >= _PATHS_REMEMBERED:
                    self._by_path.clear()
                self._by_path[key] = rule
        if rule is REFUSED:
            return rule
        if method in self.exempt_methods or (preflight and self.cors_preflight and method == "OPTIONS"):
            return None
        return rule

    def _rule_for_spellings(self, spellings: Tuple[str, ...], latin1_last: bool = False) -> Optional[Rule]:
        if len(spellings) == 1:
            return self._rule_for_path(spellings[0])
        last = len(spellings) - 1
        return _strictest(
            *(self._rule_for_path(spelling, latin1_last and i == last) for i, spelling in enumerate(spellings))
        )

    def _rule_for_path(self, path: str, latin1: bool = False) -> Optional[Rule]:
        spellings = _reparsed_spellings(path)
        if len(spellings) == 1:
            return self._rule_for_one(path, latin1)
        return _strictest(*(self._rule_for_one(spelling, latin1) for spelling in spellings))

    def _rule_for_one(self, path: str, latin1: bool) -> Optional[Rule]:
        # Some routers ignore ASCII case (BlackSheep routes "/API/me" as "/api/me"): the
        # lowercased spellings are matched against the lowercased prefixes too.
        prefixes = self._latin1 if latin1 else self._prefixes
        normal = normalize_path(path)
        if "%" not in path and ".." not in path:  # the common case: one spelling
            rule = self._rule_for_normal(normal, prefixes)
            if latin1:
                return rule
            lower = _ascii_lower(normal)
            if lower == normal and not self._upper_in_prefixes:
                return rule
            return _strictest(rule, self._rule_for_normal(lower, self._folded))
        # Frameworks route on the literal path (Starlette's "/api/{id}" matches "/api/.."),
        # so ".." is also matched as a plain segment, and escapes are matched decoded too.
        spellings = [normal, _literal_path(path)]
        if "%" in path:
            decoded = unquote(path, encoding="latin-1") if latin1 else unquote(path)
            spellings += [normalize_path(decoded), _literal_path(decoded)]
        spellings = list(dict.fromkeys(spellings))
        rule = _strictest(*(self._rule_for_normal(spelling, prefixes) for spelling in spellings))
        if latin1:
            return rule
        folded = [_ascii_lower(spelling) for spelling in spellings]
        if not self._upper_in_prefixes:  # else "/api" must match a "/API" prefix too
            folded = [lower for lower, spelling in zip(folded, spellings) if lower != spelling]
            if not folded:
                return rule
        return _strictest(rule, *(self._rule_for_normal(lower, self._folded) for lower in folded))

    def _rule_for_normal(self, path: str, prefixes: _Prefixes) -> Optional[Rule]:
        for prefix in prefixes.exempt:
            if _under(path, prefix):
                return None
        for prefix, rule in prefixes.scoped:
            if _under(path, prefix):
                return rule
        if prefixes.protect is None or any(_under(path, prefix) for prefix in prefixes.protect):
            return self._default_rule
        return None


Outcome = Union[JWTPayload, AuthFailure]


def _checked(response: ErrorResponse) -> ErrorResponse:
    """``response`` if a server can send it; raises otherwise (the default is sent instead)."""
    if not 100 <= response.status <= 599:
        raise ValueError(f"on_error returned status {response.status}")
    for name, value in response.headers:
        if not isinstance(name, str) or not isinstance(value, str) or not name:
            raise ValueError("on_error headers must be (str, str) pairs")
        if any(ch in "\r\n\0" for ch in name + value):
            raise ValueError("on_error header values must not contain CR, LF or NUL")
        (name + value).encode("latin-1")  # WSGI and ASGI headers are latin-1
    return response


class Guard:
    """The shared core of both middlewares: policy, token extraction, verdict, response.

    Parameters are those of the middlewares; see :class:`~wristband_mw.JwtWsgiMiddleware`.
    """

    def __init__(
        self,
        validator: WristbandJwtValidator,
        *,
        protect: Optional[Iterable[str]] = None,
        exempt: Iterable[str] = (),
        exempt_methods: Iterable[str] = (),
        cors_preflight: bool = True,
        required_scopes: Iterable[str] = (),
        scopes: Optional[Mapping[str, Iterable[str]]] = None,
        optional: bool = False,
        on_error: Optional[OnError] = None,
        realm: Optional[str] = None,
    ) -> None:
        if not isinstance(validator, WristbandJwtValidator):
            raise ValueError("validator must come from create_wristband_jwt_validator(...)")
        if not isinstance(optional, bool):
            raise ValueError("optional must be True or False")
        if on_error is not None and not callable(on_error):
            raise ValueError("on_error must be a callable (failure, environ_or_scope) -> ErrorResponse")
        if realm is None:
            realm = urlsplit(validator.issuer).netloc.rpartition("@")[2] or validator.issuer
        if not isinstance(realm, str) or not realm or not realm.isprintable() or not realm.isascii():
            raise ValueError("realm must be a non-empty printable ASCII string")
        self.validator = validator
        self.policy = AccessPolicy(
            protect=protect,
            exempt=exempt,
            exempt_methods=exempt_methods,
            cors_preflight=cors_preflight,
            required_scopes=required_scopes,
            scopes=scopes,
        )
        self.optional = optional
        self.realm = realm
        self._on_error = on_error
        cooldown = validator.config.jwks_refresh_cooldown
        self.failures = FailureFactory(
            realm, retry_after=min(max(math.ceil(cooldown), 1), 60), retry_after_source=validator.keys_retry_after
        )
        self.bad_path = self.failures.invalid_request(
            "The request path contains control characters or does not start with '/'"
        )
        # Far more than any Bearer header needs; longer ones are refused unparsed.
        self._max_header = validator.config.max_token_bytes + 64
        self._default_responses: Dict[AuthFailure, ErrorResponse] = {}
        self._header_tokens: Dict[Union[str, bytes], str] = {}

    def token_from(self, values: Sequence[Union[str, bytes]]) -> Union[str, AuthFailure, None]:
        """The token in the ``Authorization`` header values, a failure, or ``None`` (anonymous).

        ``values`` holds every Authorization header of the request, as ``str`` (WSGI) or
        raw ``bytes`` (ASGI, decoded here as latin-1 when needed).
        """
        if len(values) == 1:
            known = self._header_tokens.get(values[0])
            if known is not None:  # parsed before: parsing is deterministic, validation is not skipped
                return known
            raw = values[0]
            value = raw.decode("latin-1") if isinstance(raw, bytes) else raw
            if len(value) > self._max_header:
                return self.failures.invalid_token(ErrorCode.TOO_LARGE)
            if "," in value:  # servers join repeated headers with commas; b64token has none
                return self.failures.invalid_request("Multiple authorization headers not allowed")
        elif not values and self.optional:
            return None
        try:
            if len(values) != 1:
                return extract_bearer_token([v.decode("latin-1") if isinstance(v, bytes) else v for v in values])
            token = extract_bearer_token(value)
        except BearerTokenError as exc:
            if exc.missing:
                return None if self.optional else self.failures.no_credentials
            if exc.wrong_scheme:
                return self.failures.no_credentials
            return self.failures.invalid_request(str(exc))
        # A client sends the same header again and again: remember a few (bounded).
        if len(self._header_tokens) >= _HEADERS_REMEMBERED:
            self._header_tokens.clear()
        self._header_tokens[raw] = token
        return token

    def verdict(self, result: JwtValidationResult, rule: Rule) -> Outcome:
        """The claims when ``result`` is valid and carries ``rule``'s scopes, else the failure."""
        payload = result.payload
        if payload is None:
            return self.failures.invalid_token(result.error or ErrorCode.MALFORMED)
        if rule.scopes:
            granted = payload.scopes
            if not all(scope in granted for scope in rule.scopes):
                return self.failures.insufficient_scope(rule.scopes)
        return payload

    @property
    def has_default_renderer(self) -> bool:
        """True when refusals use :func:`default_error_response` (so they can be memoised)."""
        return self._on_error is None

    def response_for(self, failure: AuthFailure, environ_or_scope: Any) -> ErrorResponse:
        """The response to send: the ``on_error`` hook's, or the default JSON one."""
        if self._on_error is not None:
            try:
                status, headers, body = self._on_error(failure, environ_or_scope)
                return _checked(ErrorResponse(int(status), list(headers), bytes(body)))
            except Exception:
                logger.exception("on_error hook failed; sending the default error response")
        response = self._default_responses.get(failure)
        if response is None:
            response = self._default_responses[failure] = default_error_response(failure)
        return response
