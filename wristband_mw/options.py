"""The middleware's options: one frozen, validated object, like the validator's config.

Both adapters take their options as explicit keyword arguments (so users and IDEs see
them) and build one :class:`MiddlewareOptions` from them; every option is checked here
and nowhere else. Fields hold what the caller passed (lists become tuples, a mapping a
read-only copy); what the middleware derives from them (normalised prefixes, method
set, scope lists) is computed from the fields, so ``dataclasses.replace`` re-derives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, FrozenSet, Iterable, List, Mapping, Optional, Tuple, Union
from urllib.parse import unquote, urlsplit

from .authorization import DEFAULT_SCOPE_CLAIMS, ClaimRequirement, RevocationHook, claim_requirements
from .responses import AuthFailure, ErrorResponse
from .sources import AUTHORIZATION, TokenFinder, TokenSource, checked_header_name, normalize_origin, parse_token_sources

__all__ = ["MiddlewareOptions", "OnError", "has_control", "is_under", "normalize_path"]

OnError = Callable[[AuthFailure, Any], Union[ErrorResponse, Tuple[int, List[Tuple[str, str]], bytes]]]

# C0, DEL and C1: no router agrees with another on them (see wristband_mw.policy).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def has_control(path: str) -> bool:
    """True when ``path``, as given or with its percent-escapes decoded, holds a control character."""
    return _CONTROL.search(path) is not None or ("%" in path and _CONTROL.search(unquote(path)) is not None)


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


def _prefix(prefix: object, option: str) -> str:
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise ValueError(f"{option} entries must be path prefixes starting with '/', e.g. '/api'; got {prefix!r}")
    if has_control(prefix):
        raise ValueError(f"{option} entries must not contain control characters; got {prefix!r}")
    return normalize_path(prefix)


def _scope_list(value: object, option: str) -> Tuple[str, ...]:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(
        isinstance(s, str) and s and not any(c.isspace() for c in s) for s in value
    ):
        raise ValueError(f"{option} must be a list of scope names without spaces, e.g. ['orders:read']")
    return tuple(dict.fromkeys(value))


def is_under(path: str, prefix: str) -> bool:
    """True when normalised ``path`` is ``prefix`` or below it, segment by segment."""
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def _access_rules(
    base: Tuple[str, ...],
    scope_rules: Tuple[Tuple[str, Tuple[str, ...]], ...],
    claim_rules: Tuple[Tuple[str, Tuple[ClaimRequirement, ...]], ...],
) -> Tuple[Tuple[str, Tuple[str, ...], Tuple[ClaimRequirement, ...]], ...]:
    # A path's longest prefix among both maps is under its longest prefix of each, so
    # one table over the union answers both (rules are longest first: first match wins).
    prefixes = sorted({p for p, _ in scope_rules} | {p for p, _ in claim_rules}, key=lambda p: -len(p))
    return tuple(
        (
            prefix,
            next((scopes for p, scopes in scope_rules if is_under(prefix, p)), base),
            next((claims for p, claims in claim_rules if is_under(prefix, p)), ()),
        )
        for prefix in prefixes
    )


def _as_tuple(value: object) -> Any:
    # A generator can be read once only: what was passed is kept as a tuple.
    return tuple(value) if isinstance(value, Iterable) and not isinstance(value, (str, bytes, tuple)) else value


def _check_bool(value: object, name: str) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False")


@dataclass(frozen=True)
class MiddlewareOptions:
    """Every option of :class:`~wristband_mw.JwtWsgiMiddleware` and :class:`~wristband_mw.JwtAsgiMiddleware`, checked.

    The adapters build one from their keyword arguments; build one yourself to check a
    configuration up front or to share it. Invalid options raise ``ValueError`` naming
    the option. See the middlewares for what each option does.

    Example::

        >>> options = MiddlewareOptions(protect=["/api/"], scopes={"/api/admin": "admin"})
        >>> options.protect_prefixes, options.scope_rules
        (('/api',), (('/api/admin', ('admin',)),))
    """

    protect: Optional[Tuple[str, ...]] = None
    exempt: Tuple[str, ...] = ()
    exempt_methods: Tuple[str, ...] = ()
    cors_preflight: bool = True
    required_scopes: Union[str, Tuple[str, ...]] = ()
    scopes: Optional[Mapping[str, Any]] = None
    optional: bool = False
    on_error: Optional[OnError] = None
    realm: Optional[str] = None
    websocket_query_param: Optional[str] = None
    prefetch_on_startup: bool = False
    remote_user_header: bool = True
    # Where tokens come from (issue 13 section 1); see wristband_mw.sources.
    token_sources: Tuple[Union[str, TokenFinder], ...] = (AUTHORIZATION,)
    trusted_origins: Tuple[str, ...] = ()
    csrf_header: Optional[str] = None
    # -- authorization beyond scopes (issue 13): see wristband_mw.authorization ------------
    scope_claims: Tuple[str, ...] = DEFAULT_SCOPE_CLAIMS
    admin_scope: Optional[str] = None
    claims: Optional[Mapping[str, Mapping[str, Any]]] = None
    is_revoked: Optional[RevocationHook] = None
    _authorization: Tuple[Any, ...] = field(init=False, repr=False, compare=False, default=())
    # ---------------------------------------------------------------------------------------
    _derived: Tuple[Any, ...] = field(init=False, repr=False, compare=False, default=())
    _source_derived: Tuple[Any, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("protect", "exempt", "exempt_methods"):
            value = getattr(self, name)
            if value is None and name == "protect":
                continue
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                raise ValueError("protect, exempt and exempt_methods take lists, e.g. protect=['/api']")
            set_(self, name, _as_tuple(value))
        if not isinstance(self.required_scopes, str):
            set_(self, "required_scopes", _as_tuple(self.required_scopes))
        if self.scopes is not None:
            if not isinstance(self.scopes, Mapping):
                raise ValueError("scopes must map path prefixes to scope lists, e.g. {'/api/admin': ['admin']}")
            set_(self, "scopes", MappingProxyType({k: _as_tuple(v) for k, v in self.scopes.items()}))
        # Derived values, computed (and so checked) once; see the properties below.
        protect = None if self.protect is None else tuple(_prefix(p, "protect") for p in self.protect)
        exempt = tuple(_prefix(p, "exempt") for p in self.exempt)
        if not all(isinstance(m, str) and m.isalpha() for m in self.exempt_methods):
            raise ValueError("exempt_methods must be HTTP method names, e.g. ['OPTIONS', 'HEAD']")
        _check_bool(self.cors_preflight, "cors_preflight")
        base = _scope_list(self.required_scopes, "required_scopes")
        by_prefix = {_prefix(p, "scopes"): _scope_list(s, "scopes values") for p, s in (self.scopes or {}).items()}
        # Longest prefix first, so the first match is the most specific one.
        scope_rules = tuple(
            (prefix, tuple(dict.fromkeys(base + extra)))
            for prefix, extra in sorted(by_prefix.items(), key=lambda item: -len(item[0]))
        )
        _check_bool(self.optional, "optional")
        if self.on_error is not None and not callable(self.on_error):
            raise ValueError("on_error must be a callable (failure, environ_or_scope) -> ErrorResponse")
        realm = self.realm
        if realm is not None and (
            not isinstance(realm, str) or not realm or not realm.isprintable() or not realm.isascii()
        ):
            raise ValueError("realm must be a non-empty printable ASCII string")
        query = self.websocket_query_param
        if query is not None and (not isinstance(query, str) or not query):
            raise ValueError("websocket_query_param must be a query parameter name such as 'access_token', or None")
        _check_bool(self.prefetch_on_startup, "prefetch_on_startup")
        _check_bool(self.remote_user_header, "remote_user_header")
        self._check_sources()
        set_(self, "_derived", (protect, exempt, frozenset(m.upper() for m in self.exempt_methods), base, scope_rules))
        self._check_authorization(set_)

    def _check_authorization(self, set_: Any) -> None:
        """``scope_claims``, ``admin_scope``, ``claims`` and ``is_revoked``; derives the claim rules."""
        names = self.scope_claims
        if isinstance(names, str) or not isinstance(names, Iterable):
            raise ValueError(
                "scope_claims must be a list of claim names, e.g. ['scope', 'scp', 'permissions', 'perms']"
            )
        names = tuple(names)
        if not names or not all(isinstance(name, str) and name for name in names):
            raise ValueError("scope_claims must be a non-empty list of claim names, e.g. ['scope', 'perms']")
        set_(self, "scope_claims", tuple(dict.fromkeys(names)))
        admin = self.admin_scope
        if admin is not None and (not isinstance(admin, str) or not admin or any(c.isspace() for c in admin)):
            raise ValueError("admin_scope must be one scope name without spaces, e.g. 'admin', or None")
        if self.is_revoked is not None and not callable(self.is_revoked):
            raise ValueError("is_revoked must be a callable (claims) -> bool (sync or async), or None")
        if self.claims is not None and not isinstance(self.claims, Mapping):
            raise ValueError(
                "claims must map path prefixes to required claims, e.g. {'/api/tenant': {'tnt_id': 't-1'}}"
            )
        by_prefix = {_prefix(p, "claims"): claim_requirements(rules, p) for p, rules in (self.claims or {}).items()}
        if self.claims is not None:
            set_(self, "claims", MappingProxyType({p: MappingProxyType(dict(r)) for p, r in self.claims.items()}))
        claim_rules = tuple(sorted(by_prefix.items(), key=lambda item: -len(item[0])))
        set_(self, "_authorization", (claim_rules, _access_rules(self.base_scopes, self.scope_rules, claim_rules)))

    @property
    def claim_rules(self) -> Tuple[Tuple[str, Tuple[ClaimRequirement, ...]], ...]:
        """``(prefix, requirements)`` pairs from ``claims``, longest prefix first."""
        return self._authorization[0]  # type: ignore[no-any-return]

    @property
    def access_rules(self) -> Tuple[Tuple[str, Tuple[str, ...], Tuple[ClaimRequirement, ...]], ...]:
        """``(prefix, scopes, claim requirements)`` for every prefix of ``scopes`` and ``claims``, longest first.

        ``scopes`` and ``claims`` are matched independently, each by its longest matching
        prefix, and a request must satisfy both: a prefix of either gets the scopes of its
        longest ``scopes`` prefix (or ``required_scopes``) and the requirements of its
        longest ``claims`` prefix (or none).
        """
        return self._authorization[1]  # type: ignore[no-any-return]

    def _check_sources(self) -> None:
        set_ = object.__setattr__
        for name in ("token_sources", "trusted_origins"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                raise ValueError(f"{name} takes a list, e.g. token_sources=['authorization', 'cookie:__Host-at']")
            set_(self, name, _as_tuple(value))
        sources = parse_token_sources(self.token_sources, self.websocket_query_param)
        has_cookie = any(source.kind == "cookie" for source in sources)
        origins = frozenset(normalize_origin(origin) for origin in self.trusted_origins)
        csrf_header = self.csrf_header
        if csrf_header is not None:
            if not isinstance(csrf_header, str):
                raise ValueError("csrf_header must be a header name such as 'X-Requested-With', or None")
            csrf_header = checked_header_name(csrf_header, f"csrf_header {csrf_header!r}")
        if (origins or csrf_header is not None) and not has_cookie:
            raise ValueError("trusted_origins and csrf_header apply to cookie sources only: add 'cookie:NAME'")
        set_(self, "_source_derived", (sources, origins, csrf_header))

    # -- derived values ------------------------------------------------------------------
    @property
    def sources(self) -> Tuple[TokenSource, ...]:
        """``token_sources`` parsed, with ``websocket_query_param`` as a ``query:`` source."""
        return self._source_derived[0]  # type: ignore[no-any-return]

    @property
    def trusted_origin_set(self) -> FrozenSet[str]:
        """``trusted_origins`` normalised (lower-case, no default port)."""
        return self._source_derived[1]  # type: ignore[no-any-return]

    @property
    def csrf_header_name(self) -> Optional[str]:
        """``csrf_header`` in lower case, or ``None``."""
        return self._source_derived[2]  # type: ignore[no-any-return]

    @property
    def protect_prefixes(self) -> Optional[Tuple[str, ...]]:
        """``protect`` normalised (``None``: every path)."""
        return self._derived[0]  # type: ignore[no-any-return]

    @property
    def exempt_prefixes(self) -> Tuple[str, ...]:
        """``exempt`` normalised."""
        return self._derived[1]  # type: ignore[no-any-return]

    @property
    def exempt_method_set(self) -> FrozenSet[str]:
        """``exempt_methods`` upper-cased."""
        return self._derived[2]  # type: ignore[no-any-return]

    @property
    def base_scopes(self) -> Tuple[str, ...]:
        """``required_scopes`` as a tuple without duplicates."""
        return self._derived[3]  # type: ignore[no-any-return]

    @property
    def scope_rules(self) -> Tuple[Tuple[str, Tuple[str, ...]], ...]:
        """``(prefix, scopes)`` pairs, longest prefix first; each includes ``required_scopes``."""
        return self._derived[4]  # type: ignore[no-any-return]

    def realm_for(self, issuer: str) -> str:
        """``realm``, or by default the issuer's host (the issuer itself if it has none)."""
        realm = self.realm if self.realm is not None else urlsplit(issuer).netloc.rpartition("@")[2] or issuer
        if not realm:  # e.g. a MultiIssuerValidator with only a resolver: no issuer to name it after
            raise ValueError("realm: the validator names no issuer; pass realm='api.example.com'")
        if not realm.isprintable() or not realm.isascii():
            raise ValueError("realm must be a non-empty printable ASCII string")
        return realm
