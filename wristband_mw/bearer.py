"""Extract the token from an ``Authorization: Bearer`` header (RFC 6750 section 2.1).

Messages match Wristband's ``wristband-python-jwt`` word for word, so code that
logs or compares them keeps working. Stricter and kinder than that package:

* the scheme is case-insensitive (RFC 7235 section 2.1), and one or more spaces may
  follow it (RFC 6750 ``"Bearer" 1*SP b64token``);
* the token must match RFC 6750's ``b64token`` grammar, so ``"Bearer abc def"`` is
  refused instead of yielding ``"abc def"``;
* any input type other than ``str`` or a list of ``str`` raises
  :class:`BearerTokenError`, never ``AttributeError`` or ``TypeError``.
"""

from __future__ import annotations

import re
from typing import Sequence, Union

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
    * ``Authorization header must provide "Bearer" token``: another scheme, e.g. Basic;
    * ``No token provided``: ``"Bearer"`` with nothing after it;
    * ``Invalid bearer token format``: the token is not an RFC 6750 ``b64token``.
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
    value = authorization_header
    if value is None:
        raise BearerTokenError(NO_HEADER, missing=True)
    if isinstance(value, (list, tuple)):
        if not value:
            raise BearerTokenError(NO_HEADER, missing=True)
        if len(value) > 1:
            raise BearerTokenError(MULTIPLE_HEADERS)
        value = value[0]
    if not isinstance(value, str):
        raise BearerTokenError(BAD_TYPE)
    return value


def _parse_slowly(header: str) -> str:
    """Work out precisely why ``header`` missed the fast path (or accept it)."""
    if not header.strip():  # blank by str.strip(), as in wristband-python-jwt (newlines, NBSP...)
        raise BearerTokenError(NO_HEADER, missing=True)
    value = header.strip(" \t")
    credentials = _CREDENTIALS.fullmatch(value)
    if credentials is None or credentials.group(1).lower() != "bearer":
        raise BearerTokenError(WRONG_SCHEME, wrong_scheme=True)
    separator, token = credentials.group(2), credentials.group(3)
    if not token:
        raise BearerTokenError(NO_TOKEN)
    if "\t" in separator or _B64TOKEN.fullmatch(token) is None:
        raise BearerTokenError(BAD_FORMAT)
    return token
