"""Extract the token from an ``Authorization: Bearer`` header (RFC 6750 section 2.1).

Messages match Wristband's ``wristband-python-jwt`` word for word, so code that
logs or compares them keeps working. Stricter and kinder than that package:

* the scheme is case-insensitive (RFC 7235 section 2.1), and one or more spaces may
  follow it (RFC 6750 ``"Bearer" 1*SP b64token``);
* the token must match RFC 6750's ``b64token`` grammar, so ``"Bearer abc def"`` is
  refused instead of yielding ``"abc def"``;
* any input other than ``str`` or a one-item list of ``str`` raises
  :class:`BearerTokenError`, never ``AttributeError``, ``TypeError`` or whatever a
  hostile ``__bool__``, ``__len__``, ``__str__`` or ``__class__`` would raise: only
  the built-in types' own methods are ever called on the input.
"""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence, Union

from .errors import BearerTokenError

__all__ = ["extract_bearer_token", "is_b64token"]

NO_HEADER = "No authorization header provided"
MULTIPLE_HEADERS = "Multiple authorization headers not allowed"
WRONG_SCHEME = 'Authorization header must provide "Bearer" token'
NO_TOKEN = "No token provided"
BAD_FORMAT = "Invalid bearer token format"
BAD_TYPE = "Authorization header must be a str or a list of str"

AuthorizationHeader = Union[str, Sequence[str], None]

# The common case in one match: scheme, 1*SP, b64token (RFC 6750 section 2.1).
_FAST_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# RFC 7230 tchar for the scheme, then optional whitespace and the rest.
_CREDENTIALS = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:([ \t]+)(.*))?", re.DOTALL)


def extract_bearer_token(authorization_header: AuthorizationHeader) -> str:
    """Return the token of a single ``Authorization: Bearer <token>`` header.

    ``authorization_header`` is the header value, or a list of values when the
    framework collects repeated headers. Raises :class:`BearerTokenError` (a
    ``ValueError``) with one of these messages:

    * ``No authorization header provided``: ``None``, ``""``, ``[]``, ``[""]`` or blanks;
    * ``Multiple authorization headers not allowed``: a list of two or more values;
    * ``Authorization header must provide "Bearer" token``: another scheme, e.g. Basic,
      or ``"Bearer"`` alone (the scheme without the space that must follow it);
    * ``No token provided``: ``"Bearer "`` with nothing after the space;
    * ``Invalid bearer token format``: the token is not an RFC 6750 ``b64token``;
    * ``Authorization header must be a str or a list of str``: anything else.

    Example::

        >>> extract_bearer_token("Bearer eyJhbGciOi.eyJzdWIi.c2ln")
        'eyJhbGciOi.eyJzdWIi.c2ln'
        >>> extract_bearer_token(["bearer  abc"])
        'abc'
    """
    header = _single_value(authorization_header)
    fast = _FAST_BEARER.fullmatch(header)
    if fast is not None:
        return fast.group(1)
    return _parse_slowly(header)


def is_b64token(value: str) -> bool:
    """True when ``value`` matches RFC 6750's ``b64token`` grammar."""
    return _B64TOKEN.fullmatch(value) is not None


def _single_value(authorization_header: object) -> str:
    # type() and the built-in types' own methods only: a subclass's __bool__, __len__,
    # __getitem__ or __class__ may lie or raise, and none of it may escape.
    value: Any = authorization_header
    if value is None:
        raise BearerTokenError(NO_HEADER, missing=True)
    kind = type(value)  # the real type decides; isinstance() would consult __class__
    items: Optional[Sequence[object]] = None
    if issubclass(kind, list):
        items = list.__getitem__(value, slice(0, 2))
    elif issubclass(kind, tuple):
        items = tuple.__getitem__(value, slice(0, 2))
    if items is not None:
        if not items:
            raise BearerTokenError(NO_HEADER, missing=True)
        if len(items) > 1:
            raise BearerTokenError(MULTIPLE_HEADERS)
        value = items[0]
        kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if not issubclass(kind, str):
        raise BearerTokenError(BAD_TYPE)
    return str.__str__(value)  # a plain copy: no overridden method of a subclass is called


def _parse_slowly(header: str) -> str:
    """Work out precisely why ``header`` missed the fast path (or accept it)."""
    if not header.strip():  # blank by str.strip(), as in wristband-python-jwt (newlines, NBSP...)
        raise BearerTokenError(NO_HEADER, missing=True)
    credentials = _CREDENTIALS.fullmatch(header.lstrip(" \t"))
    if credentials is None or credentials.group(1).lower() != "bearer":
        raise BearerTokenError(WRONG_SCHEME, wrong_scheme=True)
    if credentials.group(2) is None:
        # "Bearer" alone: the seed's message (no "Bearer " prefix), but the scheme is
        # right, so a middleware answers 400 invalid_request, not a bare challenge.
        raise BearerTokenError(WRONG_SCHEME)
    separator, token = credentials.group(2), credentials.group(3).rstrip(" \t")
    if not token:
        raise BearerTokenError(NO_TOKEN)
    if "\t" in separator or _B64TOKEN.fullmatch(token) is None:
        raise BearerTokenError(BAD_FORMAT)
    return token
