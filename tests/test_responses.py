"""The refusals themselves: AuthFailure, challenges, quoting, and the default JSON response."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.refusals import parse_challenge

from wristband_mw import AuthFailure, ErrorCode, ErrorResponse, default_error_response
from wristband_mw.responses import TOKEN_DESCRIPTIONS, FailureFactory, challenge, quote_header_value

REALM = "api.example.com"


@pytest.fixture
def failures():
    return FailureFactory(REALM, retry_after=30)


def headers_of(response: ErrorResponse) -> dict:
    names = [name.lower() for name, _ in response.headers]
    assert len(names) == len(set(names)), "a header is repeated"
    return {name.lower(): value for name, value in response.headers}


# -- quoting (RFC 7230 quoted-string, as RFC 7235 auth-params use it) ----------------------------


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", '"plain"'),
        ("", '""'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ('\\"', '"\\\\\\""'),
        ("tab\there", '"tab?here"'),
        ("new\r\nline", '"new??line"'),
        ("caf\u00e9", '"caf?"'),
    ],
)
def test_quote_header_value(value, quoted):
    assert quote_header_value(value) == quoted


@given(st.text(max_size=60))
def test_quote_header_value_round_trips_printable_ascii(value):
    quoted = quote_header_value(value)
    assert all(" " <= ch <= "~" for ch in quoted)
    scheme, params = parse_challenge(f"Bearer realm={quoted}")
    expected = "".join(ch if " " <= ch <= "~" else "?" for ch in value)
    assert scheme == "Bearer" and params == {"realm": expected}


def test_challenge_forms():
    assert challenge("r") == ("WWW-Authenticate", 'Bearer realm="r"')
    name, value = challenge('we "quote" \\ this', "invalid_token", "The access token expired")
    assert name == "WWW-Authenticate"
    assert value == (
        'Bearer realm="we \\"quote\\" \\\\ this", error="invalid_token", error_description="The access token expired"'
    )
    assert parse_challenge(value)[1] == {
        "realm": 'we "quote" \\ this',
        "error": "invalid_token",
        "error_description": "The access token expired",
    }
    _, scoped = challenge("r", "insufficient_scope", "d", ("a", "b"))
    assert parse_challenge(scoped)[1]["scope"] == "a b"


# -- AuthFailure -----------------------------------------------------------------------------------


def test_auth_failure_unpacks_to_status_error_description_code(failures):
    failure = failures.invalid_token(ErrorCode.EXPIRED)
    status, error, description, code = failure
    assert (status, error, code) == (401, "invalid_token", ErrorCode.EXPIRED)
    assert description == failure.description == "The access token expired"
    assert failure.status == 401 and failure.error == "invalid_token"


def test_auth_failure_is_immutable_and_hashable(failures):
    failure = failures.no_credentials
    with pytest.raises(AttributeError):
        failure.status = 200  # type: ignore[misc]
    assert hash(failure) == hash(failures.no_credentials)


def test_no_credentials_is_a_bare_challenge(failures):
    failure = failures.no_credentials
    assert (failure.status, failure.error, failure.code) == (401, None, ErrorCode.MISSING_TOKEN)
    assert failure.headers == (("WWW-Authenticate", f'Bearer realm="{REALM}"'),)
    assert failures.invalid_token(ErrorCode.MISSING_TOKEN) is failure


@pytest.mark.parametrize(
    "code", [c for c in ErrorCode if c not in (ErrorCode.KEYS_UNAVAILABLE, ErrorCode.MISSING_TOKEN)]
)
def test_every_validation_failure_is_401_invalid_token(failures, code):
    failure = failures.invalid_token(code)
    assert failure.status == 401 and failure.error == "invalid_token" and failure.code is code
    assert failure.description == TOKEN_DESCRIPTIONS[code]
    ((name, value),) = failure.headers
    assert name == "WWW-Authenticate"
    assert parse_challenge(value) == (
        "Bearer",
        {"realm": REALM, "error": "invalid_token", "error_description": TOKEN_DESCRIPTIONS[code]},
    )


def test_keys_unavailable_is_503_with_retry_after(failures):
    failure = failures.invalid_token(ErrorCode.KEYS_UNAVAILABLE)
    assert failure.status == 503 and failure.error is None
    assert failure.headers == (("Retry-After", "30"),)


@pytest.mark.parametrize(("remaining", "header"), [(0.2, "1"), (1.0, "1"), (1.01, "2"), (15.5, "16"), (None, "30")])
def test_retry_after_says_what_the_backoff_has_left(remaining, header):
    failures = FailureFactory(REALM, retry_after=30, retry_after_source=lambda: remaining)
    failure = failures.invalid_token(ErrorCode.KEYS_UNAVAILABLE)
    assert (failure.status, failure.code, failure.headers) == (
        503,
        ErrorCode.KEYS_UNAVAILABLE,
        (("Retry-After", header),),
    )
    assert failure.description == TOKEN_DESCRIPTIONS[ErrorCode.KEYS_UNAVAILABLE]
    assert failures.invalid_token(ErrorCode.EXPIRED).status == 401  # other refusals never ask


def test_invalid_request(failures):
    failure = failures.invalid_request("No token provided")
    assert (failure.status, failure.error) == (400, "invalid_request")
    ((_, value),) = failure.headers
    assert parse_challenge(value)[1] == {
        "realm": REALM,
        "error": "invalid_request",
        "error_description": "No token provided",
    }


def test_insufficient_scope(failures):
    failure = failures.insufficient_scope(("orders:read", "admin"))
    assert (failure.status, failure.error, failure.code) == (403, "insufficient_scope", None)
    assert failure.scopes == ("orders:read", "admin")
    ((_, value),) = failure.headers
    params = parse_challenge(value)[1]
    assert params["error"] == "insufficient_scope"
    assert params["scope"] == "orders:read admin"
    assert params["realm"] == REALM


def test_every_code_has_a_short_fixed_description():
    assert set(TOKEN_DESCRIPTIONS) == set(ErrorCode)
    for description in TOKEN_DESCRIPTIONS.values():
        assert description.isascii() and description.isprintable() and len(description) < 100
        assert '"' not in description and "\\" not in description


# -- default_error_response ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "status", "body_error"),
    [
        (lambda f: f.no_credentials, 401, "unauthorized"),
        (lambda f: f.invalid_request("No token provided"), 400, "invalid_request"),
        (lambda f: f.invalid_token(ErrorCode.INVALID_SIGNATURE), 401, "invalid_token"),
        (lambda f: f.insufficient_scope(("a", "b")), 403, "insufficient_scope"),
        (lambda f: f.invalid_token(ErrorCode.KEYS_UNAVAILABLE), 503, "temporarily_unavailable"),
    ],
)
def test_default_error_response(failures, make, status, body_error):
    failure = make(failures)
    response = default_error_response(failure)
    assert isinstance(response, ErrorResponse)
    assert response.status == status
    body = json.loads(response.body)
    assert body == {"error": body_error, "error_description": failure.description}
    headers = headers_of(response)
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert headers["content-length"] == str(len(response.body))
    if status == 503:
        assert "www-authenticate" not in headers and headers["retry-after"] == "30"
    else:
        assert "retry-after" not in headers
        assert headers["www-authenticate"].startswith("Bearer realm=")


def test_error_response_is_a_triple():
    response = ErrorResponse(418, [("X", "y")], b"teapot")
    status, headers, body = response
    assert (status, headers, body) == (418, [("X", "y")], b"teapot")


def test_default_error_response_is_json_even_for_odd_descriptions():
    failure = AuthFailure(400, "invalid_request", 'quote " and \\ and \u00e9', None)
    body = json.loads(default_error_response(failure).body)
    assert body["error_description"] == 'quote " and \\ and \u00e9'
