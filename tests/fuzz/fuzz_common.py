"""What both fuzz targets share: fixed keys, a static-JWKS validator, real tokens, oracles.

Everything here is deterministic, so a corpus written once stays meaningful in every
later run and on every machine:

* the RSA keys are derived from fixed seeds (primes found with a seeded PRNG), so no
  private key is stored in the repository and every run signs with the same keys;
* the validators use a static ``jwks=`` document (nothing is ever fetched) and a fixed
  clock (:data:`NOW`), so a token that was valid when the corpus was built stays valid.

Nothing here needs atheris: the one-input functions of the targets import this module
and run under plain pytest too (``tests/test_fuzz_targets.py``).
"""

from __future__ import annotations

import binascii
import json
import logging
import os
import random
import sys
from typing import Any, Dict, List, Optional, Tuple, Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# The shared test helpers (tests/support): a fuzz target runs as a script from tests/fuzz.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.encoding import JsonInput, b64url, b64url_decode, json_bytes
from support.tokens import public_jwk

from wristband_mw import (
    ErrorCode,
    JwtValidationResult,
    WristbandJwtValidator,
    WristbandJwtValidatorConfig,
    create_wristband_jwt_validator,
)

ISSUER = "https://issuer.fuzz.example"
NOW = 1_750_000_000  # the validators' wall clock: tokens minted against it never expire
LEEWAY = 30
AUDIENCES = ("api", "other-api")
ALGORITHMS = ("RS256", "RS384", "RS512")
KID_A = "fuzz-key-a"  # published, JWK restricted to RS256
KID_B = "fuzz-key-b"  # published, no alg restriction
KID_UNKNOWN = "fuzz-key-unpublished"
_HASHES = {"RS256": hashes.SHA256(), "RS384": hashes.SHA384(), "RS512": hashes.SHA512()}
_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2))]


# -- deterministic keys ---------------------------------------------------------------
def _is_probable_prime(n: int, rng: random.Random) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(6):  # ample for random 1024-bit candidates (and these are test keys)
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(rng: random.Random, bits: int, e: int) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (3 << (bits - 2)) | 1  # top two bits: n has 2*bits bits
        if (candidate - 1) % e and _is_probable_prime(candidate, rng):
            return candidate


def deterministic_rsa_key(seed: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    """The same RSA key for the same ``seed``, every run (test keys only: the seed is public)."""
    rng = random.Random(seed)
    e = 65537
    p = _prime(rng, bits // 2, e)
    q = _prime(rng, bits // 2, e)
    while q == p:
        q = _prime(rng, bits // 2, e)
    d = pow(e, -1, (p - 1) * (q - 1))
    public = rsa.RSAPublicNumbers(e, p * q)
    private = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
    )
    return private.private_key(unsafe_skip_rsa_key_validation=True)  # built from checked numbers above


KEY_A = deterministic_rsa_key("wristband_mw fuzz key A")
KEY_B = deterministic_rsa_key("wristband_mw fuzz key B")
FORGER = deterministic_rsa_key("wristband_mw fuzz forger")  # in no JWKS
SIGNING_KEYS = {KID_A: KEY_A, KID_B: KEY_B, KID_UNKNOWN: FORGER}


JWKS = {"keys": [public_jwk(KID_A, KEY_A), public_jwk(KID_B, KEY_B, alg=None)]}
#: kid -> (public key, the JWK's alg restriction): what the independent oracle trusts.
PUBLISHED = {KID_A: (KEY_A.public_key(), "RS256"), KID_B: (KEY_B.public_key(), None)}


def make_validator(**overrides: Any) -> WristbandJwtValidator:
    """A validator on the static JWKS and the fixed clock; ``overrides`` are config fields."""
    options: Dict[str, Any] = {
        "issuer": ISSUER,
        "jwks": JWKS,
        "audience": AUDIENCES,
        "algorithms": ALGORITHMS,
        "leeway": LEEWAY,
    }
    options.update(overrides)
    return create_wristband_jwt_validator(WristbandJwtValidatorConfig(**options), clock=lambda: NOW)


# -- tokens ---------------------------------------------------------------------------


def sign(header: JsonInput, payload: JsonInput, kid: str = KID_A, alg: str = "RS256") -> str:
    """A compact JWS over any header and payload bytes, really signed with ``kid``'s key."""
    signing_input = f"{b64url(json_bytes(header))}.{b64url(json_bytes(payload))}"
    signature = SIGNING_KEYS[kid].sign(signing_input.encode("ascii"), padding.PKCS1v15(), _HASHES[alg])
    return f"{signing_input}.{b64url(signature)}"


def header(kid: str = KID_A, alg: str = "RS256", **extra: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {"alg": alg, "typ": "at+jwt", "kid": kid}
    out.update(extra)
    return {k: v for k, v in out.items() if v is not None}


def claims(**extra: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": "api",
        "iat": NOW - 60,
        "exp": NOW + 3600,
        "scope": "openid read write",
        "jti": "fuzz-jti",
    }
    out.update(extra)
    return {k: v for k, v in out.items() if v is not None}


def mint(kid: str = KID_A, alg: str = "RS256", header_extra: Optional[Dict[str, Any]] = None, **extra: Any) -> str:
    return sign(header(kid, alg, **(header_extra or {})), claims(**extra), kid=kid, alg=alg)


#: Real tokens the validators accept: every key, every algorithm, the claim shapes.
VALID_TOKENS: List[str] = [
    mint(),
    mint(KID_B, "RS256"),
    mint(KID_B, "RS384"),
    mint(KID_B, "RS512"),
    mint(aud=["other-api", "x"], scope="admin read"),
    mint(nbf=NOW - 5, sub="svc", scp=["admin", "read"], permissions="write"),
    mint(exp=NOW + 0.5, iat=NOW, jti=None, sub="user-2", extra={"nested": [1, {"a": None}], "n": 1.5}),
    mint(header_extra={"typ": "application/at+jwt"}, exp=NOW + 10, scope="admin"),
    # jku/x5u/jwk in the header are ignored (never fetched or trusted): the JWKS key verifies.
    mint(header_extra={"jku": "https://evil.example/jwks", "x5u": "https://evil.example/x5u", "jwk": {"kty": "RSA"}}),
]

#: Real tokens the validators refuse, each for another reason.
INVALID_TOKENS: List[str] = [
    mint(exp=NOW - 3600),  # expired
    mint(nbf=NOW + 3600),  # not yet valid
    mint(iss=ISSUER + "/"),  # issuer
    mint(aud="elsewhere"),  # audience
    mint(exp=None),  # no exp
    mint(exp="1900000000"),  # exp as a string
    mint(KID_A, "RS384"),  # JWK restricts key A to RS256
    mint(KID_UNKNOWN),  # unknown kid
    sign(header(KID_A), claims(), kid=KID_UNKNOWN),  # forged: published kid, other key
    sign(header(KID_A, typ="JWT"), claims()),  # wrong typ
    sign(header(KID_A, crit=["exp"]), claims()),  # refused header feature
    sign(b'{"alg":"RS256","alg":"RS256","typ":"at+jwt","kid":"fuzz-key-a"}', claims()),  # duplicate member
    sign(header(KID_A), b'{"iss":"' + ISSUER.encode() + b'","exp":NaN}'),
    b64url(b'{"alg":"none","typ":"at+jwt","kid":"fuzz-key-a"}') + "." + b64url(json_bytes(claims())) + ".",
]


# -- oracles --------------------------------------------------------------------------
def independently_valid(token: object, require_exp: bool = True) -> Tuple[bool, str]:
    """Check a token the validator accepted with plain ``cryptography`` and ``json``.

    Returns ``(ok, why_not)``. This is deliberately a second implementation: a token
    the validator accepts must carry a genuine signature by a published key, for an
    algorithm that key allows, and the issuer and expiry the configuration demands.
    """
    if not isinstance(token, str):
        return False, "not a str"
    parts = token.split(".")
    if len(parts) != 3:
        return False, "not three segments"
    try:
        head = json.loads(b64url_decode(parts[0]))
        body = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, binascii.Error) as exc:
        return False, f"undecodable: {exc}"
    if not isinstance(head, dict) or not isinstance(body, dict):
        return False, "not JSON objects"
    alg, kid = head.get("alg"), head.get("kid")
    if alg not in ALGORITHMS or kid not in PUBLISHED:
        return False, f"alg {alg!r} / kid {kid!r}"
    key, restricted_to = PUBLISHED[kid]
    if restricted_to is not None and alg != restricted_to:
        return False, "alg not allowed for this key"
    try:
        key.verify(signature, (parts[0] + "." + parts[1]).encode("ascii"), padding.PKCS1v15(), _HASHES[alg])
    except (InvalidSignature, ValueError) as exc:
        return False, f"signature: {exc!r}"
    if body.get("iss") != ISSUER:
        return False, "issuer"
    exp = body.get("exp")
    if exp is None and "exp" not in body and not require_exp:
        return True, ""
    if type(exp) not in (int, float) or exp + LEEWAY <= NOW:
        return False, "exp"
    return True, ""


def check_result(result: object) -> JwtValidationResult:
    """The invariants of every :class:`JwtValidationResult`."""
    assert isinstance(result, JwtValidationResult), type(result)
    if result.is_valid:
        assert result.is_valid is True
        assert result.payload is not None and result.error is None and result.error_message is None
        payload = result.payload
        # What an application does with claims must never raise: copy them, and send them
        # on as strict JSON (RFC 8259: no NaN or Infinity; UTF-8, so no lone surrogates).
        claims = payload.to_dict()
        assert all(isinstance(name, str) for name in claims)
        json.dumps(claims, allow_nan=False, ensure_ascii=False).encode("utf-8")
        assert isinstance(payload.scopes, tuple)
        assert all(isinstance(scope, str) for scope in payload.scopes)
        repr(payload)
        dict(payload)
    else:
        assert result.is_valid is False and result.payload is None
        assert isinstance(result.error, ErrorCode), result.error
        message = result.error_message
        assert isinstance(message, str) and message, message
        # Messages echo token values only escaped and truncated: safe for one log line.
        assert message.isascii() and message.isprintable(), repr(message)
        assert len(message) < 600, len(message)
    repr(result)
    return result


class ErrorLogWatch(logging.Handler):
    """Records ``wristband_mw`` log records at ERROR or above.

    ``validate()`` turns an unexpected exception into a MALFORMED result and logs it
    with ``logger.exception``; for a fuzzer that swallowed exception is a crash, so the
    targets fail on any record captured here.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def raise_if_any(self) -> None:
        if self.records:
            record = self.records[0]
            self.records.clear()
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                raise AssertionError(f"swallowed exception logged: {text}") from record.exc_info[1]
            raise AssertionError(f"error logged: {text}")


_watch: Optional[ErrorLogWatch] = None


def error_log_watch() -> ErrorLogWatch:
    """The one watcher on the ``wristband_mw`` logger (installed on first use)."""
    global _watch
    if _watch is None:
        _watch = ErrorLogWatch()
        logging.getLogger("wristband_mw").addHandler(_watch)
    return _watch


# -- structured input -----------------------------------------------------------------
class Data:
    """A cursor over fuzzer bytes: the same bytes always decode to the same choices.

    Past the end every read yields zeros / empty bytes, so any input is usable. (atheris'
    FuzzedDataProvider is not used, so the targets run without atheris.)
    """

    __slots__ = ("_buf", "_pos")

    def __init__(self, buf: bytes) -> None:
        self._buf = buf
        self._pos = 0

    def byte(self) -> int:
        if self._pos >= len(self._buf):
            return 0
        self._pos += 1
        return self._buf[self._pos - 1]

    def pick(self, options: List[Any]) -> Any:
        return options[self.byte() % len(options)]

    def take(self, n: int) -> bytes:
        chunk = self._buf[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk

    def blob(self) -> bytes:
        """A length-prefixed chunk (two bytes, big-endian, then the bytes)."""
        return self.take((self.byte() << 8) | self.byte())

    def rest(self) -> bytes:
        return self.take(len(self._buf))

    @property
    def exhausted(self) -> bool:
        return self._pos >= len(self._buf)


class Encoder:
    """Writes inputs that :class:`Data` reads back as the intended choices (for seeds)."""

    def __init__(self) -> None:
        self.out = bytearray()

    def byte(self, value: int) -> Encoder:
        self.out.append(value & 0xFF)
        return self

    def blob(self, value: Union[bytes, str]) -> Encoder:
        raw = value.encode("latin-1") if isinstance(value, str) else value
        self.out += len(raw).to_bytes(2, "big") + raw
        return self

    def raw(self, value: bytes) -> Encoder:
        self.out += value
        return self

    def done(self) -> bytes:
        return bytes(self.out)


TOKEN_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


def mutate(token: str, data: Data) -> str:
    """Apply a few fuzzer-chosen edits to a real token (keeps most of its structure)."""
    chars = bytearray(token.encode("ascii"))
    for _ in range(data.byte() % 5 + 1):
        op = data.byte() % 8
        if not chars:
            break
        pos = ((data.byte() << 8) | data.byte()) % len(chars)
        value = data.byte()
        if op == 0:
            chars[pos] = TOKEN_ALPHABET[value % len(TOKEN_ALPHABET)]
        elif op == 1:
            chars[pos] = value
        elif op == 2:
            chars.insert(pos, TOKEN_ALPHABET[value % len(TOKEN_ALPHABET)])
        elif op == 3:
            del chars[pos]
        elif op == 4:
            del chars[pos:]
        elif op == 5:  # swap two segments
            segments = bytes(chars).split(b".")
            if len(segments) == 3:
                i, j = value % 3, (value // 3) % 3
                segments[i], segments[j] = segments[j], segments[i]
                chars = bytearray(b".".join(segments))
        elif op == 6:  # splice fuzzer bytes in
            chars[pos:pos] = data.take(value % 32)
        else:  # replace a whole segment with another token's
            other = VALID_TOKENS[value % len(VALID_TOKENS)].split(".")
            segments = bytes(chars).split(b".")
            if len(segments) == 3:
                index = pos % 3
                segments[index] = other[index].encode("ascii")
                chars = bytearray(b".".join(segments))
    return chars.decode("latin-1")


def make_run_directories(argv: List[str]) -> None:
    """Create the corpus directories and the ``-artifact_prefix`` directory of a fuzzing run."""
    for arg in argv[1:]:
        if arg.startswith("-artifact_prefix="):
            prefix = arg.split("=", 1)[1]
            if prefix.endswith("/"):
                os.makedirs(prefix, exist_ok=True)
        elif not arg.startswith("-") and not os.path.exists(arg):  # an existing file is an input to replay
            os.makedirs(arg)
