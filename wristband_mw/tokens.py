"""Structural parsing of a compact JWS, before any key or signature is involved.

Everything here is cheap and strict, so forged garbage is refused in microseconds
and never reaches python-jose or the network:

* the token is one string of at most ``max_token_bytes`` characters, checked before
  any other work;
* exactly three segments of canonical base64url: no padding, no ``+`` or ``/``, no
  whitespace and no non-zero trailing bits, so every token has exactly one spelling;
* header and payload are UTF-8 JSON objects with no duplicate member names (a
  verifier and an application that disagree about a claim is how bypasses start), no
  ``NaN`` or ``Infinity``, and nested no deeper than :data:`MAX_JSON_DEPTH`;
* the work a forged token can cause is bounded before the JSON is parsed: at most
  :data:`MAX_JSON_CONTAINERS` ``[``/``{`` bytes, :data:`MAX_JSON_COMMAS` commas and
  :data:`MAX_JSON_DOTS` dots per segment (counted in C, strings included, so a count
  only errs towards refusing), and number literals of bounded length.
  Parsing cost grows with the number of values, not with bytes; these bounds keep any
  token of ``max_token_bytes`` within about twice a valid token's validation, while a
  Wristband access token uses about 2 containers and 15 commas.
"""

from __future__ import annotations

import binascii
from typing import Any, Dict, Optional, Tuple, Union

from .errors import ErrorCode, TokenParseError
from .payload import thaw
from .strictjson import (
    B64URL_ALPHABET,
    MAX_INT_CHARS,
    MAX_JSON_COMMAS,
    MAX_JSON_CONTAINERS,
    MAX_JSON_DEPTH,
    MAX_JSON_DOTS,
    MAX_NUMBER_CHARS,
    MAX_PLAIN_NUMBER_CHARS,
    NumberOutOfRangeError,
    b64url_decode,
    check_depth,
    strict_json_object,
    token_json,
)

__all__ = [
    "MAX_JSON_COMMAS",
    "MAX_JSON_CONTAINERS",
    "MAX_JSON_DEPTH",
    "MAX_JSON_DOTS",
    "MAX_INT_CHARS",
    "MAX_NUMBER_CHARS",
    "MAX_PLAIN_NUMBER_CHARS",
    "ParsedToken",
    "TokenParseError",
    "b64url_decode",
    "decode_unverified",
    "check_depth",
    "parse_token",
    "token_bytes",
    "strict_json_object",
]


class ParsedToken:
    """A structurally valid JWS: decoded payload and signature, and what to verify.

    The header is decoded on first access (raising :class:`TokenParseError` if it is
    not a JSON object): the validator checks each distinct encoded header once and
    remembers the verdict by ``header_segment``, so it rarely needs the header itself.
    The payload is decoded by :func:`parse_token`, or on first access when it was
    parsed with ``lazy_payload=True`` (then access may raise :class:`TokenParseError`).
    """

    __slots__ = ("_header", "_payload", "header_segment", "payload_segment", "signature", "signing_input")

    def __init__(
        self,
        header_segment: bytes,
        payload: Optional[Dict[str, Any]],
        signing_input: bytes,
        signature: bytes,
        payload_segment: bytes = b"",
    ) -> None:
        self.header_segment = header_segment
        self.payload_segment = payload_segment
        self.signing_input = signing_input
        self.signature = signature
        self._header: Optional[Dict[str, Any]] = None
        self._payload = payload

    @property
    def payload(self) -> Dict[str, Any]:
        """The claims, decoded now if they have not been yet."""
        if self._payload is None:
            self._payload = _decode_segment(self.payload_segment)
        return self._payload

    @property
    def header(self) -> Dict[str, Any]:
        """The JOSE header, decoded now if it has not been yet."""
        if self._header is None:
            self._header = _decode_segment(self.header_segment)
        return self._header


def _decode_segment(segment: bytes) -> Dict[str, Any]:
    """A base64url segment holding a JSON object, or the :class:`TokenParseError` to report."""
    try:
        return token_json(b64url_decode(segment))
    except NumberOutOfRangeError:
        raise TokenParseError("Invalid claim: a JSON number is out of range", ErrorCode.INVALID_CLAIM) from None
    except (ValueError, binascii.Error):
        raise TokenParseError("Invalid JWT encoding") from None


def token_bytes(token: object, max_bytes: int) -> bytes:
    """``token`` as ASCII bytes for :func:`parse_token`, after the checks that need no parsing.

    Raises :class:`TokenParseError`: ``missing_token`` for ``None`` or ``""``, ``malformed``
    for a non-string, ``too_large`` past ``max_bytes`` (counted in UTF-8). A non-ASCII
    token is never a JWT: it is replaced with ``?`` so that parsing refuses it with the
    right message.
    """
    if token is None:
        raise TokenParseError("No token provided", ErrorCode.MISSING_TOKEN)
    if not isinstance(token, str):
        raise TokenParseError("Invalid JWT format: the token must be a string")
    text = str.__str__(token)  # a plain str, whatever a subclass overrides
    if not text:
        raise TokenParseError("No token provided", ErrorCode.MISSING_TOKEN)
    if text.isascii():
        if len(text) > max_bytes:
            raise TokenParseError(f"Token is larger than {max_bytes} bytes", ErrorCode.TOO_LARGE)
        return text.encode("ascii")
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise TokenParseError(f"Token is larger than {max_bytes} bytes", ErrorCode.TOO_LARGE)
    return text.encode("ascii", "replace")


def parse_token(token: Union[str, bytes], *, lazy_payload: bool = False) -> ParsedToken:
    """Split and decode ``token`` (``str``, or its ASCII bytes), already within the size limit.

    Raises :class:`TokenParseError` with the message ``wristband-python-jwt`` uses:
    ``Invalid JWT format`` for a wrong number of segments, ``Invalid JWT encoding``
    for everything else (but an overflowing number, an ``invalid_claim``). The header
    is decoded lazily, and so is the payload with ``lazy_payload``: see :class:`ParsedToken`.
    """
    # One pass over the bytes checks the alphabet and the segment count: deleting every
    # base64url character must leave exactly the two dots.
    raw = token if isinstance(token, bytes) else token.encode("ascii", "replace")
    leftover = raw.translate(None, B64URL_ALPHABET)
    if leftover != b"..":
        raise TokenParseError("Invalid JWT format" if leftover.count(b".") != 2 else "Invalid JWT encoding")
    header_segment, payload_segment, signature_segment = raw.split(b".")
    if not header_segment or not payload_segment:
        raise TokenParseError("Invalid JWT encoding")
    payload = None if lazy_payload else _decode_segment(payload_segment)
    signature = b64url_decode(signature_segment)
    signing_input = raw[: len(header_segment) + 1 + len(payload_segment)]
    return ParsedToken(header_segment, payload, signing_input, signature, payload_segment)


def decode_unverified(token: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """The header and claims of ``token``, NOT verified: for display and debugging only.

    Raises ``ValueError`` when the token is not a well-formed compact JWS. Nothing
    here consults the header (``jku``, ``x5u``, ``jwk``...) and nothing is trusted.
    """
    if not isinstance(token, str):
        raise ValueError("token must be a string")
    parsed = parse_token(token.strip())
    return thaw(parsed.header), thaw(parsed.payload)
