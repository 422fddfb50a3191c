"""Every refusal the middleware sends, in one place (RFC 6750 section 3).

Both adapters turn a refusal into an :class:`AuthFailure` and hand it to the
``on_error`` hook (by default :func:`default_error_response`), which returns an
:class:`ErrorResponse`. Descriptions are fixed, short and safe: never the token,
never a value an attacker chose, never a traceback.

==========================================================  ======  =================================
case                                                        status  ``WWW-Authenticate``
==========================================================  ======  =================================
no Authorization header, or a scheme other than Bearer      401     ``Bearer realm="..."``
malformed Bearer header (no token, bad characters, several)  400     ``..., error="invalid_request"``
token fails validation (any reason)                         401     ``..., error="invalid_token"``
valid token without a required scope                        403     ``..., error="insufficient_scope"``
signing keys unavailable (JWKS down, key not cached)        503     none; ``Retry-After`` instead
cookie token on an unsafe request from an untrusted origin   403     ``..., error="csrf_refused"``
==========================================================  ======  =================================
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from .cache import BoundedMemo
from .errors import ErrorCode

__all__ = ["AuthFailure", "ErrorResponse", "default_error_response", "quote_header_value"]

Headers = List[Tuple[str, str]]

# What a client may be told about each validation failure.
TOKEN_DESCRIPTIONS: Dict[ErrorCode, str] = {
    ErrorCode.MISSING_TOKEN: "No access token was provided",
    ErrorCode.MALFORMED: "The access token is malformed",
    ErrorCode.TOO_LARGE: "The access token is too large",
    ErrorCode.DISALLOWED_ALGORITHM: "The access token is signed with an algorithm that is not allowed",
    ErrorCode.INVALID_TYPE: "The token is not an access token",
    ErrorCode.INVALID_ISSUER: "The access token was issued by an untrusted issuer",
    ErrorCode.INVALID_AUDIENCE: "The access token is not intended for this service",
    ErrorCode.EXPIRED: "The access token expired",
    ErrorCode.NOT_YET_VALID: "The access token is not valid yet",
    ErrorCode.MISSING_CLAIM: "The access token lacks a required claim",
    ErrorCode.INVALID_CLAIM: "The access token has an invalid claim",
    ErrorCode.UNKNOWN_KEY: "The access token is signed with an unknown key",
    ErrorCode.KEYS_UNAVAILABLE: "The signing keys are temporarily unavailable; retry later",
    ErrorCode.INVALID_SIGNATURE: "The access token signature is invalid",
}


def quote_header_value(value: str) -> str:
    """An RFC 7230 ``quoted-string`` for ``value``: printable ASCII, ``\\`` and ``"`` escaped."""
    safe = "".join(ch if " " <= ch <= "~" else "?" for ch in value)
    return '"' + safe.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class AuthFailure:
    """Why a request is refused, as the ``on_error`` hook receives it.

    Unpacks as ``status, error, description, code = failure``.

    Attributes:
        status: 400, 401, 403 or 503.
        error: the RFC 6750 error code (``invalid_request``, ``invalid_token``,
            ``insufficient_scope``), or ``None`` for a bare challenge and for 503.
        description: a short, safe human description.
        code: the validator's :class:`ErrorCode` (``None`` for a missing scope, a
            ``claims=`` rule not met, and a revoked token or a failed revocation check).
        scopes: the scopes the request needs (for 403), else empty.
        headers: the ``WWW-Authenticate`` or ``Retry-After`` header to send, ready-made.
    """

    status: int
    error: Optional[str]
    description: str
    code: Optional[ErrorCode]
    scopes: Tuple[str, ...] = ()
    headers: Tuple[Tuple[str, str], ...] = ()

    def __iter__(self) -> Iterator[Any]:
        return iter((self.status, self.error, self.description, self.code))


class ErrorResponse(NamedTuple):
    """What the middleware sends: status, headers and body bytes."""

    status: int
    headers: Headers
    body: bytes


def challenge(
    realm: str, error: Optional[str] = None, description: Optional[str] = None, scopes: Sequence[str] = ()
) -> Tuple[str, str]:
    """The ``WWW-Authenticate`` header for a Bearer challenge."""
    params = [f"realm={quote_header_value(realm)}"]
    if error is not None:
        params.append(f"error={quote_header_value(error)}")
    if description is not None:
        params.append(f"error_description={quote_header_value(description)}")
    if scopes:
        params.append(f"scope={quote_header_value(' '.join(scopes))}")
    return ("WWW-Authenticate", "Bearer " + ", ".join(params))


class FailureFactory:
    """Builds the :class:`AuthFailure` for each case, with challenges prepared once."""

    def __init__(
        self, realm: str, retry_after: int, retry_after_source: Optional[Callable[[], Optional[float]]] = None
    ) -> None:
        self.realm = realm
        self.retry_after = retry_after
        # While JWKS fetches fail, the key store's back-off says when to come back.
        self._retry_after_source = retry_after_source
        self._unavailable_by_seconds: BoundedMemo[int, AuthFailure] = BoundedMemo(64)
        self.no_credentials = AuthFailure(
            401, None, "Authentication required", ErrorCode.MISSING_TOKEN, (), (challenge(realm),)
        )
        self._token_failures = {code: self._token_failure(code) for code in ErrorCode}

    def _token_failure(self, code: ErrorCode) -> AuthFailure:
        description = TOKEN_DESCRIPTIONS[code]
        if code is ErrorCode.KEYS_UNAVAILABLE:
            return AuthFailure(503, None, description, code, (), (("Retry-After", str(self.retry_after)),))
        if code is ErrorCode.MISSING_TOKEN:
            return self.no_credentials
        return AuthFailure(
            401, "invalid_token", description, code, (), (challenge(self.realm, "invalid_token", description),)
        )

    def invalid_token(self, code: ErrorCode) -> AuthFailure:
        """The token was refused by the validator."""
        if code is ErrorCode.KEYS_UNAVAILABLE and self._retry_after_source is not None:
            remaining = self._retry_after_source()
            if remaining is not None:
                return self._unavailable_for(max(1, math.ceil(remaining)))
        return self._token_failures[code]

    def _unavailable_for(self, seconds: int) -> AuthFailure:
        # The back-off never exceeds the cool-down, so few distinct values exist.
        failure = self._unavailable_by_seconds.get(seconds)
        if failure is None:
            description = TOKEN_DESCRIPTIONS[ErrorCode.KEYS_UNAVAILABLE]
            headers = (("Retry-After", str(seconds)),)
            failure = self._unavailable_by_seconds.put(
                seconds, AuthFailure(503, None, description, ErrorCode.KEYS_UNAVAILABLE, (), headers)
            )
        return failure

    def invalid_request(self, description: str) -> AuthFailure:
        """The Authorization header is malformed (400)."""
        return AuthFailure(
            400,
            "invalid_request",
            description,
            ErrorCode.MALFORMED,
            (),
            (challenge(self.realm, "invalid_request", description),),
        )

    def insufficient_scope(self, scopes: Tuple[str, ...]) -> AuthFailure:
        """A valid token lacks one of ``scopes`` (403)."""
        description = "The access token lacks a required scope"
        return AuthFailure(
            403,
            "insufficient_scope",
            description,
            None,
            scopes,
            (challenge(self.realm, "insufficient_scope", description, scopes),),
        )

    def claims_refused(self) -> AuthFailure:
        """A valid token's claims do not meet the path's ``claims=`` rule (403).

        The description is fixed: it never names the claim or echoes a value.
        """
        description = "The access token's claims do not permit this request"
        return self._challenged(403, "insufficient_scope", description)

    def revoked(self, checked: bool = True) -> AuthFailure:
        """The ``is_revoked`` hook said the token is revoked (``checked``), or could not answer (401)."""
        description = "token revoked" if checked else "The token's revocation status could not be checked"
        return self._challenged(401, "invalid_token", description)

    def cross_site_refused(self) -> AuthFailure:
        """A cookie token on an unsafe request without a trusted origin or the CSRF header (403).

        The description is fixed: it never echoes the request's ``Origin`` or ``Referer``.
        """
        return self._challenged(403, "csrf_refused", CSRF_DESCRIPTION)

    def _challenged(self, status: int, error: str, description: str) -> AuthFailure:
        """A refusal of the middleware's own (no ErrorCode, no scopes) with its Bearer challenge."""
        return AuthFailure(status, error, description, None, (), (challenge(self.realm, error, description),))


CSRF_DESCRIPTION = "Cross-site request refused: a cookie token needs a trusted Origin or the CSRF header"

_BODY_ERROR_FOR_STATUS = {401: "unauthorized", 503: "temporarily_unavailable"}


def default_error_response(failure: AuthFailure) -> ErrorResponse:
    """The JSON response for ``failure``: ``{"error": ..., "error_description": ...}``."""
    error = failure.error or _BODY_ERROR_FOR_STATUS.get(failure.status, "unauthorized")
    body = json.dumps({"error": error, "error_description": failure.description}).encode("utf-8")
    headers: Headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        *failure.headers,
    ]
    return ErrorResponse(failure.status, headers, body)
