"""MiddlewareOptions, the shared request flow and its named outcomes, BoundedMemo, the cached path."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from support.validators import offline_validator

from wristband_mw import (
    BearerTokenError,
    ErrorCode,
    JwksError,
    JwtAsgiMiddleware,
    JwtWsgiMiddleware,
    MiddlewareOptions,
    TokenParseError,
    WristbandMwError,
)
from wristband_mw.cache import BoundedMemo
from wristband_mw.flow import PASS, Authenticated, Flow, Refusal
from wristband_mw.identity import AuthCredentials, AuthenticatedUser, Identity

# -- MiddlewareOptions ----------------------------------------------------------------------------


def test_options_hold_what_was_passed_and_derive_the_rest():
    options = MiddlewareOptions(protect=["/api/", "//x"], exempt_methods=["head"], required_scopes="a b")
    assert options.protect == ("/api/", "//x")  # as passed (a list kept as a tuple)
    assert options.protect_prefixes == ("/api", "/x")  # derived: normalised
    assert options.exempt_method_set == frozenset({"HEAD"})
    assert options.base_scopes == ("a", "b")
    again = dataclasses.replace(options, protect=["/other"])
    assert again.protect_prefixes == ("/other",)  # a copy re-derives
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.optional = True  # type: ignore[misc]


def test_options_take_a_generator_once():
    options = MiddlewareOptions(protect=(p for p in ["/api"]))  # type: ignore[arg-type]
    assert options.protect == ("/api",) and options.protect_prefixes == ("/api",)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"protect": "/api"}, "lists"),
        ({"exempt": ["api"]}, "starting with '/'"),
        ({"exempt_methods": ["GET /"]}, "method names"),
        ({"scopes": {"/a": ["x y"]}}, "without spaces"),
        ({"optional": 1}, "optional"),
        ({"on_error": 5}, "on_error"),
        ({"realm": "a\nb"}, "realm"),
        ({"websocket_query_param": ""}, "websocket_query_param"),
        ({"prefetch_on_startup": "yes"}, "prefetch_on_startup"),
        ({"remote_user_header": None}, "remote_user_header"),
    ],
)
def test_options_are_checked_in_one_place_for_both_adapters(options, words):
    with pytest.raises(ValueError, match=words):
        MiddlewareOptions(**options)
    adapter_options = {k: v for k, v in options.items() if k not in ("prefetch_on_startup", "remote_user_header")}
    if adapter_options != options or "websocket_query_param" in options:
        return
    with pytest.raises(ValueError, match=words):
        JwtWsgiMiddleware(lambda e, s: [], offline_validator(), **options)
    with pytest.raises(ValueError, match=words):
        JwtAsgiMiddleware(lambda s, r, d: None, offline_validator(), **options)


def test_adapters_expose_their_options():
    mw = JwtAsgiMiddleware(lambda s, r, d: None, offline_validator(), protect=["/api"], remote_user_header=False)
    assert mw.options == MiddlewareOptions(protect=("/api",), remote_user_header=False)
    assert mw.remote_user_header is False and mw.flow.options is mw.options


# -- the flow's outcomes ----------------------------------------------------------------------------


def test_flow_outcomes_are_named(issuer, validator, token):
    flow = Flow(validator, MiddlewareOptions(protect=["/api"], required_scopes=["openid"]))
    assert flow.authenticate(flow.policy.rule_for("GET", "/public"), []) is PASS
    missing = flow.authenticate(flow.policy.rule_for("GET", "/api/x"), [])
    assert isinstance(missing, Refusal) and missing.failure.status == 401
    refused_path = flow.authenticate(flow.policy.rule_for("GET", "/api/\n"), [])
    assert isinstance(refused_path, Refusal) and refused_path.failure.status == 400
    for _ in range(2):  # the full way, then the cached way: the same answer
        outcome = flow.authenticate(flow.policy.rule_for("GET", "/api/x"), [f"Bearer {token}"])
        assert isinstance(outcome, Authenticated) and outcome.token == token
        assert outcome.payload.sub == "user-1"
        assert token not in repr(outcome)
    scoped = Flow(validator, MiddlewareOptions(required_scopes=["root"]))
    denied = scoped.authenticate(scoped.policy.rule_for("GET", "/"), [f"Bearer {token}"])
    assert isinstance(denied, Refusal) and denied.failure.status == 403


@pytest.mark.parametrize(
    ("suffix", "status"),
    [(" x", 400), ("!", 400), (",Bearer x", 400), ("=", 401)],
)
def test_a_cached_token_in_a_malformed_header_gets_the_same_answer_as_before(validator, token, suffix, status):
    flow = Flow(validator, MiddlewareOptions())
    rule = flow.policy.rule_for("GET", "/")
    assert isinstance(flow.authenticate(rule, [f"Bearer {token}"]), Authenticated)  # now cached
    before = validator.stats()["results"]
    outcome = flow.authenticate(rule, [f"Bearer {token}{suffix}"])
    assert isinstance(outcome, Refusal) and outcome.failure.status == status
    if status == 400:  # refused at the header: the validator was never asked
        assert validator.stats()["results"] == before


def test_other_spellings_of_the_scheme_take_the_full_way(validator, token):
    flow = Flow(validator, MiddlewareOptions())
    rule = flow.policy.rule_for("GET", "/")
    for header in (f"BEARER {token}", f"bearer  {token}", f"Bearer {token}".encode("latin-1")):
        outcome = flow.authenticate(rule, [header])
        assert isinstance(outcome, Authenticated) and outcome.token == token


def test_flow_accepts_any_validator_with_the_methods_it_needs(validator, token):
    class Wrapper:
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            return getattr(self._inner, name)

    flow = Flow(Wrapper(validator), MiddlewareOptions())  # type: ignore[arg-type]
    assert isinstance(flow.authenticate(flow.policy.rule_for("GET", "/"), [f"Bearer {token}"]), Authenticated)
    with pytest.raises(ValueError, match="create_wristband_jwt_validator"):
        Flow(object(), MiddlewareOptions())  # type: ignore[arg-type]


# -- the cached path in the validator ------------------------------------------------------------


def test_cached_verification_answers_only_for_cached_tokens(issuer):
    validator = issuer.validator()
    try:
        token = issuer.mint(sub="cached-user")
        assert validator.cached_verification(token) is None  # never seen: nothing counted
        assert sum(validator.stats()["results"].values()) == 0
        first = validator.verify_identity(token)
        assert isinstance(first, Identity) and first.payload.sub == "cached-user"
        assert validator.cached_verification(token) is first  # built once, shared
        assert validator.cached_verification("x" * 100_000) is None  # too large: not even hashed
        assert validator.cached_verification(token + "A") is None
        expired = issuer.mint(exp_in=-5)
        assert validator.verify_identity(expired) is ErrorCode.EXPIRED
    finally:
        validator.close()


def test_shared_identity_objects_are_read_only(issuer, validator):
    identity = validator.verify_identity(issuer.mint(scope="a b"))
    assert isinstance(identity, Identity)
    assert isinstance(identity.user, AuthenticatedUser) and isinstance(identity.credentials, AuthCredentials)
    assert identity.credentials.scopes == ["a", "b"] and "authenticated" in identity.credentials.scopes
    with pytest.raises(TypeError):
        identity.credentials.scopes.append("admin")
    with pytest.raises(AttributeError):
        identity.user.claims = None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        identity.credentials.scopes = []  # type: ignore[misc]


# -- BoundedMemo -----------------------------------------------------------------------------------


def test_bounded_memo_forgets_its_oldest_entry_when_full():
    memo: BoundedMemo[int, str] = BoundedMemo(3)
    for i in range(5):
        assert memo.put(i, str(i)) == str(i)
    assert len(memo) == 3 and 0 not in memo and 1 not in memo and memo.get(4) == "4"
    memo.put(2, "two")  # replacing keeps the size
    assert len(memo) == 3 and memo.get(2) == "two"
    memo.discard(2, "2")  # not the value it holds: kept
    assert memo.get(2) == "two"
    memo.discard(2, memo.get(2))
    assert 2 not in memo
    with pytest.raises(ValueError):
        BoundedMemo(0)


def test_bounded_memo_stays_bounded_and_consistent_under_threads():
    memo: BoundedMemo[int, int] = BoundedMemo(16)
    errors = []

    def work(offset: int) -> None:
        for i in range(3000):
            key = (i * 7 + offset) % 40
            memo.put(key, key * 2)
            value = memo.get(key)
            if value is not None and value != key * 2:
                errors.append((key, value))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors and len(memo) <= 16


# -- exceptions -------------------------------------------------------------------------------------


def test_every_exception_shares_one_base_and_keeps_its_builtin_one():
    assert issubclass(BearerTokenError, WristbandMwError) and issubclass(BearerTokenError, ValueError)
    assert issubclass(TokenParseError, WristbandMwError) and issubclass(TokenParseError, ValueError)
    assert issubclass(JwksError, WristbandMwError) and issubclass(JwksError, RuntimeError)
    from wristband_mw.tokens import TokenParseError as OldPathTokenParseError

    assert OldPathTokenParseError is TokenParseError
