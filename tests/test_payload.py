"""JWTPayload: the seed's constructor and properties, a full read-only Mapping, scopes."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Mapping

import pytest

from wristband_mw import ErrorCode, JWTPayload, JwtValidationResult

CLAIMS = {
    "sub": "user-1",
    "iss": "https://auth.yourapp.io",
    "aud": ["api-1", "api-2"],
    "exp": 1_700_001_800,
    "nbf": 1_700_000_000,
    "iat": 1_700_000_000,
    "jti": "j-1",
    "scope": "openid email profile",
    "amr": ["pwd"],
    "ctx": {"tenant": {"id": "t1", "roles": ["admin", "user"]}},
}


def test_constructible_like_the_seed():
    assert JWTPayload(CLAIMS).to_dict() == CLAIMS
    assert JWTPayload(payload_dict=CLAIMS).to_dict() == CLAIMS
    assert JWTPayload(payload_dict=CLAIMS) == JWTPayload(CLAIMS)
    # Equality is the Mapping's, and the frozen arrays and objects equal plain JSON.
    assert JWTPayload(CLAIMS) == CLAIMS
    assert JWTPayload(CLAIMS) == dict(JWTPayload(CLAIMS))
    assert JWTPayload({"sub": "u", "exp": 1}) == {"sub": "u", "exp": 1}


def test_registered_claim_properties():
    payload = JWTPayload(CLAIMS)
    assert payload.iss == "https://auth.yourapp.io"
    assert payload.sub == "user-1"
    assert payload.aud == ["api-1", "api-2"]
    assert payload.exp == 1_700_001_800
    assert payload.nbf == 1_700_000_000
    assert payload.iat == 1_700_000_000
    assert payload.jti == "j-1"


def test_properties_none_when_absent():
    payload = JWTPayload({})
    for name in ("iss", "sub", "aud", "exp", "nbf", "iat", "jti"):
        assert getattr(payload, name) is None, name
    assert payload.scopes == ()


def test_aud_string_kept():
    assert JWTPayload({"aud": "api"}).aud == "api"


def test_mapping_protocol():
    payload = JWTPayload(CLAIMS)
    assert isinstance(payload, Mapping)
    assert payload["sub"] == "user-1"
    assert "sub" in payload
    assert "missing" not in payload
    assert len(payload) == len(CLAIMS)
    assert list(payload) == list(CLAIMS)
    assert set(payload.keys()) == set(CLAIMS)
    assert dict(payload)["jti"] == "j-1"
    assert payload.get("jti") == "j-1"
    assert payload.get("missing") is None
    assert payload.get("missing", 5) == 5
    with pytest.raises(KeyError):
        payload["missing"]
    assert dict(payload.items())["exp"] == 1_700_001_800


def test_to_dict_is_a_mutable_deep_copy():
    payload = JWTPayload(CLAIMS)
    copy_1 = payload.to_dict()
    assert copy_1 == CLAIMS
    assert type(copy_1) is dict
    assert type(copy_1["aud"]) is list
    assert type(copy_1["ctx"]) is dict and type(copy_1["ctx"]["tenant"]) is dict
    assert type(copy_1["ctx"]["tenant"]["roles"]) is list
    copy_1["sub"] = "attacker"
    copy_1["aud"].append("evil")
    copy_1["ctx"]["tenant"]["roles"].append("root")
    copy_1["ctx"]["tenant"]["id"] = "t2"
    assert payload.sub == "user-1"
    assert payload.aud == ["api-1", "api-2"]
    assert payload["ctx"]["tenant"]["roles"] == ["admin", "user"]
    assert payload["ctx"]["tenant"]["id"] == "t1"
    assert payload.to_dict() == CLAIMS
    assert payload.to_dict() is not payload.to_dict()


def test_construction_copies_the_input():
    source = copy.deepcopy(CLAIMS)
    payload = JWTPayload(source)
    source["sub"] = "changed"
    source["aud"].append("x")
    source["ctx"]["tenant"]["roles"].append("root")
    assert payload.sub == "user-1"
    assert payload.aud == ["api-1", "api-2"]
    assert payload["ctx"]["tenant"]["roles"] == ["admin", "user"]


def test_payload_is_immutable():
    payload = JWTPayload(CLAIMS)
    with pytest.raises(TypeError):
        payload["sub"] = "x"
    with pytest.raises(TypeError):
        del payload["sub"]
    with pytest.raises(AttributeError):
        payload.sub = "x"
    for name in ("update", "pop", "setdefault", "clear", "popitem"):
        assert not hasattr(payload, name), name
    assert isinstance(payload["aud"], list)
    assert isinstance(payload["amr"], list)
    nested = payload["ctx"]
    assert isinstance(nested["tenant"]["roles"], list)
    roles = nested["tenant"]["roles"]
    for mutate in (
        lambda: roles.append("root"),
        lambda: roles.extend(["root"]),
        lambda: roles.insert(0, "root"),
        lambda: roles.__setitem__(0, "root"),
        lambda: roles.__setitem__(slice(0, 1), ["root"]),
        lambda: roles.__delitem__(0),
        lambda: roles.pop(),
        lambda: roles.remove("admin"),
        lambda: roles.clear(),
        lambda: roles.sort(),
        lambda: roles.reverse(),
        lambda: roles.__iadd__(["root"]),
        lambda: roles.__imul__(2),
    ):
        with pytest.raises(TypeError):
            mutate()
    assert roles == ["admin", "user"]
    for mutate in (
        lambda: nested.__setitem__("x", 1),
        lambda: nested.__delitem__("tenant"),
        lambda: nested.update({"x": 1}),
        lambda: nested.pop("tenant"),
        lambda: nested.popitem(),
        lambda: nested.setdefault("x", 1),
        lambda: nested.clear(),
        lambda: nested["tenant"].__setitem__("id", "t2"),
    ):
        with pytest.raises(TypeError):
            mutate()
    with pytest.raises(TypeError):
        nested |= {"x": 1}
    assert payload.to_dict() == CLAIMS


def test_unhashable_and_equality():
    payload = JWTPayload(CLAIMS)
    with pytest.raises(TypeError):
        hash(payload)
    assert payload == JWTPayload(payload_dict=CLAIMS)
    assert payload != JWTPayload({"sub": "other"})
    assert payload != 5


def test_nested_values_stay_json_serialisable():
    payload = JWTPayload(CLAIMS)
    assert json.loads(json.dumps(dict(payload))) == CLAIMS
    assert json.loads(json.dumps(payload.to_dict())) == CLAIMS


def test_copy_and_pickle_keep_nested_objects_read_only():
    nested = JWTPayload(CLAIMS)["ctx"]
    for clone in (copy.copy(nested), copy.deepcopy(nested), pickle.loads(pickle.dumps(nested))):  # noqa: S301
        assert clone == {"tenant": {"id": "t1", "roles": ["admin", "user"]}}
        with pytest.raises(TypeError):
            clone["x"] = 1
        with pytest.raises(TypeError):
            clone["tenant"]["roles"].append("root")


def test_claims_keep_their_json_types_like_the_seed():
    # Issue 10: a user switching from wristband-python-jwt gets lists and dicts back.
    payload = JWTPayload(CLAIMS)
    assert payload.aud == ["api-1", "api-2"] and isinstance(payload.aud, list)
    assert payload["ctx"] == {"tenant": {"id": "t1", "roles": ["admin", "user"]}}
    assert isinstance(payload["ctx"], dict) and isinstance(payload["ctx"]["tenant"], dict)
    assert payload.get("groups", []) + ["x"] == ["x"]  # noqa: RUF005 - the idiom users write
    assert payload["aud"] + ["x"] == ["api-1", "api-2", "x"]
    assert payload["aud"][:1] == ["api-1"] and type(payload["aud"][:1]) is list
    assert json.dumps(payload["ctx"], sort_keys=True) == json.dumps(CLAIMS["ctx"], sort_keys=True)
    assert json.dumps(payload["aud"]) == '["api-1", "api-2"]'
    copy_ = payload.to_dict()
    assert type(copy_["aud"]) is list and type(copy_["ctx"]["tenant"]["roles"]) is list
    assert type(copy_["ctx"]) is dict and type(copy_["ctx"]["tenant"]) is dict
    copy_["aud"].append("x")
    copy_["ctx"]["tenant"]["roles"].append("root")
    assert payload.aud == ["api-1", "api-2"] and payload["ctx"]["tenant"]["roles"] == ["admin", "user"]


def test_repr_shows_no_claim_values_beyond_sub_and_iss():
    text = repr(JWTPayload(CLAIMS))
    assert "user-1" in text
    assert "j-1" not in text and "admin" not in text


def test_built_from_another_payload():
    payload = JWTPayload(JWTPayload(CLAIMS))
    assert payload.to_dict() == CLAIMS


@pytest.mark.parametrize("bad", [None, 5, "sub", ["sub"]], ids=repr)
def test_non_mapping_refused(bad):
    with pytest.raises(TypeError):
        JWTPayload(bad)


# -- scopes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"scope": "openid email profile"}, ("openid", "email", "profile")),
        ({"scope": "  openid   email  "}, ("openid", "email")),
        ({"scope": ""}, ()),
        ({"scope": "a a b"}, ("a", "b")),
        ({"scp": ["orders:read", "orders:write"]}, ("orders:read", "orders:write")),
        ({"scp": "orders:read orders:write"}, ("orders:read", "orders:write")),
        ({"permissions": ["read:all", "write:all"]}, ("read:all", "write:all")),
        ({"permissions": []}, ()),
        ({"scp": ["a", 5, None, "b"]}, ("a", "b")),
        ({"scope": 5}, ()),
        ({"scope": "a b", "scp": ["b", "c"], "permissions": ["d"]}, ("a", "b", "c", "d")),
        ({}, ()),
    ],
    ids=repr,
)
def test_scopes(claims, scopes):
    payload = JWTPayload(claims)
    assert payload.scopes == scopes
    assert isinstance(payload.scopes, tuple)
    assert all(type(s) is str for s in payload.scopes)


# -- JwtValidationResult ------------------------------------------------------------------------


def test_result_shapes():
    ok = JwtValidationResult(True, JWTPayload({"sub": "u"}))
    assert ok.is_valid and ok.payload.sub == "u" and ok.error is None and ok.error_message is None
    bad = JwtValidationResult.failure(ErrorCode.EXPIRED, "Token has expired")
    assert bad.is_valid is False and bad.payload is None
    assert bad.error is ErrorCode.EXPIRED and bad.error_message == "Token has expired"
    assert "expired" in repr(bad)
    assert bad == JwtValidationResult(False, None, "Token has expired", ErrorCode.EXPIRED)
    assert ok != bad


def test_error_code_is_a_str_enum():
    assert ErrorCode.EXPIRED == "expired"
    assert isinstance(ErrorCode.EXPIRED, str)
    assert str(ErrorCode.KEYS_UNAVAILABLE) == "keys_unavailable"
    expected = {
        "missing_token",
        "malformed",
        "too_large",
        "disallowed_algorithm",
        "invalid_type",
        "invalid_issuer",
        "invalid_audience",
        "expired",
        "not_yet_valid",
        "missing_claim",
        "invalid_claim",
        "unknown_key",
        "keys_unavailable",
        "invalid_signature",
    }
    assert expected <= {code.value for code in ErrorCode}
    assert ErrorCode("unknown_key") is ErrorCode.UNKNOWN_KEY
