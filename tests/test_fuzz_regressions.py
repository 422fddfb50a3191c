"""Regression tests for what the atheris fuzz targets (tests/fuzz) found.

Each finding is kept twice: the fuzzer's input, replayed through the target's one-input
function (so the exact case stays covered however the harness evolves), and a plain
reproduction against the public API that says what the bug was.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Dict

import pytest

from wristband_mw import ErrorCode
from wristband_mw.testing import LocalIssuer

FUZZ_DIR = Path(__file__).resolve().parent / "fuzz"


def _target(name: str) -> ModuleType:
    module_name = f"fuzz_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, FUZZ_DIR / f"{module_name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def _claims_with_raw_member(issuer: LocalIssuer, name: str, raw: str) -> bytes:
    text = json.dumps(issuer.claims(), separators=(",", ":"))
    return (text[:-1] + f',"{name}":{raw}' + "}").encode("ascii")


def _header(issuer: LocalIssuer) -> Dict[str, Any]:
    return {"alg": "RS256", "typ": "at+JWT", "kid": issuer.kid}


# -- 1. a number literal that overflows to infinity was accepted in the claims ----------------------
# fuzz_validate, second campaign (after the oracle started sending accepted claims on as
# strict JSON), within about a minute: a really signed payload with the member
# "":17499999401e308. Python's json turns a literal beyond the double range into
# float('inf'); NaN and Infinity literals were refused, but Infinity spelled 1e400 was
# accepted in any claim other than exp/nbf/iat and handed to the application, where
# json.dumps(claims, allow_nan=False) raises and a plain json.dumps writes "Infinity",
# which is not JSON. Fixed in tokens.py (the JSON parser's parse_float): such a token is
# refused as INVALID_CLAIM (the code exp/nbf/iat already got for 1e400), before any key
# lookup.
OVERFLOW_INPUT = base64.b64decode(
    "BQB7ImlzcyI6Imh0dHBzOi8vaXNzdWVyLmZ1enouZXhhbXBsZSIsInN1YiI6InVyLTEiLCJhdWQiOlsiYXBpIl0sImlhSXNJIjpbImFwaSJd"
    "LCIiOjE3NDk5OTk5NDAxZTMwOCwiZXhwIjoxNzUwMDAzNjAwLCJwZSI6ImFuIiwianRpIjoiZnV6emluanRpIn0="
)


def test_overflow_input_replays_through_the_target() -> None:
    target = _target("validate")
    target.fuzz_one_input(OVERFLOW_INPUT)
    result = target.CACHED.validate(target.signed_payload(target.fc.Data(OVERFLOW_INPUT[1:])))
    assert result.error is ErrorCode.INVALID_CLAIM


@pytest.mark.parametrize("raw", ["1e400", "-1e400", "1E999", "17499999401e308", "[1, 2e400]", '{"a": {"b": -9e999}}'])
def test_claim_numbers_that_overflow_are_refused(local_issuer: LocalIssuer, raw: str) -> None:
    validator = local_issuer.validator()
    try:
        token = local_issuer.sign(_header(local_issuer), _claims_with_raw_member(local_issuer, "custom", raw))
        result = validator.validate(token)
        assert not result.is_valid and result.payload is None
        assert result.error is ErrorCode.INVALID_CLAIM
        assert result.error_message == "Invalid claim: a JSON number is out of range"
    finally:
        validator.close()


@pytest.mark.parametrize(
    "raw", ["1e308", "-1.7976931348623157e308", "5e-324", "1e-400", "123456789012345678901234567890"]
)
def test_large_but_finite_claim_numbers_still_pass(local_issuer: LocalIssuer, raw: str) -> None:
    validator = local_issuer.validator()
    try:
        token = local_issuer.sign(_header(local_issuer), _claims_with_raw_member(local_issuer, "custom", raw))
        result = validator.validate(token)
        assert result.is_valid, result.error_message
        assert result.payload is not None
        json.dumps(result.payload.to_dict(), allow_nan=False)  # what the fuzz oracle checks
    finally:
        validator.close()


def test_overflowing_time_claims_keep_their_code(local_issuer: LocalIssuer) -> None:
    """An overflowing exp is an invalid_claim, as before (refused while parsing now)."""
    validator = local_issuer.validator()
    try:
        claims = local_issuer.claims()
        del claims["exp"]
        payload = (json.dumps(claims)[:-1] + ',"exp":1e400}').encode("ascii")
        result = validator.validate(local_issuer.sign(_header(local_issuer), payload))
        assert result.error is ErrorCode.INVALID_CLAIM
        assert result.error_message == "Invalid claim: a JSON number is out of range"
    finally:
        validator.close()
