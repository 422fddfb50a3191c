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
import json
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from .errors import ErrorCode
from .payload import FrozenDict, FrozenList, thaw

__all__ = [
    "MAX_JSON_COMMAS",
    "MAX_JSON_CONTAINERS",
    "MAX_JSON_DEPTH",
    "MAX_JSON_DOTS",
    "MAX_INT_CHARS",
    "MAX_NUMBER_CHARS",
    "MAX_PLAIN_NUMBER_CHARS",
    "ParsedToken",
    "b64url_decode",
    "decode_unverified",
    "check_depth",
    "parse_token",
    "strict_json_object",
]

MAX_JSON_DEPTH = 16
#: Most ``[`` plus ``{`` bytes a header or payload may hold (each becomes a frozen object).
MAX_JSON_CONTAINERS = 24
#: Most commas a header or payload may hold: bounds members plus array elements.
MAX_JSON_COMMAS = 64
#: Most ``.`` bytes a header or payload may hold: a fraction is the costly part of a
#: number to convert (about 0.4 us for 17 digits), and only a fraction can be long.
MAX_JSON_DOTS = 64
#: Longest JSON number literals, by kind: digits cost conversion time that grows with
#: their count (a 4,000-digit integer takes about 80 us). A double never needs more than
#: 24 characters; an exponent without a fraction (``1e308``) needs few; an integer of 40
#: digits is already far beyond any timestamp or id. Longer ones are out of range.
MAX_INT_CHARS = 40
MAX_NUMBER_CHARS = 24
MAX_PLAIN_NUMBER_CHARS = 8

_B64URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Last character of a segment whose length is 2 or 3 modulo 4: the unused low bits
# must be zero (RFC 4648 section 3.5), or two spellings would decode to the same bytes.
_CANONICAL_LAST = {2: frozenset(b"AQgw"), 3: frozenset(b"AEIMQUYcgkosw048")}


class TokenParseError(ValueError):
    """The token is refused before any key is involved.

    ``str()`` is a message safe to show; ``code`` is ``malformed``, or ``invalid_claim``
    for a number that overflows to infinity (``1e400``).
    """

    def __init__(self, message: str, code: ErrorCode = ErrorCode.MALFORMED) -> None:
        super().__init__(message)
        self.code = code


class NumberOutOfRangeError(ValueError):
    """A JSON number out of range: ``1e400`` (would silently become infinity), or a literal
    longer than :data:`MAX_INT_CHARS` / :data:`MAX_NUMBER_CHARS` (costly to convert)."""


def b64url_decode(segment: Union[str, bytes]) -> bytes:
    """Decode one canonical, unpadded base64url segment (its alphabet already checked)."""
    data = segment.encode("ascii", "replace") if isinstance(segment, str) else segment
    remainder = len(data) % 4
    if remainder:
        if remainder == 1 or data[-1] not in _CANONICAL_LAST[remainder]:
            raise TokenParseError("Invalid JWT encoding")
        data += b"==" if remainder == 2 else b"="
    return binascii.a2b_base64(data.replace(b"-", b"+").replace(b"_", b"/"))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_members(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    """The scanner's hook for every JSON object, innermost first.

    Refuses duplicate names; interns the names, so every cached payload shares one "sub",
    one "exp"... (about 760 bytes per verified token with Wristband's claims); and freezes
    the values (arrays become FrozenLists, nested objects FrozenDicts) while they pass by,
    so a parsed payload is immutable without a second walk.
    """
    obj = {_intern(name): _frozen(value) if type(value) in _CONTAINERS else value for name, value in pairs}
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


def _frozen(value: Any) -> Any:
    """An immutable copy of a list, or of an object the hook built (its values already frozen)."""
    if type(value) is list:
        return FrozenList([_frozen(item) if type(item) in _CONTAINERS else item for item in value])
    return FrozenDict(value)


def check_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise ``ValueError`` if containers nest deeper than ``limit`` (the outer object is 1)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > limit:
            raise ValueError("JSON nested too deeply")
        if isinstance(item, dict):
            pending.extend((child, depth + 1) for child in item.values() if isinstance(child, (dict, tuple, list)))
        else:
            pending.extend((child, depth + 1) for child in item if isinstance(child, (dict, tuple, list)))


def _bounded_int(literal: str) -> int:
    if len(literal) > MAX_INT_CHARS:
        raise NumberOutOfRangeError("a JSON number is out of range")
    return int(literal)


def _finite_float(literal: str) -> float:
    if len(literal) > (MAX_NUMBER_CHARS if "." in literal else MAX_PLAIN_NUMBER_CHARS):
        raise NumberOutOfRangeError("a JSON number is out of range")
    value = float(literal)
    if value in (_INFINITY, -_INFINITY):
        raise NumberOutOfRangeError("a JSON number is out of range")
    return value


_CONTAINERS = (list, dict)
_INFINITY = float("inf")
_intern = sys.intern
_decoder = json.JSONDecoder(
    object_pairs_hook=_unique_members,
    parse_constant=_refuse_constant,
    parse_float=_finite_float,
    parse_int=_bounded_int,
)
_scan: Callable[[str, int], Tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]
_JSON_WHITESPACE = ("", " ", "\t", "\n", "\r")


def strict_json_object(data: bytes) -> Dict[str, Any]:
    """Parse UTF-8 JSON that must be an object; ``ValueError`` otherwise.

    Duplicate member names, ``NaN``/``Infinity``, lone surrogates and excessive nesting
    are refused, and numbers that overflow to infinity raise :class:`NumberOutOfRangeError`.
    """
    text = data.decode("utf-8")
    try:
        if text[:1] in _JSON_WHITESPACE:  # rare: let the full decoder skip it
            value = _decoder.decode(text)
        else:
            value, end = _scan(text, 0)  # the decoder's C scanner, without its Python wrapper
            if end != len(text) and text[end:].strip(" \t\n\r"):
                raise ValueError("extra data after the JSON value")
    except StopIteration:
        raise ValueError("not JSON") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if type(value) is not dict:
        raise ValueError("JSON value is not an object")
    if "\\ud" in text or "\\uD" in text:  # only an escape of D800-DFFF can produce a lone surrogate
        _refuse_lone_surrogates(value)
    return value


def _refuse_lone_surrogates(value: Any) -> None:
    """I-JSON (RFC 7493): strings must be valid Unicode, or applications crash encoding them."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("JSON string holds a lone surrogate") from None
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _token_json(data: bytes) -> Dict[str, Any]:
    # Refuse before building anything: these counts cost microseconds even for 8 KB.
    containers = data.count(b"[") + data.count(b"{")
    if containers > MAX_JSON_CONTAINERS or data.count(b",") > MAX_JSON_COMMAS or data.count(b".") > MAX_JSON_DOTS:
        raise ValueError("JSON has too many values")
    value = strict_json_object(data)
    # Brackets bound the nesting from above: walk the value only when they could exceed it.
    if containers > MAX_JSON_DEPTH:
        check_depth(value)
    return value


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
        return _token_json(b64url_decode(segment))
    except NumberOutOfRangeError:
        raise TokenParseError("Invalid claim: a JSON number is out of range", ErrorCode.INVALID_CLAIM) from None
    except (ValueError, binascii.Error):
        raise TokenParseError("Invalid JWT encoding") from None


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
    leftover = raw.translate(None, _B64URL_ALPHABET)
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
