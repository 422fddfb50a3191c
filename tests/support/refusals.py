"""Strict checks of a refusal as the client gets it: status, challenge (RFC 6750 / 7235), body, no leaks."""

from __future__ import annotations

import re
from typing import Dict, Optional, Tuple

from .drive import Sent

__all__ = ["assert_no_leak", "assert_refusal", "parse_challenge"]


# -- RFC 7235 challenge parsing ------------------------------------------------------------------

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf'[ \t]*({_TOKEN})[ \t]*=[ \t]*("(?:[^"\\]|\\[\t \x21-\x7e])*"|{_TOKEN})[ \t]*(,|$)')


def parse_challenge(value: str) -> Tuple[str, Dict[str, str]]:
    """Parse one ``WWW-Authenticate`` challenge strictly: ``scheme auth-param *( "," auth-param )``."""
    assert all(" " <= ch <= "~" or ch == "\t" for ch in value), f"not a valid header value: {value!r}"
    scheme, _, rest = value.partition(" ")
    assert re.fullmatch(_TOKEN, scheme), scheme
    params: Dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        assert match is not None, f"unparseable challenge at {rest[position:]!r}"
        name, raw = match.group(1).lower(), match.group(2)
        assert name not in params, f"duplicate parameter {name}"
        params[name] = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
        position = match.end()
        if match.group(3) == "" and position < len(rest):
            raise AssertionError("trailing garbage")
    return scheme, params


def assert_refusal(sent: Sent, status: int, error: Optional[str], realm: Optional[str] = None) -> Dict[str, str]:
    """The common shape of every default refusal; returns the challenge parameters ({} for 503)."""
    assert sent.status == status, (sent.status, sent.body)
    assert not sent.app_called
    assert sent.header("Content-Type") == "application/json"
    assert sent.header("Cache-Control") == "no-store"
    assert sent.header("Content-Length") == str(len(sent.body))
    body = sent.json
    assert set(body) == {"error", "error_description"}
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["error_description"], str) and 0 < len(body["error_description"]) < 120
    assert "Traceback" not in body["error_description"]
    if status == 503:
        assert sent.header("WWW-Authenticate") is None
        retry_after = sent.header("Retry-After")
        assert retry_after is not None and retry_after.isdigit() and int(retry_after) >= 1
        assert body["error"] == "temporarily_unavailable"
        return {}
    assert sent.header("Retry-After") is None
    challenge = sent.header("WWW-Authenticate")
    assert challenge is not None
    scheme, params = parse_challenge(challenge)
    assert scheme == "Bearer"
    if realm is not None:
        assert params["realm"] == realm
    else:
        assert params["realm"]
    if error is None:
        assert set(params) == {"realm"}, params
    else:
        assert params["error"] == error
        assert body["error"] == error
        assert params["error_description"] == body["error_description"]
    return params


def assert_no_leak(sent: Sent, *secrets: str) -> None:
    """None of ``secrets`` (nor, for JWTs, any of their segments) is in the body or a header."""
    blob = sent.body.decode("latin-1") + "\n" + "\n".join(f"{name}: {value}" for name, value in sent.headers)
    for message in sent.messages:  # e.g. a websocket.close reason
        blob += "\n" + repr(message)
    for secret in secrets:
        pieces = [secret, *(piece for piece in secret.split(".") if len(piece) >= 8)]
        for piece in pieces:
            assert piece not in blob, f"{piece[:20]}... leaked"
