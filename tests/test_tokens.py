"""Structural parsing: canonical base64url, strict JSON objects, refused before any key is used."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.encoding import b64url
from support.tokens import forge, header_of

from wristband_mw import ErrorCode, WristbandJwtValidatorConfig, create_wristband_jwt_validator
from wristband_mw.payload import FrozenDict, FrozenList
from wristband_mw.tokens import (
    MAX_INT_CHARS,
    MAX_JSON_COMMAS,
    MAX_JSON_CONTAINERS,
    MAX_JSON_DEPTH,
    MAX_JSON_DOTS,
    TokenParseError,
    b64url_decode,
    check_depth,
    decode_unverified,
    parse_token,
    strict_json_object,
)

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture(scope="module")
def validator(issuer):
    # Static keys: these tests never need the network.
    config = WristbandJwtValidatorConfig(issuer=issuer.issuer, jwks=issuer.jwks())
    return create_wristband_jwt_validator(config)


def assert_malformed(validator, token, message="Invalid JWT encoding"):
    result = validator.validate(token)
    assert result.is_valid is False
    assert result.payload is None
    assert result.error is ErrorCode.MALFORMED
    assert result.error_message == message


# -- b64url_decode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "data"),
    [("", b""), ("QQ", b"A"), ("QUI", b"AB"), ("QUJD", b"ABC"), ("-_-_", base64.urlsafe_b64decode("-_-_"))],
)
def test_b64url_decode_canonical(segment, data):
    assert b64url_decode(segment) == data


@pytest.mark.parametrize("segment", ["Q", "QUJDR", "QR", "QX", "Qh", "QUJ", "QUL", "QU_"])
def test_b64url_decode_refuses_non_canonical(segment):
    with pytest.raises(TokenParseError):
        b64url_decode(segment)


@given(st.binary(max_size=64))
def test_b64url_round_trip_and_single_spelling(data):
    segment = b64url(data)
    assert b64url_decode(segment) == data
    if len(segment) % 4 in (2, 3):
        # every other last character spells the same bytes with non-zero padding bits: refused
        last = ALPHABET.index(segment[-1])
        sibling = segment[:-1] + ALPHABET[last + 1]
        with pytest.raises(TokenParseError):
            b64url_decode(sibling)


# -- segments and encoding through parse_token and the validator -------------------------------------


@pytest.mark.parametrize("token", ["abc", "a.b", "a.b.c.d", "a.b.c.d.e", ".", "...", "eyJ.eyJ"])
def test_wrong_segment_count_is_invalid_jwt_format(validator, token):
    assert_malformed(validator, token, "Invalid JWT format")
    with pytest.raises(TokenParseError, match=r"^Invalid JWT format$"):
        parse_token(token)


def test_a_real_token_parses(issuer):
    token = issuer.mint(sub="u1")
    parsed = parse_token(token)
    assert parsed.header == {"kid": issuer.kid, "typ": "at+JWT", "alg": "RS256"}
    assert parsed.payload["sub"] == "u1"
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode("ascii")
    assert len(parsed.signature) == 256


def mutations(token):
    header, payload, signature = token.split(".")
    yield "padding on header", f"{header}==.{payload}.{signature}"
    yield "padding on payload", f"{header}.{payload}=.{signature}"
    yield "padding on signature", f"{header}.{payload}.{signature}=="
    yield "plus", f"{header}.{payload}.{signature[:-2]}+{signature[-1]}"
    yield "slash", f"{header}.{payload[:-2]}/{payload[-1]}.{signature}"
    yield "space", f"{header}.{payload[:5]} {payload[5:]}.{signature}"
    yield "newline", f"{header}\n.{payload}.{signature}"
    yield "tab", f"{header}.{payload}.\t{signature}"
    yield "trailing newline", token + "\n"
    yield "leading space", " " + token
    yield "empty header", f".{payload}.{signature}"
    yield "empty payload", f"{header}..{signature}"
    yield "non-ascii", f"{header}.{payload}\u00e9.{signature}"
    yield "percent", f"{header}.{payload}%3D.{signature}"


MUTATIONS = [name for name, _ in mutations("h.p.s")]


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_non_canonical_spellings_refused(issuer, validator, mutation):
    token = issuer.mint()
    assert validator.validate(token).is_valid
    bad = dict(mutations(token))[mutation]
    assert bad != token
    assert_malformed(validator, bad)


def with_noncanonical_tail(segment):
    assert len(segment) % 4 in (2, 3)
    last = ALPHABET.index(segment[-1])
    return segment[:-1] + ALPHABET[last + 1]


def test_non_zero_trailing_bits_refused_in_each_segment(issuer, validator):
    # Pick claims so that every segment length is 2 or 3 modulo 4.
    for pad in range(12):
        token = issuer.mint(pad="x" * pad)
        header, payload, signature = token.split(".")
        if len(payload) % 4 in (2, 3) and len(header) % 4 in (2, 3):
            break
    else:  # pragma: no cover
        pytest.fail("no suitable padding found")
    assert validator.validate(token).is_valid
    assert_malformed(validator, f"{with_noncanonical_tail(header)}.{payload}.{signature}")
    assert_malformed(validator, f"{header}.{with_noncanonical_tail(payload)}.{signature}")
    # A 256-byte signature is 342 characters: 2 modulo 4.
    assert len(signature) % 4 == 2
    assert_malformed(validator, f"{header}.{payload}.{with_noncanonical_tail(signature)}")


# -- strict JSON ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        b'{"alg":"RS256","alg":"none","typ":"at+JWT","kid":"k"}',
        b'{"alg":"RS256","typ":"at+JWT","kid":"k","kid":"other"}',
        b'{"alg":"RS256","typ":"at+JWT","kid":"k","x":{"a":1,"a":1}}',
    ],
)
def test_duplicate_header_members_refused(validator, header):
    assert_malformed(validator, forge(header, b'{"sub":"x"}', b"x" * 256))


@pytest.mark.parametrize(
    "payload",
    [
        b'{"sub":"a","sub":"b"}',
        b'{"iss":"https://a","exp":1,"iss":"https://b"}',
        b'{"sub":"a","nested":{"role":"user","role":"admin"}}',
        b'{"sub":"a","list":[{"x":1,"x":2}]}',
    ],
)
def test_duplicate_payload_members_refused(issuer, validator, payload):
    assert_malformed(validator, forge(json.dumps(header_of(issuer)).encode(), payload, b"x" * 256))
    # Even with a genuine signature: the parser, not the key, refuses it.
    assert_malformed(validator, issuer.sign(header_of(issuer), payload))


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_refused(issuer, validator, constant):
    payload = b'{"iss":"' + issuer.issuer.encode() + b'","exp":' + constant + b',"sub":"x"}'
    assert_malformed(validator, issuer.sign(header_of(issuer), payload))
    header = b'{"alg":"RS256","typ":"at+JWT","kid":"k","x":' + constant + b"}"
    assert_malformed(validator, forge(header, b'{"sub":"x"}', b"x" * 256))
    with pytest.raises(ValueError):
        strict_json_object(b'{"a":' + constant + b"}")


@pytest.mark.parametrize("payload", [b"[]", b"[1,2]", b'"sub"', b"1", b"null", b"true", b"", b"{", b"{}x", b"\xff\xfe"])
def test_non_object_or_broken_payload_refused(issuer, validator, payload):
    assert_malformed(validator, issuer.sign(header_of(issuer), payload))


@pytest.mark.parametrize("header", [b"[]", b'"RS256"', b"null", b"{", b'{"alg":"RS256"', b"\xc3\x28"])
def test_non_object_or_broken_header_refused(validator, header):
    assert_malformed(validator, forge(header, b'{"sub":"x"}', b"x" * 256))


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_nesting_up_to_the_limit_is_accepted(issuer, validator):
    # The claims object is level 1, so a claim may hold MAX_JSON_DEPTH - 1 levels of containers.
    token = issuer.mint(deep=nested(MAX_JSON_DEPTH - 1))
    result = validator.validate(token)
    assert result.is_valid, result.error_message


def test_deep_nesting_in_payload_refused(issuer, validator):
    assert_malformed(validator, issuer.mint(deep=nested(MAX_JSON_DEPTH)))
    assert_malformed(validator, issuer.mint(deep={"a": {"b": {"c": nested(MAX_JSON_DEPTH)}}}))


def test_deep_nesting_in_header_refused(issuer, validator):
    token = issuer.sign(header_of(issuer, x5=nested(40)), issuer.claims())
    assert_malformed(validator, token)


def test_pathological_nesting_refused_without_recursion_error(issuer):
    validator = create_wristband_jwt_validator(
        WristbandJwtValidatorConfig(issuer=issuer.issuer, jwks=issuer.jwks(), max_token_bytes=400_000)
    )
    payload = b'{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    # Signed by the real key: a large token's signature is checked before its payload is
    # decoded, and this one must reach the parser.
    assert_malformed(validator, issuer.sign(header_of(issuer), payload))
    with pytest.raises(ValueError):
        strict_json_object(payload)


def test_check_depth_counts_containers():
    check_depth({"x": nested(MAX_JSON_DEPTH - 1)})
    with pytest.raises(ValueError):
        check_depth({"x": nested(MAX_JSON_DEPTH)})
    with pytest.raises(ValueError):
        check_depth({"x": [{"y": nested(MAX_JSON_DEPTH - 2)}]})


def test_parsed_claims_are_immutable_all_the_way_down(issuer):
    payload = parse_token(issuer.mint(x=nested(3), y={"a": [1, {"b": [2]}]})).payload
    assert payload["x"] == [[[1]]]
    assert payload["y"] == {"a": [1, {"b": [2]}]}
    assert isinstance(payload["y"], FrozenDict) and isinstance(payload["y"]["a"][1], FrozenDict)
    assert isinstance(payload["x"][0], FrozenList) and isinstance(payload["x"][0], list)
    with pytest.raises(TypeError):
        payload["y"]["a"][1]["b"] = 3
    with pytest.raises(TypeError):
        payload["y"]["a"].append(3)


def test_strict_json_object_accepts_plain_objects():
    # Arrays come back as read-only lists and nested objects read-only: parsed claims are immutable.
    assert strict_json_object(b'{"a":1,"b":[1,2],"c":{"d":null}}') == {"a": 1, "b": [1, 2], "c": {"d": None}}
    assert strict_json_object('{"\u00e9":"\u00fc"}'.encode()) == {"\u00e9": "\u00fc"}


def test_unsigned_and_short_signature_tokens_refused(issuer, validator):
    token = issuer.mint()
    header, payload, _ = token.split(".")
    result = validator.validate(f"{header}.{payload}.")
    assert result.error is ErrorCode.INVALID_SIGNATURE
    result = validator.validate(forge(header_of(issuer), issuer.claims(), signature=b"\x01" * 16))
    assert result.error is ErrorCode.INVALID_SIGNATURE


@given(st.text(max_size=300))
def test_property_random_text_never_raises(text):
    try:
        parse_token(text)
    except TokenParseError as exc:
        assert str(exc) in ("Invalid JWT format", "Invalid JWT encoding")


@given(st.lists(st.text(alphabet=ALPHABET + "=+/ ", max_size=40), min_size=3, max_size=3))
def test_property_three_random_segments_never_raise(segments):
    try:
        parse_token(".".join(segments))
    except TokenParseError as exc:
        assert str(exc) == "Invalid JWT encoding"


# -- bounded work for forged JSON (issue 9 section 5) ------------------------------------------


def _payload_with(issuer, raw_member: bytes) -> bytes:
    claims = json.dumps(issuer.claims(), separators=(",", ":")).encode()
    return claims[:-1] + b',"x":' + raw_member + b"}"


@pytest.mark.parametrize(
    ("name", "member"),
    [
        ("containers", b"[" + b",".join([b"[]"] * MAX_JSON_CONTAINERS) + b"]"),
        ("commas", b"[" + b",".join([b"0"] * (MAX_JSON_COMMAS + 1)) + b"]"),
        ("dots", b"[" + b",".join([b"0.5"] * (MAX_JSON_DOTS + 1)) + b"]"),
        ("deep", b"[" * 2000 + b"]" * 2000),
    ],
)
def test_too_many_values_refused_before_parsing(issuer, validator, name, member):
    # Signed by the real key, so large tokens pass the early signature check and reach the parser.
    assert_malformed(validator, issuer.sign(header_of(issuer), _payload_with(issuer, member)))
    # The same bounds hold for the header (decoded before any signature check).
    header = json.dumps(header_of(issuer)).encode()[:-1] + b',"x":' + member + b"}"
    assert_malformed(validator, forge(header, json.dumps(issuer.claims()).encode(), b"x" * 256))


@pytest.mark.parametrize(
    "literal", [b"7" * (MAX_INT_CHARS + 1), b"7" * 4299, b"1." + b"1" * 30, b"12345678e-300", b"-0." + b"0" * 40]
)
def test_overlong_number_literals_are_out_of_range(issuer, validator, literal):
    token = issuer.sign(header_of(issuer), _payload_with(issuer, literal))
    result = validator.validate(token)
    assert (result.error, result.error_message) == (
        ErrorCode.INVALID_CLAIM,
        "Invalid claim: a JSON number is out of range",
    )


def test_claims_within_the_bounds_still_pass(issuer, validator):
    # A generous custom claim: many roles, nested objects, fractions, long integers.
    roles = [f"role-{i}" for i in range(MAX_JSON_COMMAS - 24)]
    extra = {"roles": roles, "org": {"ids": [1, 2, 3], "w": 0.125}, "big": int("9" * MAX_INT_CHARS)}
    token = issuer.mint(**extra, score=1.7976931348623157e308, tiny=5e-324)
    result = validator.validate(token)
    assert result.is_valid, result.error_message
    assert result.payload["roles"] == roles and result.payload["big"] == int("9" * MAX_INT_CHARS)


def test_the_limits_leave_room_for_real_tokens():
    # A Wristband access token uses 1 container, about 15 commas and a few dots.
    assert MAX_JSON_CONTAINERS > MAX_JSON_DEPTH + 4 and MAX_JSON_COMMAS >= 64 and MAX_JSON_DOTS >= 32


@pytest.fixture
def cached_key_validator(issuer):
    validator = issuer.validator()
    validator.prefetch()
    yield validator
    validator.close()


def test_large_forged_tokens_are_refused_by_the_signature_before_decoding(issuer, cached_key_validator):
    # Over 1 KB with the key cached: the signature is checked first and the payload never
    # decoded. Its payload segment is 2001 base64url characters, a length no encoding has:
    # decoding it would refuse the token as malformed, so the signature's verdict shows
    # that it was never decoded.
    header_segment = issuer.sign(header_of(issuer), issuer.claims()).split(".")[0]
    forged = header_segment + "." + "e" * 2001 + "." + b64url(b"\x01" * 256)
    with pytest.raises(TokenParseError):
        decode_unverified(forged)
    result = cached_key_validator.validate(forged)
    assert result.error is ErrorCode.INVALID_SIGNATURE
    # A genuine large token is decoded after its signature checks out, and passes.
    genuine = issuer.mint(padding="x" * 2000)
    assert cached_key_validator.validate(genuine).is_valid


def test_small_tokens_keep_the_seeds_order_of_checks(issuer, cached_key_validator):
    # Under 1 KB a wrong issuer is reported as such, before any signature work.
    claims = issuer.claims()
    claims["iss"] = "https://evil.example"
    forged = issuer.sign(header_of(issuer), claims).rsplit(".", 1)[0] + "." + b64url(b"\x01" * 256)
    assert len(forged) < 1024
    assert cached_key_validator.validate(forged).error is ErrorCode.INVALID_ISSUER


def test_a_large_tokens_key_lookup_is_counted_once(issuer):
    validator = issuer.validator()
    try:
        token = issuer.mint(padding="x" * 2000)  # over 1 KB, key not cached yet
        assert validator.validate(token).is_valid
        stats = validator.stats()
        assert (stats["key_cache_misses"], stats["key_cache_hits"]) == (1, 0)
        assert validator.validate(issuer.mint(padding="y" * 2000)).is_valid  # verified first, key cached
        stats = validator.stats()
        assert (stats["key_cache_misses"], stats["key_cache_hits"]) == (1, 1)
    finally:
        validator.close()
