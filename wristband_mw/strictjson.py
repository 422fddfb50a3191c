"""Strict JSON and base64url decoding, shared by token parsing and JWKS parsing.

Tokens and key sets are attacker-reachable input, so both are decoded the same strict
way: UTF-8 JSON objects with no duplicate member names (a verifier and an application
that disagree about a claim is how bypasses start), no ``NaN`` or ``Infinity``, no
lone surrogates, nested no deeper than :data:`MAX_JSON_DEPTH`, and number literals of
bounded length; base64url segments canonical (no padding, no non-zero trailing bits),
so every token has exactly one spelling. Arrays and nested objects come back frozen
(:class:`~wristband_mw.payload.FrozenList`, :class:`~wristband_mw.payload.FrozenDict`).

Example::

    >>> strict_json_object(b'{"sub":"u","amr":["pwd"]}')
    {'sub': 'u', 'amr': ['pwd']}
    >>> b64url_decode("eyJhIjoxfQ")
    b'{"a":1}'
"""

from __future__ import annotations

import binascii
import json
import sys
from typing import Any, Callable, Dict, List, Tuple, Union

from .errors import TokenParseError
from .payload import FrozenDict, FrozenList

__all__ = [
    "B64URL_ALPHABET",
    "MAX_INT_CHARS",
    "MAX_JSON_COMMAS",
    "MAX_JSON_CONTAINERS",
    "MAX_JSON_DEPTH",
    "MAX_JSON_DOTS",
    "MAX_NUMBER_CHARS",
    "MAX_PLAIN_NUMBER_CHARS",
    "NumberOutOfRangeError",
    "b64url_decode",
    "check_depth",
    "strict_json_object",
    "token_json",
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

B64URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Last character of a segment whose length is 2 or 3 modulo 4: the unused low bits
# must be zero (RFC 4648 section 3.5), or two spellings would decode to the same bytes.
_CANONICAL_LAST = {2: frozenset(b"AQgw"), 3: frozenset(b"AEIMQUYcgkosw048")}


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


def token_json(data: bytes) -> Dict[str, Any]:
    """:func:`strict_json_object` for a token segment, with its work bounded first (see the limits above)."""
    # Refuse before building anything: these counts cost microseconds even for 8 KB.
    containers = data.count(b"[") + data.count(b"{")
    if containers > MAX_JSON_CONTAINERS or data.count(b",") > MAX_JSON_COMMAS or data.count(b".") > MAX_JSON_DOTS:
        raise ValueError("JSON has too many values")
    value = strict_json_object(data)
    # Brackets bound the nesting from above: walk the value only when they could exceed it.
    if containers > MAX_JSON_DEPTH:
        check_depth(value)
    return value
