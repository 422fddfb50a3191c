"""Bytes for hand-made tokens and key sets: base64url (the package's own) and compact JSON."""

from __future__ import annotations

import base64
import json
from typing import Any, Mapping, Union

from wristband_mw.testing import b64url

__all__ = ["JsonInput", "b64url", "b64url_decode", "json_bytes", "with_members"]

#: A JSON object, or its exact bytes or text (to spell what ``json.dumps`` never writes).
JsonInput = Union[Mapping[str, Any], bytes, str]


def json_bytes(value: JsonInput) -> bytes:
    """``value`` as compact JSON; bytes and text are taken as they are (lone surrogates kept)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(dict(value), separators=(",", ":")).encode("utf-8")


def b64url_decode(segment: str) -> bytes:
    """Decode an unpadded base64url segment (lenient: for reading tokens the tests made)."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def with_members(obj: Mapping[str, Any], **raw: str) -> bytes:
    """``obj`` as JSON with extra members spelled raw (duplicates, ``NaN``, ``1e400``...)."""
    text = json.dumps(dict(obj), separators=(",", ":"))[:-1]
    for name, value in raw.items():
        text += f',"{name}":{value}'
    return (text + "}").encode("utf-8")
