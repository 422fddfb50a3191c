"""extract_bearer_token: the seed's messages word for word, RFC 6750 grammar, any input type."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import wristband_mw
from wristband_mw import BearerTokenError, WristbandJwtValidatorConfig, create_wristband_jwt_validator
from wristband_mw import extract_bearer_token as module_extract

NO_HEADER = "No authorization header provided"
MULTIPLE = "Multiple authorization headers not allowed"
BAD_TYPE = "Authorization header must be a str or a list of str"
WRONG_SCHEME = 'Authorization header must provide "Bearer" token'
NO_TOKEN = "No token provided"
BAD_FORMAT = "Invalid bearer token format"

B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
B64TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"

_validator = create_wristband_jwt_validator(WristbandJwtValidatorConfig("auth.example.com"))


def method_extract(header):
    return _validator.extract_bearer_token(header)


both = pytest.mark.parametrize("extract", [module_extract, method_extract], ids=["function", "method"])


def message_of(extract, header) -> str:
    with pytest.raises(BearerTokenError) as info:
        extract(header)
    assert isinstance(info.value, ValueError)
    return str(info.value)


def test_public_names():
    assert wristband_mw.extract_bearer_token is module_extract
    assert issubclass(BearerTokenError, ValueError)


@both
@pytest.mark.parametrize(
    "header",
    [None, "", [], [""], (), ("",), " ", "   ", "\t", " \t ", "\n", "\r\n", "\u00a0", [" "], ["\t\t"]],
    ids=repr,
)
def test_no_authorization_header(extract, header):
    assert message_of(extract, header) == NO_HEADER


@both
def test_missing_header_is_flagged_as_missing(extract):
    with pytest.raises(BearerTokenError) as info:
        extract(None)
    assert info.value.missing is True and info.value.wrong_scheme is False


@both
@pytest.mark.parametrize(
    "header",
    [["Bearer abc", "Bearer xyz"], ["Bearer abc", "Bearer abc"], ["", ""], ["Bearer abc", "Basic x", "z"], ("a", "b")],
    ids=repr,
)
def test_multiple_headers(extract, header):
    assert message_of(extract, header) == MULTIPLE


@both
@pytest.mark.parametrize(
    "header",
    [
        "Basic abc123",
        ["Basic abc123"],
        "Token abc",
        "Bearerabc",
        "BearerX abc",
        "Bear abc",
        "abc",
        "Digest username=x",
        "=Bearer abc",
        "Bearer: abc",
        "B\u00e9arer abc",
    ],
    ids=repr,
)
def test_wrong_scheme(extract, header):
    assert message_of(extract, header) == WRONG_SCHEME


@both
def test_wrong_scheme_is_flagged(extract):
    with pytest.raises(BearerTokenError) as info:
        extract("Basic abc")
    assert info.value.wrong_scheme is True and info.value.missing is False


@both
@pytest.mark.parametrize("header", ["Bearer ", "Bearer     ", "bearer ", "BEARER ", "Bearer\t", ["Bearer "]], ids=repr)
def test_no_token(extract, header):
    assert message_of(extract, header) == NO_TOKEN


@both
@pytest.mark.parametrize("header", ["Bearer", "BEARER", "bearer", " Bearer", ["Bearer"]], ids=repr)
def test_the_scheme_alone_is_the_seeds_wrong_scheme(extract, header):
    # Issue 10: the seed and the README promise this message for "Bearer" without a space.
    with pytest.raises(BearerTokenError) as info:
        extract(header)
    assert str(info.value) == WRONG_SCHEME
    # The scheme is Bearer, so middlewares still answer 400 invalid_request (RFC 6750 3.1).
    assert info.value.wrong_scheme is False and info.value.missing is False


class _Hostile:
    """Every dunder a careless implementation might call raises."""

    def __bool__(self):
        raise RuntimeError("bool")

    def __len__(self):
        raise RuntimeError("len")

    def __str__(self):
        raise RuntimeError("str")

    def __repr__(self):
        raise RuntimeError("repr")

    def __eq__(self, other):
        raise RuntimeError("eq")

    __hash__ = None

    @property
    def __class__(self):
        raise RuntimeError("class")


class _FalsyList(list):
    def __bool__(self):
        return False

    def __len__(self):
        return 0


class _TruthyEmptyList(list):
    def __bool__(self):
        return True

    def __len__(self):
        return 5


class _RaisingList(list):
    def __bool__(self):
        raise RuntimeError("bool")

    def __len__(self):
        raise RuntimeError("len")

    def __getitem__(self, index):
        raise RuntimeError("getitem")

    def __iter__(self):
        raise RuntimeError("iter")


class _RaisingStr(str):
    def strip(self, *args):
        raise RuntimeError("strip")

    def lstrip(self, *args):
        raise RuntimeError("lstrip")

    def __str__(self):
        raise RuntimeError("str")

    def __len__(self):
        raise RuntimeError("len")


@both
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (_Hostile(), BAD_TYPE),
        ([_Hostile()], BAD_TYPE),
        ((_Hostile(),), BAD_TYPE),
        (_FalsyList(["Bearer abc"]), "abc"),
        (_TruthyEmptyList(), NO_HEADER),
        (_RaisingList(["Bearer abc"]), "abc"),
        (_RaisingList(["Bearer a", "Bearer b"]), MULTIPLE),
        (_RaisingStr("Bearer abc"), "abc"),
        (_RaisingStr(" Bearer abc"), "abc"),
        ([_RaisingStr("Basic abc")], WRONG_SCHEME),
        (b"Bearer abc", BAD_TYPE),
        ([b"Bearer abc"], BAD_TYPE),
        (bytearray(b"Bearer abc"), BAD_TYPE),
        (7, BAD_TYPE),
        (0, BAD_TYPE),
        (object(), BAD_TYPE),
        ({"Bearer abc"}, BAD_TYPE),
        ({"authorization": "Bearer abc"}, BAD_TYPE),
    ],
    ids=lambda value: type(value).__name__,  # type(): isinstance() would ask the hostile __class__
)
def test_odd_inputs_give_a_bearer_token_error_or_the_token(extract, header, expected):
    try:
        got = extract(header)
    except BearerTokenError as exc:
        got = str(exc)
    assert got == expected


@both
@pytest.mark.parametrize(
    "header",
    [
        "Bearer abc def",
        "Bearer abc\tdef",
        "Bearer abc,def",
        'Bearer a"b',
        "Bearer =abc",
        "Bearer abc=def",
        "Bearer ab c",
        "Bearer abc\n",
        "Bearer abc\x00",
        "Bearer \u00e9t\u00e9",
        "Bearer abc;",
        "Bearer\tabc",
        "Bearer \tabc",
    ],
    ids=repr,
)
def test_invalid_bearer_token_format(extract, header):
    assert message_of(extract, header) == BAD_FORMAT


@both
@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc123", "abc123"),
        (["Bearer abc123"], "abc123"),
        (("Bearer abc123",), "abc123"),
        ("bearer abc123", "abc123"),
        ("BEARER abc123", "abc123"),
        ("bEaReR abc123", "abc123"),
        ("Bearer  abc123", "abc123"),
        ("Bearer      abc123", "abc123"),
        ("Bearer a.b.c", "a.b.c"),
        ("Bearer aGVsbG8=", "aGVsbG8="),
        ("Bearer aGVsbA==", "aGVsbA=="),
        ("Bearer A-Z_a.z~0+9/", "A-Z_a.z~0+9/"),
        ("Bearer x", "x"),
    ],
    ids=repr,
)
def test_accepted(extract, header, token):
    assert extract(header) == token


@both
def test_real_jwt_round_trip(extract):
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl-_"
    assert extract(f"Bearer {jwt}") == jwt
    assert extract([f"Bearer {jwt}"]) == jwt


@both
@pytest.mark.parametrize(
    "header",
    [
        1,
        0,
        1.5,
        True,
        b"Bearer abc",
        bytearray(b"Bearer abc"),
        {"authorization": "Bearer abc"},
        {},
        [1],
        [None],
        [b"Bearer abc"],
        [["Bearer abc"]],
        [{"a": 1}],
        (b"Bearer abc",),
        object(),
        {"Bearer abc"},
    ],
    ids=repr,
)
def test_wrong_input_types_raise_bearer_token_error(extract, header):
    with pytest.raises(BearerTokenError):
        extract(header)


@both
def test_wrong_type_never_leaks_attribute_or_type_error(extract):
    for header in (5, b"x", {"a": "b"}, [7], [None], 3.0, frozenset()):
        try:
            extract(header)
        except BearerTokenError:
            continue
        except (AttributeError, TypeError) as exc:  # pragma: no cover - the failure being tested for
            pytest.fail(f"{header!r} leaked {type(exc).__name__}")
        pytest.fail(f"{header!r} was accepted")


@both
def test_method_and_function_agree(extract):
    for header in ("Bearer ok", "Basic x", None, ["a", "b"], "Bearer a b", "Bearer "):
        try:
            expected = ("ok", module_extract(header))
        except BearerTokenError as exc:
            expected = ("error", str(exc))
        try:
            got = ("ok", extract(header))
        except BearerTokenError as exc:
            got = ("error", str(exc))
        assert got == expected


def test_method_default_argument_is_missing_header():
    with pytest.raises(BearerTokenError, match=f"^{NO_HEADER}$"):
        _validator.extract_bearer_token()


# -- property tests ----------------------------------------------------------------------

header_values = st.one_of(
    st.none(),
    st.text(),
    st.text(alphabet=" \tBbEeAaRr" + B64TOKEN_ALPHABET + '=,;"\n'),
    st.builds(lambda s: "Bearer " + s, st.text()),
    st.builds(lambda sep, s: "Bearer" + sep + s, st.text(" \t", max_size=3), st.text(B64TOKEN_ALPHABET + "= ")),
)
any_input = st.one_of(
    header_values,
    st.lists(header_values, max_size=3),
    st.tuples(header_values),
    st.integers(),
    st.floats(allow_nan=True),
    st.binary(),
    st.booleans(),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    st.lists(st.one_of(st.integers(), st.binary(), st.none()), min_size=1, max_size=2),
    st.sets(st.integers(), max_size=2),
)


@given(any_input)
@example("Bearer \u00a0abc")
@example("Bearer abc\u2028")
@example(["Bearer  a=="])
def test_property_returns_b64token_or_raises_bearer_token_error(header):
    for extract in (module_extract, method_extract):
        try:
            token = extract(header)
        except BearerTokenError as exc:
            assert str(exc) in {NO_HEADER, MULTIPLE, WRONG_SCHEME, NO_TOKEN, BAD_FORMAT} or isinstance(
                header, (int, float, bytes, dict, set, list, tuple)
            )
            continue
        assert type(token) is str
        assert B64TOKEN.fullmatch(token), token


@given(st.text(alphabet=B64TOKEN_ALPHABET, min_size=1), st.text(alphabet="=", max_size=3), st.integers(1, 4))
def test_property_round_trip(body, padding, spaces):
    token = body + padding
    assert module_extract("Bearer " + token) == token
    assert module_extract("Bearer" + " " * spaces + token) == token
    assert module_extract(["bearer " + token]) == token
    assert method_extract("BEARER " + token) == token


@given(st.text().filter(lambda s: s.strip() != ""))
def test_property_other_schemes_refused(scheme_and_rest):
    header = "Basic " + scheme_and_rest
    with pytest.raises(BearerTokenError) as info:
        module_extract(header)
    assert str(info.value) == WRONG_SCHEME
