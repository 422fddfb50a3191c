"""Error codes and exceptions shared by every layer of the package.

``ErrorCode`` is what callers branch on: the validator puts one in every failed
:class:`~wristband_mw.JwtValidationResult`, and the middleware maps each one to an
HTTP status. Messages are for humans; codes are the contract.
"""

from __future__ import annotations

import enum

__all__ = ["BearerTokenError", "ErrorCode", "JwksError", "TokenParseError", "WristbandMwError", "safe_echo"]

MAX_ECHO = 64


class ErrorCode(str, enum.Enum):
    """Why a token was refused. A ``str`` enum: ``ErrorCode.EXPIRED == "expired"``."""

    #: No token at all (``None`` or an empty string).
    MISSING_TOKEN = "missing_token"
    #: Not a compact JWS: wrong number of segments, non-canonical base64url, JSON that is
    #: not an object or has duplicate members, or a header feature this package refuses
    #: (``crit``, ``b64``, ``zip``, ``enc``).
    MALFORMED = "malformed"
    #: Longer than ``max_token_bytes``; refused before any decoding.
    TOO_LARGE = "too_large"
    #: ``alg`` missing, not on the allow-list, or not the algorithm its key is for.
    DISALLOWED_ALGORITHM = "disallowed_algorithm"
    #: JOSE ``typ`` is not the configured access-token type (RFC 9068 ``at+jwt``).
    INVALID_TYPE = "invalid_type"
    #: ``iss`` missing or not exactly the configured issuer.
    INVALID_ISSUER = "invalid_issuer"
    #: An audience is configured and ``aud`` does not contain it.
    INVALID_AUDIENCE = "invalid_audience"
    #: ``now >= exp + leeway``.
    EXPIRED = "expired"
    #: ``now < nbf - leeway``.
    NOT_YET_VALID = "not_yet_valid"
    #: A required claim or header parameter is absent (``exp``, ``aud``, ``kid``).
    MISSING_CLAIM = "missing_claim"
    #: A claim or header parameter has the wrong type or an impossible value.
    INVALID_CLAIM = "invalid_claim"
    #: No usable key with the token's ``kid``, even after a fresh JWKS fetch.
    UNKNOWN_KEY = "unknown_key"
    #: The JWKS could not be fetched and the key is not cached (HTTP 503 territory).
    KEYS_UNAVAILABLE = "keys_unavailable"
    #: The RS256 signature does not verify.
    INVALID_SIGNATURE = "invalid_signature"

    def __str__(self) -> str:
        return self.value


class WristbandMwError(Exception):
    """The base of every exception this package raises: ``except WristbandMwError`` catches them all.

    Each one also derives from the built-in exception it always was (``ValueError`` or
    ``RuntimeError``), so existing ``except ValueError`` code keeps working::

        try:
            token = extract_bearer_token(header)
        except WristbandMwError as exc:  # BearerTokenError
            ...
    """


class BearerTokenError(WristbandMwError, ValueError):
    """The ``Authorization`` header does not carry exactly one well-formed Bearer token.

    ``missing`` is true when there was no credential at all (no header, or an empty
    one): RFC 6750 answers that with a bare challenge rather than ``invalid_request``.
    ``wrong_scheme`` is true when the header uses another scheme, such as ``Basic``.
    """

    def __init__(self, message: str, *, missing: bool = False, wrong_scheme: bool = False) -> None:
        super().__init__(message)
        self.missing = missing
        self.wrong_scheme = wrong_scheme


class JwksError(WristbandMwError, RuntimeError):
    """The JWKS could not be fetched or holds no usable key (raised by ``prefetch``)."""


class TokenParseError(WristbandMwError, ValueError):
    """The token is refused before any key is involved.

    ``str()`` is a message safe to show; ``code`` is ``malformed``, or ``invalid_claim``
    for a number that overflows to infinity (``1e400``).
    """

    def __init__(self, message: str, code: ErrorCode = ErrorCode.MALFORMED) -> None:
        super().__init__(message)
        self.code = code


def safe_echo(value: object, limit: int = MAX_ECHO) -> str:
    """Render a value taken from a token for a message: printable ASCII, truncated.

    Tokens are attacker-controlled; anything echoed into a log line or an error
    message must not carry control characters, newlines or unbounded length.
    """
    text = value if isinstance(value, str) else repr(value)
    text = text[: limit + 1]  # bound the escaping work; one extra to know it was cut
    if not (text.isascii() and text.isprintable()):
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "..."
