"""WristbandJwtValidatorConfig: the seed's fields and order, strict defaults, validation."""

from __future__ import annotations

import dataclasses
import math

import pytest

import wristband_mw
from wristband_mw import ValidatorConfig, WristbandJwtValidator, WristbandJwtValidatorConfig

Config = WristbandJwtValidatorConfig
DOMAIN = "auth.yourapp.io"


def test_alias_and_public_names():
    assert ValidatorConfig is WristbandJwtValidatorConfig
    for name in (
        "WristbandJwtValidatorConfig",
        "ValidatorConfig",
        "create_wristband_jwt_validator",
        "WristbandJwtValidator",
        "JwtValidator",
        "JwtValidationResult",
        "JWTPayload",
        "ErrorCode",
        "extract_bearer_token",
        "BearerTokenError",
    ):
        assert hasattr(wristband_mw, name), name
    assert wristband_mw.JwtValidator is wristband_mw.WristbandJwtValidator


def test_domain_derives_issuer_and_jwks_url_exactly():
    config = Config(wristband_application_vanity_domain=DOMAIN)
    assert config.resolved_issuer == "https://auth.yourapp.io"
    assert config.resolved_jwks_url == "https://auth.yourapp.io/api/v1/oauth2/jwks"
    assert (config.issuer, config.jwks_url) == (None, None)  # the fields hold what was passed


def test_replace_with_another_domain_derives_afresh():
    tenant_a = Config(DOMAIN, audience="orders-api")
    tenant_b = dataclasses.replace(tenant_a, wristband_application_vanity_domain="tenant-b.example.com")
    assert tenant_b.resolved_issuer == "https://tenant-b.example.com"
    assert tenant_b.resolved_jwks_url == "https://tenant-b.example.com/api/v1/oauth2/jwks"
    assert tenant_b.audience == "orders-api"
    assert WristbandJwtValidator(tenant_b).issuer == "https://tenant-b.example.com"
    # What the caller passed explicitly is kept by a copy, and wins over the domain.
    pinned = dataclasses.replace(Config(DOMAIN, issuer="https://pinned.example.com"), jwks_cache_ttl=1000)
    assert pinned.resolved_issuer == "https://pinned.example.com"
    moved = dataclasses.replace(pinned, wristband_application_vanity_domain="tenant-b.example.com")
    assert moved.resolved_issuer == "https://pinned.example.com"
    assert moved.resolved_jwks_url == "https://tenant-b.example.com/api/v1/oauth2/jwks"


def test_static_jwks_has_no_jwks_url():
    config = Config(issuer="https://issuer.example.com", jwks={"keys": []})
    assert config.resolved_jwks_url is None
    assert Config(DOMAIN, jwks={"keys": []}).resolved_jwks_url is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.\u0967/jwks",  # a Devanagari one
        "http://\uff11\uff12\uff17.0.0.1/jwks",  # fullwidth 127
        "http://127.0.0.1\u3002/jwks",  # an ideographic full stop
        "http://l\u043ecalhost/jwks",  # a Cyrillic o
        "http://127.0.0.256/jwks",
        "http://127.0.0.01x/jwks",
        "http://127.1/jwks",
        "http://[::2]/jwks",
    ],
)
def test_plain_http_only_for_ascii_loopback(url):
    with pytest.raises(ValueError, match="must use https"):
        Config(issuer="https://issuer.example.com", jwks_url=url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/jwks", "http://127.255.3.9:8080/jwks", "http://[::1]:9/jwks", "http://LOCALHOST/jwks"]
)
def test_plain_http_to_ascii_loopback_is_accepted(url):
    assert Config(issuer="https://issuer.example.com", jwks_url=url).resolved_jwks_url == url


@pytest.mark.parametrize("domain", ["auth.yourapp.io", "myapp.wristband.dev", "localhost", "a", "host:8443", "x-y.z1"])
def test_accepted_domains(domain):
    config = Config(domain)
    assert config.resolved_issuer == f"https://{domain}"
    assert config.resolved_jwks_url == f"https://{domain}/api/v1/oauth2/jwks"


def test_positional_arguments_in_the_seeds_order():
    config = Config(DOMAIN, 7, 3_600_000)
    assert config.wristband_application_vanity_domain == DOMAIN
    assert config.jwks_cache_max_size == 7
    assert config.jwks_cache_ttl == 3_600_000
    names = [f.name for f in dataclasses.fields(Config)]
    assert names[:3] == ["wristband_application_vanity_domain", "jwks_cache_max_size", "jwks_cache_ttl"]


def test_defaults():
    config = Config(DOMAIN)
    assert config.jwks_cache_max_size == 20
    assert config.jwks_cache_ttl == 600_000
    assert config.jwks_cache_ttl_seconds == 600.0
    assert config.audience is None
    assert config.audiences == ()
    assert tuple(config.algorithms) == ("RS256",)
    assert config.leeway == 0
    assert config.require_exp is True
    assert config.token_typ == "at+jwt"
    assert config.max_token_bytes == 8192
    assert config.jwks_fetch_timeout == 5.0
    assert config.jwks_refresh_cooldown == 30
    assert config.jwks_stale_if_error == 86400
    assert config.verified_token_cache_size == 4096
    assert config.jwks is None


@pytest.mark.parametrize(
    ("domain", "hint"),
    [
        ("https://auth.yourapp.io", "scheme"),
        ("http://auth.yourapp.io", "scheme"),
        ("auth.yourapp.io/", "auth.yourapp.io"),
        ("auth.yourapp.io/api", "auth.yourapp.io"),
        ("auth.yourapp.io ", "auth.yourapp.io"),
        (" auth.yourapp.io", "auth.yourapp.io"),
        ("auth yourapp.io", "auth.yourapp.io"),
        ("auth.yourapp.io\n", "auth.yourapp.io"),
        ("", "empty"),
        ("auth.yourapp.io?x=1", "auth.yourapp.io"),
        ("user@auth.yourapp.io", "auth.yourapp.io"),
        ("-bad.example.com", "auth.yourapp.io"),
    ],
    ids=repr,
)
def test_bad_domains_raise_value_error_saying_what_to_pass(domain, hint):
    with pytest.raises(ValueError) as info:
        Config(domain)
    message = str(info.value)
    assert hint in message
    assert "auth.yourapp.io" in message  # an example of what to pass


@pytest.mark.parametrize("domain", [5, b"auth.yourapp.io", ["auth.yourapp.io"]], ids=repr)
def test_non_string_domain_raises_value_error(domain):
    with pytest.raises(ValueError, match="wristband_application_vanity_domain"):
        Config(domain)


def test_nothing_at_all_raises():
    with pytest.raises(ValueError, match="wristband_application_vanity_domain"):
        Config()


# -- jwks_cache_max_size ------------------------------------------------------------------


@pytest.mark.parametrize("falsy", [None, 0, False, ""], ids=repr)
def test_max_size_falsy_means_20(falsy):
    assert Config(DOMAIN, falsy).jwks_cache_max_size == 20


@pytest.mark.parametrize("size", [1, 5, 20, 1000])
def test_max_size_positive_kept(size):
    assert Config(DOMAIN, jwks_cache_max_size=size).jwks_cache_max_size == size


@pytest.mark.parametrize("size", [-1, -20, 2.5, "10", True], ids=repr)
def test_max_size_invalid_raises(size):
    with pytest.raises(ValueError, match="max_size must be a positive integer"):
        Config(DOMAIN, jwks_cache_max_size=size)


# -- jwks_cache_ttl -----------------------------------------------------------------------


def test_ttl_none_allowed_means_never_refresh():
    config = Config(DOMAIN, jwks_cache_ttl=None)
    assert config.jwks_cache_ttl is None
    assert config.jwks_cache_ttl_seconds is None


@pytest.mark.parametrize(("ttl", "seconds"), [(1, 0.001), (60_000, 60.0), (2_629_746_000, 2_629_746.0)])
def test_ttl_in_milliseconds(ttl, seconds):
    config = Config(DOMAIN, jwks_cache_ttl=ttl)
    assert config.jwks_cache_ttl == ttl
    assert config.jwks_cache_ttl_seconds == pytest.approx(seconds)


@pytest.mark.parametrize("ttl", [0, -1, -600_000, math.nan, math.inf, "600000", True], ids=repr)
def test_ttl_invalid_raises(ttl):
    with pytest.raises(ValueError, match="ttl must be a positive integer"):
        Config(DOMAIN, jwks_cache_ttl=ttl)


# -- issuer and jwks_url overrides ----------------------------------------------------------


def test_overrides_without_domain():
    config = Config(issuer="https://issuer.example.com/", jwks_url="https://keys.example.com/jwks.json")
    assert config.issuer == "https://issuer.example.com/"
    assert config.jwks_url == "https://keys.example.com/jwks.json"
    assert config.wristband_application_vanity_domain is None


def test_issuer_override_with_domain_keeps_derived_jwks_url():
    config = Config(DOMAIN, issuer="https://other.example.com")
    assert config.resolved_issuer == config.issuer == "https://other.example.com"
    assert config.resolved_jwks_url == "https://auth.yourapp.io/api/v1/oauth2/jwks"


def test_jwks_url_override_with_domain_keeps_derived_issuer():
    config = Config(DOMAIN, jwks_url="https://keys.example.com/jwks")
    assert config.resolved_issuer == "https://auth.yourapp.io"
    assert config.resolved_jwks_url == config.jwks_url == "https://keys.example.com/jwks"


def test_issuer_without_jwks_url_or_domain_raises():
    with pytest.raises(ValueError, match="jwks_url"):
        Config(issuer="https://issuer.example.com")


def test_jwks_url_without_issuer_or_domain_raises():
    with pytest.raises(ValueError, match="issuer"):
        Config(jwks_url="https://keys.example.com/jwks")


@pytest.mark.parametrize("issuer", ["", "  ", " https://x.example.com", "https://x.example.com\n", 5], ids=repr)
def test_bad_issuer_raises(issuer):
    with pytest.raises(ValueError, match="issuer"):
        Config(issuer=issuer, jwks_url="https://keys.example.com/jwks")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/jwks",
        "http://127.0.0.1/jwks",
        "http://127.5.6.7:1/x",
        "http://localhost:9000/jwks",
        "http://[::1]:9000/jwks",
        "https://keys.example.com/jwks",
        "https://127.0.0.1/jwks",
    ],
)
def test_jwks_url_https_or_loopback_http(url):
    assert Config(issuer="https://i.example.com", jwks_url=url).jwks_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://keys.example.com/jwks",
        "http://10.0.0.1/jwks",
        "http://128.0.0.1/jwks",
        "http://localhost.example.com/jwks",
        "ftp://keys.example.com/jwks",
        "keys.example.com/jwks",
        "/api/v1/oauth2/jwks",
        "",
        " https://keys.example.com/jwks",
        "https://user:pw@keys.example.com/jwks",
        "https:///jwks",
        5,
    ],
    ids=repr,
)
def test_jwks_url_refused(url):
    with pytest.raises(ValueError, match="jwks_url"):
        Config(issuer="https://i.example.com", jwks_url=url)


def test_static_jwks_needs_no_url():
    jwks = {"keys": []}
    config = Config(issuer="https://i.example.com", jwks=jwks)
    assert config.jwks is jwks
    assert config.jwks_url is None


@pytest.mark.parametrize("jwks", [[], "keys", 5], ids=repr)
def test_static_jwks_must_be_a_mapping(jwks):
    with pytest.raises(ValueError, match="jwks"):
        Config(issuer="https://i.example.com", jwks=jwks)


# -- algorithms ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithms", "expected"),
    [
        (("RS256",), ("RS256",)),
        (["RS256"], ("RS256",)),
        (["RS256", "RS384", "RS512"], ("RS256", "RS384", "RS512")),
        (["RS512", "RS256", "RS512"], ("RS512", "RS256")),
        (["ES256", "ES384", "ES512"], ("ES256", "ES384", "ES512")),
        (["PS256", "PS384", "PS512"], ("PS256", "PS384", "PS512")),
        (["EdDSA"], ("EdDSA",)),
        (["RS256", "PS256", "ES256", "EdDSA"], ("RS256", "PS256", "ES256", "EdDSA")),
    ],
)
def test_algorithms_allowed(algorithms, expected):
    assert tuple(Config(DOMAIN, algorithms=algorithms).algorithms) == expected


@pytest.mark.parametrize(
    "algorithms",
    [
        ["none"],
        ["None"],
        ["NONE"],
        ["HS256"],
        ["hs256"],
        ["HS384"],
        ["HS512"],
        ["RS256", "HS256"],
        ["RS256", "none"],
        ["rs256"],
        ["Rs256"],
        ["ES256K"],
        ["es256"],
        ["eddsa"],
        ["Ed25519"],
        ["Ed448"],
        ["RSA-OAEP"],
        ["PS256", "ES256 "],
        [],
        (),
        "RS256",
        None,
        [256],
    ],
    ids=repr,
)
def test_algorithms_refused(algorithms):
    with pytest.raises(ValueError):
        Config(DOMAIN, algorithms=algorithms)


# -- audience --------------------------------------------------------------------------------


def test_audience_string():
    config = Config(DOMAIN, audience="orders-api")
    assert config.audience == "orders-api"
    assert config.audiences == ("orders-api",)


@pytest.mark.parametrize("audience", [["a", "b"], ("a", "b")])
def test_audience_sequence(audience):
    config = Config(DOMAIN, audience=audience)
    assert tuple(config.audience) == ("a", "b")
    assert config.audiences == ("a", "b")


@pytest.mark.parametrize("audience", ["", [], ["a", ""], [1], 5, {"a": 1}], ids=repr)
def test_audience_invalid(audience):
    with pytest.raises(ValueError, match="audience"):
        Config(DOMAIN, audience=audience)


# -- every other option -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("leeway", [0, 1, 30, 2.5], [-1, -0.1, math.nan, math.inf, "5", True, None]),
        ("require_exp", [True, False], [1, 0, "yes", None]),
        ("token_typ", ["at+jwt", "JWT", "application/at+jwt", None], ["", "  ", 5]),
        ("max_token_bytes", [1, 100, 8192, 100_000], [0, -1, 1.5, "8192", True, None]),
        ("jwks_fetch_timeout", [0.01, 1, 5.0], [0, -1, math.nan, math.inf, "5", True, None]),
        ("jwks_refresh_cooldown", [0, 0.5, 30], [-1, math.nan, math.inf, "30", True, None]),
        ("jwks_stale_if_error", [0, 1, 86400], [-1, math.nan, math.inf, "1", True, None]),
        ("verified_token_cache_size", [0, 1, 4096], [-1, 1.5, "10", True, None]),
    ],
)
def test_option_validation(name, good, bad):
    for value in good:
        assert getattr(Config(DOMAIN, **{name: value}), name) == value
    for value in bad:
        with pytest.raises(ValueError, match=name):
            Config(DOMAIN, **{name: value})


def test_frozen():
    config = Config(DOMAIN)
    for name, value in [
        ("issuer", "https://evil.example.com"),
        ("jwks_url", "https://evil.example.com/jwks"),
        ("algorithms", ("HS256",)),
        ("wristband_application_vanity_domain", "x"),
        ("leeway", 1000),
    ]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(config, name, value)
    assert config.resolved_issuer == "https://auth.yourapp.io"


def test_equality_and_hash():
    assert Config(DOMAIN) == Config(DOMAIN)
    assert Config(DOMAIN) != Config(DOMAIN, leeway=5)
    assert hash(Config(DOMAIN, audience=["a", "b"])) == hash(Config(DOMAIN, audience=("a", "b")))


def test_algorithm_list_is_not_shared_with_caller():
    algorithms = ["RS256"]
    config = Config(DOMAIN, algorithms=algorithms)
    algorithms.append("HS256")
    assert tuple(config.algorithms) == ("RS256",)
