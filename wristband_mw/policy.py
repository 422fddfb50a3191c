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

The policy is built from a checked :class:`~wristband_mw.options.MiddlewareOptions`;
the request flow that consults it is :mod:`wristband_mw.flow`.
"""

from __future__ import annotations

import re
from contextlib import suppress
from typing import Any, Callable, FrozenSet, Iterable, Mapping, Optional, Tuple, Union
from urllib.parse import unquote, urlsplit

from .authorization import ClaimRequirement
from .cache import BoundedMemo
from .options import MiddlewareOptions, has_control, is_under, normalize_path

__all__ = [
    "REFUSED",
    "AccessPolicy",
    "Rule",
    "asgi_path_spellings",
    "is_request_target",
    "normalize_path",
    "wsgi_path_spellings",
]


def _literal_path(path: str) -> str:
    """``path`` with repeated slashes collapsed and ``.`` dropped, but ``..`` kept as a segment."""
    return "/" + "/".join(segment for segment in path.split("/") if segment not in ("", "."))


_has_control = has_control


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
    return Rule(
        tuple(dict.fromkeys(scope for rule in found for scope in rule.scopes)),
        tuple(dict.fromkeys(claim for rule in found for claim in rule.claims)),
    )


_under = is_under


class Rule:
    """What a protected request needs: a valid token, these scopes, and these claims (``claims=``)."""

    __slots__ = ("claims", "scopes")

    def __init__(self, scopes: Tuple[str, ...], claims: Tuple[ClaimRequirement, ...] = ()) -> None:
        self.scopes = scopes
        self.claims = claims

    def __repr__(self) -> str:
        if self is REFUSED:
            return "REFUSED"
        return (
            f"Rule(scopes={self.scopes!r}, claims={self.claims!r})" if self.claims else f"Rule(scopes={self.scopes!r})"
        )


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


REFUSED = Rule(())
"""The rule for a path holding a control character, or no request target: refused with 400, whatever the method."""
_PATHS_REMEMBERED = 1024
_PATH_MEMO_MAX_LENGTH = 256
# Memo values: a path's rule, or this for "no token needed" (a memo cannot store None).
_NO_RULE = Rule(())


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
        options = MiddlewareOptions(
            protect=protect,  # type: ignore[arg-type]  # checked and turned into a tuple there
            exempt=exempt,  # type: ignore[arg-type]
            exempt_methods=exempt_methods,  # type: ignore[arg-type]
            cors_preflight=cors_preflight,
            required_scopes=required_scopes,  # type: ignore[arg-type]
            scopes=scopes,
        )
        self._init_from(options)

    @classmethod
    def from_options(cls, options: MiddlewareOptions) -> AccessPolicy:
        """The policy for checked middleware options."""
        policy = cls.__new__(cls)
        policy._init_from(options)
        return policy

    def _init_from(self, options: MiddlewareOptions) -> None:
        self.protect: Optional[Tuple[str, ...]] = options.protect_prefixes
        self.exempt = options.exempt_prefixes
        self.exempt_methods: FrozenSet[str] = options.exempt_method_set
        self.cors_preflight = options.cors_preflight
        self._scoped: Tuple[Tuple[str, Rule], ...] = tuple(
            (prefix, Rule(rule_scopes, rule_claims)) for prefix, rule_scopes, rule_claims in options.access_rules
        )
        self._default_rule = Rule(options.base_scopes)
        # The same prefixes as a WSGI app routing on the raw PATH_INFO sees them (PEP 3333:
        # UTF-8 bytes as latin-1), for matching that spelling: "/café" is "/cafÃ©" there.
        self._latin1 = _Prefixes(self.protect, self.exempt, self._scoped, _pep3333)
        self._prefixes = _Prefixes(self.protect, self.exempt, self._scoped, None)
        self._folded = _Prefixes(self.protect, self.exempt, self._scoped, _ascii_lower)
        self._upper_in_prefixes = any(
            prefix != _ascii_lower(prefix)
            for prefix in (*(self.protect or ()), *self.exempt, *(prefix for prefix, _ in self._scoped))
        )
        # Most traffic hits a few paths: their rules, by path (bounded in number and length).
        self._by_path: BoundedMemo[Union[str, Tuple[str, ...]], Rule] = BoundedMemo(_PATHS_REMEMBERED)

    def remembers(self, path: str, root_path: str = "") -> bool:
        """Whether the rule for ``path`` (an ASCII path, or an ASGI path under ``root_path``) is memoised."""
        return (path if not root_path else (path, root_path)) in self._by_path

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
        rule = self._by_path.get(key)
        if rule is None:
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
                rule = self._rule_for_spellings(spellings, latin1_last) or _NO_RULE
            if len(path) <= _PATH_MEMO_MAX_LENGTH:
                self._by_path.put(key, rule)
        if rule is REFUSED:
            return rule
        if rule is _NO_RULE:
            return None
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


def __getattr__(name: str) -> Any:
    # Guard moved to wristband_mw.flow (which imports this module): imported on first use.
    if name == "Guard":
        from .flow import Guard

        return Guard
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
