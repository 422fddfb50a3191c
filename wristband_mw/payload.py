"""The verified claims (:class:`JWTPayload`) and the outcome of a validation.

A verified payload may be served to many requests from the verified-token cache,
so it is immutable all the way down while keeping its JSON types: arrays are
:class:`FrozenList` (a ``list`` subclass) and objects :class:`FrozenDict` (a ``dict``
subclass), so ``isinstance(v, list)``, ``==``, slicing, ``+`` and ``json.dumps`` work as
with plain JSON, and only mutation raises ``TypeError``. ``to_dict()`` returns an
ordinary, mutable deep copy.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Mapping, NoReturn, Optional, Tuple, Union

from .errors import ErrorCode

__all__ = ["FrozenDict", "FrozenList", "JWTPayload", "JwtValidationResult"]


def _readonly(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError("JWT claims are read-only; use JWTPayload.to_dict() for a copy")


class FrozenDict(Dict[str, Any]):
    """A ``dict`` that refuses mutation; used for JSON objects in claims.

    Example::

        >>> claims = FrozenDict({"roles": FrozenList(["admin"])})
        >>> claims == {"roles": ["admin"]}, isinstance(claims, dict)
        (True, True)
    """

    __slots__ = ()

    __setitem__ = __delitem__ = __ior__ = _readonly
    clear = pop = popitem = setdefault = update = _readonly

    def __reduce__(self) -> Any:  # pickle and copy.copy go through dict(self)
        return (FrozenDict, (dict(self),))


class FrozenList(List[Any]):
    """A ``list`` that refuses mutation; used for JSON arrays in claims.

    Reading, ``==``, slicing and ``+`` behave as for any list (a slice or a sum is a
    new, plain list); changing it in place raises ``TypeError``.

    Example::

        >>> groups = FrozenList(["a", "b"])
        >>> groups == ["a", "b"], groups + ["x"], isinstance(groups, list)
        (True, ['a', 'b', 'x'], True)
    """

    __slots__ = ()

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _readonly
    append = clear = extend = insert = pop = remove = reverse = sort = _readonly

    def __reduce__(self) -> Any:  # pickle and copy.copy go through list(self)
        return (FrozenList, (list(self),))


def freeze(value: Any) -> Any:
    """Return ``value`` with every nested list (or tuple) and dict made immutable."""
    if isinstance(value, (list, tuple)):
        return FrozenList([freeze(item) for item in value])
    if isinstance(value, dict):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    return value


def thaw(value: Any) -> Any:
    """Inverse of :func:`freeze`: plain, mutable lists and dicts again."""
    if isinstance(value, list):
        return [thaw(item) for item in value]
    if isinstance(value, dict):
        return {key: thaw(item) for key, item in value.items()}
    return value


def _split_scopes(value: Any) -> List[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


#: The claims ``JWTPayload.scopes`` reads by default (the middleware's ``scope_claims`` default).
DEFAULT_SCOPE_CLAIMS: Tuple[str, ...] = ("scope", "scp", "permissions")


def scopes_from(claims: Mapping[str, Any], names: Tuple[str, ...]) -> Tuple[str, ...]:
    """The scopes granted by the claims ``names``, in order, without duplicates.

    A claim holds a space-separated string or a list of strings; other values (and
    other list items) grant nothing.

    Example::

        >>> scopes_from({"scope": "a b", "perms": ["c", 1, "a"]}, ("scope", "perms"))
        ('a', 'b', 'c')
    """
    found: Dict[str, None] = {}
    for name in names:
        if name in claims:
            found.update(dict.fromkeys(_split_scopes(claims[name])))
    return tuple(found)


class JWTPayload(Mapping[str, Any]):
    """Read-only view of a token's claims.

    Behaves like the ``JWTPayload`` of ``wristband-python-jwt`` (``JWTPayload(d)``,
    ``JWTPayload(payload_dict=d)``, the ``iss sub aud exp nbf iat jti`` properties,
    ``get``, ``p[key]``, ``key in p``, ``to_dict()``) and is also a full
    ``Mapping``: ``dict(p)``, iteration and ``len`` work.

    ``scopes`` is a tuple of the granted scopes, taken from ``scope`` (a
    space-separated string, RFC 8693) and from ``scp`` and ``permissions`` (lists, or
    space-separated strings), in that order and without duplicates.
    """

    __slots__ = ("_claims", "_scopes")

    def __init__(self, payload_dict: Mapping[str, Any]) -> None:
        claims = payload_dict._claims if isinstance(payload_dict, JWTPayload) else payload_dict
        if not isinstance(claims, Mapping):
            raise TypeError("JWTPayload needs a mapping of claims")
        self._claims: Dict[str, Any] = {str(key): freeze(value) for key, value in claims.items()}
        self._scopes: Optional[Tuple[str, ...]] = None

    # Mapping protocol ---------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._claims[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims)

    def __len__(self) -> int:
        return len(self._claims)

    def __contains__(self, key: object) -> bool:
        return key in self._claims

    def get(self, key: str, default: Any = None) -> Any:
        """Any claim, or ``default`` when it is absent."""
        return self._claims.get(key, default)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JWTPayload):
            return self._claims == other._claims
        if isinstance(other, Mapping):
            return self._claims == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        # Claims only, never the token; sub and iss are enough to recognise it in logs.
        return f"JWTPayload(sub={self.sub!r}, iss={self.iss!r}, claims={len(self._claims)})"

    def to_dict(self) -> Dict[str, Any]:
        """A mutable deep copy of all claims."""
        return {key: thaw(value) for key, value in self._claims.items()}

    # Registered claims (RFC 7519 section 4.1) -----------------------------------------
    @property
    def iss(self) -> Optional[str]:
        """Issuer."""
        return self._claims.get("iss")

    @property
    def sub(self) -> Optional[str]:
        """Subject: the user or machine the token was issued to."""
        return self._claims.get("sub")

    @property
    def aud(self) -> Optional[Union[str, List[str]]]:
        """Audience: a string or a (read-only) list of strings."""
        return self._claims.get("aud")

    @property
    def exp(self) -> Optional[Union[int, float]]:
        """Expiration time, seconds since the epoch."""
        return self._claims.get("exp")

    @property
    def nbf(self) -> Optional[Union[int, float]]:
        """Not-before time, seconds since the epoch."""
        return self._claims.get("nbf")

    @property
    def iat(self) -> Optional[Union[int, float]]:
        """Issued-at time, seconds since the epoch."""
        return self._claims.get("iat")

    @property
    def jti(self) -> Optional[str]:
        """Unique token identifier."""
        return self._claims.get("jti")

    @property
    def scopes(self) -> Tuple[str, ...]:
        """Granted scopes from ``scope``, ``scp`` and ``permissions`` (for the middleware's
        requests: from its ``scope_claims``)."""
        if self._scopes is None:
            self._scopes = scopes_from(self._claims, DEFAULT_SCOPE_CLAIMS)
        return self._scopes

    def _with_scopes_from(self, names: Tuple[str, ...]) -> JWTPayload:
        """The same claims (shared, not copied) whose ``scopes`` come from the claims ``names``."""
        view = payload_of_frozen_claims(self._claims)
        view._scopes = scopes_from(self._claims, names)
        return view


class JwtValidationResult:
    """Outcome of :meth:`WristbandJwtValidator.validate`.

    ``is_valid`` and ``payload`` on success; ``error_message`` (human text, kept
    compatible with ``wristband-python-jwt``) and ``error`` (an :class:`ErrorCode`
    to branch on) on failure. A failed result always has ``payload is None``.
    """

    __slots__ = ("error", "error_message", "is_valid", "payload")

    def __init__(
        self,
        is_valid: bool,
        payload: Optional[JWTPayload] = None,
        error_message: Optional[str] = None,
        error: Optional[ErrorCode] = None,
    ) -> None:
        self.is_valid = is_valid
        self.payload = payload
        self.error_message = error_message
        self.error = error

    @classmethod
    def failure(cls, error: ErrorCode, message: str) -> JwtValidationResult:
        """A failed result."""
        return cls(False, None, message, error)

    def __repr__(self) -> str:
        if self.is_valid:
            return f"JwtValidationResult(is_valid=True, payload={self.payload!r})"
        return f"JwtValidationResult(is_valid=False, error={self.error!s}, error_message={self.error_message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JwtValidationResult):
            return NotImplemented
        return (self.is_valid, self.payload, self.error_message, self.error) == (
            other.is_valid,
            other.payload,
            other.error_message,
            other.error,
        )

    __hash__ = None  # type: ignore[assignment]


def payload_of_frozen_claims(claims: Dict[str, Any]) -> JWTPayload:
    """A :class:`JWTPayload` over ``claims`` as they are, without the constructor's deep copy.

    For claims the token parser has already frozen (every nested list and dict immutable,
    keys strings), such as ``ParsedToken.payload``: the validator's hot path wraps each
    verified token's claims this way once. ``claims`` must not be changed afterwards.

    Example::

        >>> payload = payload_of_frozen_claims({"sub": "user-1", "scope": "read"})
        >>> payload.sub, payload.scopes
        ('user-1', ('read',))
    """
    payload = JWTPayload.__new__(JWTPayload)
    payload._claims = claims
    payload._scopes = None
    return payload
