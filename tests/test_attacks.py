"""The attack catalogue of issue 6: every hostile token is refused with the right code.

Each case goes four ways, against a real issuer (real RSA keys, a real loopback JWKS
server): ``validate``, ``validate_async``, and both middlewares driven directly with a
hand-built WSGI environ and ASGI scope. Every way must refuse with the expected
:class:`ErrorCode` (the middlewares: the 401 for that code, or a 400 when the header
itself is malformed), never raise, never log an unexpected error, never answer 500,
and never put the token (or an attacker-chosen value) in the response. Cases refused
before the key lookup must not cause a JWKS fetch.

Codes chosen where the catalogue leaves room (see ``wristband_mw/errors.py``):

* ``alg`` not on the allow-list (``none`` in any case, HS*, ES256, PS256), and a JWK
  whose own ``alg`` differs from the token's: ``disallowed_algorithm``;
* empty, short or truncated signature: ``invalid_signature``; stripped (two segments)
  or a character-level truncation that leaves impossible base64url: ``malformed``;
* ``jku``/``x5u``/``x5c``/``jwk`` are ignored, never fetched or used: an attacker-signed
  token fails as ``unknown_key`` (its own kid) or ``invalid_signature`` (our kid);
* ``kid`` absent, empty or ``null``: ``missing_claim`` (the seed's "missing kid");
  ``kid`` of another type or over 256 characters: ``invalid_claim``; hostile strings
  (path traversal, SQL/shell metacharacters, CR/LF, NUL): looked up like any kid, so
  ``unknown_key``, and escaped in the message;
* ``crit``, ``b64``, ``zip``, ``enc``, JWE, duplicate members, deep nesting, non-object
  JSON, ``NaN``/``Infinity`` literals, any non-canonical encoding: ``malformed``;
* time claims of the wrong type or out of range (strings, booleans, ``null``, 2**64,
  ``1e400``): ``invalid_claim``; floats are accepted; a negative ``exp`` is simply
  ``expired``, and a negative ``nbf``/``iat`` (a date before 1970) is accepted;
* ``aud`` of the wrong type or without the configured audience (including ``[]``):
  ``invalid_audience``; absent: ``missing_claim``;
* ``sub`` or ``jti`` present but not a non-empty string of printable characters (a
  number, boolean, ``null``, list, object, ``""``, C0/C1 controls, DEL, line separators,
  bidi overrides): ``invalid_claim`` (issue 9 section 2); absent is fine;
* against a shared-secret (``hmac_secret``) validator: any non-HS ``alg`` (a genuine
  RS256 token included) or an HS* not allowed: ``disallowed_algorithm``; a MAC keyed
  with anything but the secret (the issuer's public key, an embedded ``jwk``):
  ``invalid_signature``; and a genuine HS token to a JWKS validator: ``disallowed_algorithm``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import logging
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from support.certs import x5c_certificate
from support.encoding import JsonInput, b64url, with_members
from support.tokens import forge, header_of, hmac_token, signing_input

import wristband_mw.flow as flow_module
import wristband_mw.tokens as tokens_module
import wristband_mw.validator as validator_module
from wristband_mw import (
    ErrorCode,
    JwtAsgiMiddleware,
    JwtValidationResult,
    JwtWsgiMiddleware,
    WristbandJwtValidator,
    WristbandJwtValidatorConfig,
)
from wristband_mw.bearer import is_b64token
from wristband_mw.responses import TOKEN_DESCRIPTIONS
from wristband_mw.testing import LocalIssuer

ISS = "https://auth.example.com"
AUDIENCE = "orders-api"

parse_json = json.loads  # bound now: a test below makes json.loads itself fail


# -- fixtures: one victim issuer and one attacker, both real ------------------------------------


@pytest.fixture(scope="module")
def issuer_options() -> Dict[str, Any]:
    return {"issuer": ISS}  # the victim: the shared ``issuer`` fixture (conftest) under this name


@pytest.fixture(scope="module")
def attacker(issuer_options: Dict[str, Any]) -> Iterator[LocalIssuer]:
    """Another issuer claiming the same ``iss``, with its own keys and its own JWKS server."""
    with LocalIssuer(**issuer_options) as local:
        yield local


@pytest.fixture(autouse=True)
def _clean_issuer(issuer: LocalIssuer) -> Iterator[None]:
    yield
    issuer.jwks_override = None
    issuer.failing = False


# -- token crafting ------------------------------------------------------------------------------


def claims_without(issuer: LocalIssuer, *names: str) -> Dict[str, Any]:
    claims = issuer.claims()
    for name in names:
        claims.pop(name, None)
    return claims


def pss_token(private_key: rsa.RSAPrivateKey, header: JsonInput, payload: JsonInput) -> str:
    si = signing_input(header, payload)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    return f"{si}.{b64url(private_key.sign(si.encode('ascii'), pss, hashes.SHA256()))}"


def es256_token(header: JsonInput, payload: JsonInput) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    si = signing_input(header, payload)
    r, s = decode_dss_signature(key.sign(si.encode("ascii"), ec.ECDSA(hashes.SHA256())))
    return f"{si}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def public_key_forms(issuer: LocalIssuer) -> Dict[str, bytes]:
    """The issuer's public key in every form a confused verifier might take as an HMAC secret."""
    public = issuer.private_key.public_key()
    spki, pkcs1 = serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1
    return {
        "pem-spki": public.public_bytes(serialization.Encoding.PEM, spki),
        "pem-pkcs1": public.public_bytes(serialization.Encoding.PEM, pkcs1),
        "der-spki": public.public_bytes(serialization.Encoding.DER, spki),
        "der-pkcs1": public.public_bytes(serialization.Encoding.DER, pkcs1),
        "openssh": public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
        "jwk-json": json.dumps(issuer.jwks()["keys"][0]).encode("utf-8"),
        "jwks-json": json.dumps(issuer.jwks()).encode("utf-8"),
    }


def serve_jwks(issuer: LocalIssuer, keys: Sequence[Mapping[str, Any]]) -> None:
    issuer.jwks_override = (200, json.dumps({"keys": list(keys)}).encode("utf-8"))


# -- driving the middlewares by hand -------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: List[Tuple[str, str]]
    body: bytes
    app_called: bool
    messages: List[Dict[str, Any]] = field(default_factory=list)

    def text(self) -> str:
        lines = [self.body.decode("latin-1"), *(f"{name}: {value}" for name, value in self.headers)]
        lines += [repr(message) for message in self.messages]
        return "\n".join(lines)


def wsgi_request(
    validator: WristbandJwtValidator,
    authorization: Optional[str] = None,
    *,
    query: str = "",
    **options: Any,
) -> Response:
    """One GET through ``JwtWsgiMiddleware``; ``authorization`` is the raw header value."""
    called: List[Dict[str, Any]] = []

    def app(environ: Dict[str, Any], start_response: Any) -> List[bytes]:
        called.append(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    environ: Dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/api/orders",
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    started: List[Tuple[str, List[Tuple[str, str]]]] = []

    def start_response(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    body = b"".join(JwtWsgiMiddleware(app, validator, **options)(environ, start_response))
    assert len(started) == 1
    return Response(int(started[0][0][:3]), list(started[0][1]), body, bool(called))


def asgi_request(
    validator: WristbandJwtValidator,
    headers: Sequence[Tuple[bytes, bytes]] = (),
    *,
    scope_type: str = "http",
    query: bytes = b"",
    **options: Any,
) -> Response:
    """One request (or WebSocket handshake) through ``JwtAsgiMiddleware``.

    A WebSocket refusal uses the ``websocket.http.response`` extension, so it has an
    HTTP status; an accepted handshake is reported as status 101.
    """
    called: List[Dict[str, Any]] = []

    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        called.append(scope)
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"app"})

    scope: Dict[str, Any] = {
        "type": scope_type,
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "ws" if scope_type == "websocket" else "http",
        "path": "/api/orders",
        "raw_path": b"/api/orders",
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    if scope_type == "http":
        scope["method"] = "GET"
        incoming: List[Dict[str, Any]] = [{"type": "http.request", "body": b"", "more_body": False}]
    else:
        scope["extensions"] = {"websocket.http.response": {}}
        incoming = [{"type": "websocket.connect"}]
    messages: List[Dict[str, Any]] = []

    async def receive() -> Dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: Dict[str, Any]) -> None:
        messages.append(dict(message))

    async def run() -> None:
        await asyncio.wait_for(JwtAsgiMiddleware(app, validator, **options)(scope, receive, send), timeout=10)

    asyncio.run(run())
    status, response_headers, body = 0, [], b""
    for message in messages:
        if message["type"] in ("http.response.start", "websocket.http.response.start"):
            status = message["status"]
            response_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]]
        elif message["type"] in ("http.response.body", "websocket.http.response.body"):
            body += message.get("body", b"")
        elif message["type"] == "websocket.accept":
            status = 101
    return Response(status, response_headers, body, bool(called), messages)


def bearer_header(token: str, separator: str = " ") -> str:
    """The header value a server would put in the environ (PEP 3333: bytes decoded as latin-1)."""
    return ("Bearer" + separator + token).encode("utf-8").decode("latin-1")


# -- the checks ------------------------------------------------------------------------------------


class _ErrorRecorder(logging.Handler):
    """Catches ``logger.exception`` from the validator's last-resort ``except``."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def check_result(result: JwtValidationResult, code: ErrorCode, token: str, secrets: Sequence[str]) -> None:
    assert isinstance(result, JwtValidationResult)
    assert result.error is code, (result.error, result.error_message)
    assert result.is_valid is False
    assert result.payload is None
    message = result.error_message
    assert isinstance(message, str) and message
    assert message != "Token could not be validated", "an unexpected exception was swallowed"
    # Attacker-chosen values are escaped (printable ASCII, no CR/LF) and truncated (to 64
    # characters before escaping, so at most 640 after: "\U0001f600" is ten characters).
    assert message.isascii() and message.isprintable(), message
    assert len(message) <= 800, len(message)
    if len(token) >= 16:
        assert token not in message
    for secret in secrets:
        if len(secret) > 64 or not (secret.isascii() and secret.isprintable()):
            assert secret not in message


def check_response(response: Response, token: str, code: ErrorCode, secrets: Sequence[str], max_bytes: int) -> None:
    assert not response.app_called
    assert response.status in (400, 401), (response.status, response.body)
    body = parse_json(response.body)
    if is_b64token(token) and len(token) <= max_bytes + 64:
        # The header is well formed, so the validator decided: a 401 naming the same code.
        assert response.status == 401, (response.status, response.body)
        assert body["error"] == "invalid_token"
        assert body["error_description"] == TOKEN_DESCRIPTIONS[code]
    elif len(token) > max_bytes:
        assert response.status == 401
        assert body["error_description"] == TOKEN_DESCRIPTIONS[ErrorCode.TOO_LARGE]
    else:
        # Not an RFC 6750 b64token: refused as a malformed request before any validation.
        assert response.status == 400, (response.status, response.body)
        assert body["error"] == "invalid_request"
    text = response.text()
    for piece in (token, *token.split("."), *secrets):
        if len(piece) >= 8:
            assert piece not in text, f"{piece[:20]!r}... echoed in the response"


def assert_refused(
    issuer: LocalIssuer,
    token: str,
    code: ErrorCode,
    *,
    pre_key: bool = True,
    secrets: Sequence[str] = (),
    http: bool = True,
    **config: Any,
) -> JwtValidationResult:
    """Refused with ``code`` four ways (two if not ``http``); no fetch at all when ``pre_key``."""
    recorder = _ErrorRecorder()
    logger = logging.getLogger("wristband_mw")
    logger.addHandler(recorder)
    validator = issuer.validator(**config)
    fetches = issuer.fetch_count
    try:
        result = validator.validate(token)
        check_result(result, code, token, secrets)
        async_result = asyncio.run(validator.validate_async(token))
        check_result(async_result, code, token, secrets)
        if http:
            max_bytes = validator.config.max_token_bytes
            check_response(wsgi_request(validator, bearer_header(token)), token, code, secrets, max_bytes)
            asgi_headers = [(b"authorization", ("Bearer " + token).encode("utf-8"))]
            check_response(asgi_request(validator, asgi_headers), token, code, secrets, max_bytes)
        if pre_key:
            assert issuer.fetch_count == fetches, "refused before the key lookup, yet the JWKS was fetched"
        stats = validator.stats()["results"]
        assert stats["valid"] == 0
    finally:
        validator.close()
        logger.removeHandler(recorder)
    assert not recorder.records, [r.getMessage() for r in recorder.records]
    return result


def assert_accepted(issuer: LocalIssuer, token: str, **config: Any) -> JwtValidationResult:
    validator = issuer.validator(**config)
    try:
        result = validator.validate(token)
        assert result.is_valid, (result.error, result.error_message)
        assert asyncio.run(validator.validate_async(token)).is_valid
        assert wsgi_request(validator, bearer_header(token)).status == 200
        assert asgi_request(validator, [(b"authorization", ("Bearer " + token).encode())]).status == 200
    finally:
        validator.close()
    return result


def test_the_issuer_itself_is_accepted(issuer: LocalIssuer) -> None:
    """The control: everything below is refused for the reason named, not by accident."""
    assert_accepted(issuer, issuer.mint())


# -- alg none, empty and truncated signatures -------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_with_empty_signature(issuer: LocalIssuer, alg: str) -> None:
    token = forge(header_of(issuer, alg=alg), issuer.claims(), b"")
    assert token.endswith(".")
    assert_refused(issuer, token, ErrorCode.DISALLOWED_ALGORITHM)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_cannot_be_configured(issuer: LocalIssuer, alg: str) -> None:
    with pytest.raises(ValueError, match="never allowed"):
        WristbandJwtValidatorConfig(issuer=ISS, jwks_url=issuer.jwks_url, algorithms=[alg])


def test_alg_none_with_a_real_signature_still_refused(issuer: LocalIssuer) -> None:
    genuine = issuer.mint()
    header = b64url(json.dumps(header_of(issuer, alg="none")))
    token = header + genuine[genuine.index(".") :]
    assert_refused(issuer, token, ErrorCode.DISALLOWED_ALGORITHM)


def test_missing_alg(issuer: LocalIssuer) -> None:
    assert_refused(issuer, forge(header_of(issuer, alg=None), issuer.claims(), b""), ErrorCode.DISALLOWED_ALGORITHM)


@pytest.mark.parametrize("alg", [["RS256"], {"RS256": 1}, 256, True, "rs256", "RS256 ", "RS256\u0000"])
def test_alg_of_the_wrong_type_or_spelling(issuer: LocalIssuer, alg: Any) -> None:
    """The allow-list is compared exactly (RFC 7515: case-sensitive)."""
    token = issuer.sign(header_of(issuer, alg="RS256"), issuer.claims())
    forged = b64url(json.dumps(header_of(issuer, alg=alg))) + token[token.index(".") :]
    assert_refused(issuer, forged, ErrorCode.DISALLOWED_ALGORITHM)


def test_empty_signature(issuer: LocalIssuer) -> None:
    genuine = issuer.mint()
    assert_refused(issuer, genuine[: genuine.rindex(".") + 1], ErrorCode.INVALID_SIGNATURE)


def test_stripped_signature(issuer: LocalIssuer) -> None:
    genuine = issuer.mint()
    result = assert_refused(issuer, genuine[: genuine.rindex(".")], ErrorCode.MALFORMED)
    assert result.error_message == "Invalid JWT format"


@pytest.mark.parametrize("keep", [1, 64, 128, 255])
def test_signature_truncated_to_fewer_bytes(issuer: LocalIssuer, keep: int) -> None:
    genuine = issuer.mint()
    signing, signature = genuine.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(signature + "==")
    assert len(raw) == 256
    # Shorter than any acceptable RSA key's signature: refused before the key lookup.
    assert_refused(issuer, f"{signing}.{b64url(raw[:keep])}", ErrorCode.INVALID_SIGNATURE)


def test_signature_truncated_by_characters(issuer: LocalIssuer) -> None:
    """342 base64url characters carry 256 bytes; cutting one leaves an impossible length."""
    genuine = issuer.mint()
    assert len(genuine.rsplit(".", 1)[1]) == 342
    assert_refused(issuer, genuine[:-1], ErrorCode.MALFORMED)  # 341 = 1 mod 4: not base64url
    assert_refused(issuer, genuine[:-2], ErrorCode.INVALID_SIGNATURE)  # 255 bytes


def test_signature_with_a_flipped_bit(issuer: LocalIssuer) -> None:
    genuine = issuer.mint()
    signing, signature = genuine.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[100] ^= 0x01
    assert_refused(issuer, f"{signing}.{b64url(bytes(raw))}", ErrorCode.INVALID_SIGNATURE, pre_key=False)


def test_payload_altered_after_signing(issuer: LocalIssuer) -> None:
    genuine = issuer.mint(sub="alice")
    header, _, signature = genuine.split(".")
    altered = f"{header}.{b64url(json.dumps(issuer.claims(sub='admin')))}.{signature}"
    assert_refused(issuer, altered, ErrorCode.INVALID_SIGNATURE, pre_key=False)


# -- algorithm confusion --------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
@pytest.mark.parametrize("form", ["pem-spki", "pem-pkcs1", "der-spki", "der-pkcs1", "openssh", "jwk-json", "jwks-json"])
def test_hmac_signed_with_the_public_key(issuer: LocalIssuer, alg: str, form: str) -> None:
    secret = public_key_forms(issuer)[form]
    token = hmac_token(header_of(issuer, alg=alg), issuer.claims(), secret, alg)
    assert_refused(issuer, token, ErrorCode.DISALLOWED_ALGORITHM)


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512", "hs256"])
def test_hmac_cannot_be_configured(issuer: LocalIssuer, alg: str) -> None:
    with pytest.raises(ValueError, match="HMAC"):
        WristbandJwtValidatorConfig(issuer=ISS, jwks_url=issuer.jwks_url, algorithms=["RS256", alg])


def test_hmac_key_published_in_the_jwks_is_never_used(issuer: LocalIssuer) -> None:
    """A JWKS that also publishes an ``oct`` key whose secret is the public PEM."""
    pem = public_key_forms(issuer)["pem-spki"]
    oct_key = {"kty": "oct", "kid": "hmac-kid", "alg": "HS256", "k": b64url(pem)}
    serve_jwks(issuer, [*issuer.jwks()["keys"], oct_key])
    header = header_of(issuer, alg="HS256", kid="hmac-kid")
    assert_refused(issuer, hmac_token(header, issuer.claims(), pem, "HS256"), ErrorCode.DISALLOWED_ALGORITHM)
    rs256 = issuer.mint(headers={"kid": "hmac-kid"})
    assert_refused(issuer, rs256, ErrorCode.UNKNOWN_KEY, pre_key=False, secrets=("hmac-kid",))


# -- algorithm confusion with a shared-secret validator (issue 13): one validator, one family -------


@pytest.fixture(scope="module")
def hs_victim() -> Iterator[LocalIssuer]:
    """A shared-secret issuer claiming the same ``iss`` as the RSA victim: its validator uses ``hmac_secret``."""
    with LocalIssuer(issuer=ISS, algorithm="HS256") as local:
        yield local


def test_the_shared_secret_issuer_itself_is_accepted(hs_victim: LocalIssuer) -> None:
    assert_accepted(hs_victim, hs_victim.mint())
    assert_accepted(hs_victim, hs_victim.mint(headers={"kid": None}))  # kid is optional here


def test_rs256_token_to_a_shared_secret_validator(issuer: LocalIssuer, hs_victim: LocalIssuer) -> None:
    """A genuine RS256 token of the same ``iss``: refused by alg, never verified with the secret."""
    assert_refused(hs_victim, issuer.mint(), ErrorCode.DISALLOWED_ALGORITHM)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA", "none", "hs256", "HS384", "HS512"])
def test_other_algorithms_to_a_shared_secret_validator(hs_victim: LocalIssuer, alg: str) -> None:
    secret = hs_victim.hmac_secret or b""
    header = {**header_of(hs_victim, alg=alg)}
    if alg in ("HS384", "HS512"):
        token = hmac_token(header, hs_victim.claims(), secret, alg)  # the right secret, a family member not allowed
    else:
        token = forge(header, hs_victim.claims(), b"\x01" * 32)
    assert_refused(hs_victim, token, ErrorCode.DISALLOWED_ALGORITHM, secrets=(secret.hex(),))


@pytest.mark.parametrize("form", ["pem-spki", "jwk-json"])
def test_hmac_with_a_public_key_to_a_shared_secret_validator(
    issuer: LocalIssuer, hs_victim: LocalIssuer, form: str
) -> None:
    """The classic confusion forgery (MAC keyed with the RSA public key) is just a wrong secret here."""
    forged = hmac_token(header_of(hs_victim, alg="HS256"), hs_victim.claims(), public_key_forms(issuer)[form])
    assert_refused(hs_victim, forged, ErrorCode.INVALID_SIGNATURE, pre_key=False)


def test_hmac_with_a_wrong_or_embedded_secret(hs_victim: LocalIssuer, attacker: LocalIssuer) -> None:
    wrong = b"attacker-chosen-secret-of-32-bytes!!"
    header = {**header_of(hs_victim, alg="HS256"), "jwk": {"kty": "oct", "k": b64url(wrong)}, "jku": attacker.jwks_url}
    fetches = attacker.fetch_count
    assert_refused(hs_victim, hmac_token(header, hs_victim.claims(), wrong), ErrorCode.INVALID_SIGNATURE, pre_key=False)
    assert attacker.fetch_count == fetches  # jku is never followed


def test_a_shared_secret_token_to_a_jwks_validator(issuer: LocalIssuer, hs_victim: LocalIssuer) -> None:
    """The reverse: a genuine HS256 token of the same ``iss`` never passes an RS256 validator."""
    assert_refused(issuer, hs_victim.mint(headers={"kid": issuer.kid}), ErrorCode.DISALLOWED_ALGORITHM)


def test_es256_when_only_rs256_is_allowed(issuer: LocalIssuer) -> None:
    assert_refused(issuer, es256_token(header_of(issuer, alg="ES256"), issuer.claims()), ErrorCode.DISALLOWED_ALGORITHM)


def test_ps256_signed_by_the_real_key_when_only_rs256_is_allowed(issuer: LocalIssuer) -> None:
    """Even a genuine signature by the issuer's own key: the algorithm is not on the list."""
    token = pss_token(issuer.private_key, header_of(issuer, alg="PS256"), issuer.claims())
    assert_refused(issuer, token, ErrorCode.DISALLOWED_ALGORITHM)


@pytest.mark.parametrize("alg", ["ES256K", "Ed448", "Ed25519", "es256", "RSA-OAEP"])
def test_unsupported_algorithms_cannot_be_configured(issuer: LocalIssuer, alg: str) -> None:
    with pytest.raises(ValueError, match="unsupported algorithm"):
        WristbandJwtValidatorConfig(issuer=ISS, jwks_url=issuer.jwks_url, algorithms=["RS256", alg])


@pytest.mark.parametrize("jwk_alg", ["RS384", "PS256", "HS256", "none", "ES256"])
def test_rs256_token_against_a_jwk_restricted_to_another_alg(issuer: LocalIssuer, jwk_alg: str) -> None:
    serve_jwks(issuer, [{**issuer.jwks()["keys"][0], "alg": jwk_alg}])
    assert_refused(issuer, issuer.mint(), ErrorCode.DISALLOWED_ALGORITHM, pre_key=False)


def test_jwk_alg_restriction_with_several_algorithms_allowed(issuer: LocalIssuer) -> None:
    serve_jwks(issuer, [{**issuer.jwks()["keys"][0], "alg": "RS384"}])
    allow = {"algorithms": ["RS256", "RS384"]}
    assert_refused(issuer, issuer.mint(), ErrorCode.DISALLOWED_ALGORITHM, pre_key=False, **allow)
    assert_accepted(issuer, issuer.mint(headers={"alg": "RS384"}), **allow)  # the control


def test_pem_and_openssh_key_material_in_a_jwks_is_skipped(issuer: LocalIssuer) -> None:
    forms = public_key_forms(issuer)
    pem, ssh = forms["pem-spki"].decode(), forms["openssh"].decode()
    cert, der_body = x5c_certificate(issuer.private_key), base64.encodebytes(forms["der-spki"]).decode()
    good = issuer.jwks()["keys"][0]
    hostile = [
        {"kty": "RSA", "kid": "pem-in-n", "use": "sig", "alg": "RS256", "n": pem, "e": "AQAB"},
        {"kty": "RSA", "kid": "ssh-in-n", "use": "sig", "alg": "RS256", "n": ssh, "e": "AQAB"},
        {"kty": "RSA", "kid": "pem-only", "use": "sig", "alg": "RS256", "pem": pem},
        {"kty": "RSA", "kid": "ssh-only", "use": "sig", "alg": "RS256", "key": ssh},
        {"kty": "RSA", "kid": "x5c-only", "use": "sig", "alg": "RS256", "x5c": [cert]},
        # The body of a PEM block (base64 with line breaks) where n belongs.
        {"kty": "RSA", "kid": "der-in-n", "use": "sig", "alg": "RS256", "n": der_body, "e": "AQAB"},
    ]
    serve_jwks(issuer, [good, *hostile])
    for jwk in hostile:
        kid = jwk["kid"]
        # Signed by the very key the material describes: still no key with that kid.
        assert_refused(issuer, issuer.mint(headers={"kid": kid}), ErrorCode.UNKNOWN_KEY, pre_key=False)
        secret = pem.encode() if "pem" in kid else ssh.encode()
        forged = hmac_token(header_of(issuer, alg="HS256", kid=kid), issuer.claims(), secret, "HS256")
        assert_refused(issuer, forged, ErrorCode.DISALLOWED_ALGORITHM)
    validator = issuer.validator()
    try:
        assert validator.validate(issuer.mint()).is_valid  # the good key still works
        assert validator.stats()["cached_kids"] == [issuer.kid]
    finally:
        validator.close()


# -- header injection -------------------------------------------------------------------------------


def _attacker_headers(attacker: LocalIssuer) -> Dict[str, Dict[str, Any]]:
    public_jwk = attacker.jwks()["keys"][0]
    return {
        "jku": {"jku": attacker.jwks_url},
        "x5u": {"x5u": attacker.jwks_url},
        "x5c": {"x5c": [x5c_certificate(attacker.private_key)]},
        "jwk": {"jwk": public_jwk},
        "all": {
            "jku": attacker.jwks_url,
            "x5u": attacker.jwks_url,
            "x5c": [x5c_certificate(attacker.private_key)],
            "jwk": public_jwk,
        },
    }


@pytest.mark.parametrize("param", ["jku", "x5u", "x5c", "jwk", "all"])
def test_key_injection_headers_are_never_fetched_nor_trusted(
    issuer: LocalIssuer, attacker: LocalIssuer, param: str
) -> None:
    injected = _attacker_headers(attacker)[param]
    before = attacker.fetch_count
    # The attacker's own kid: our JWKS does not have it, whatever the header points at.
    own_kid = attacker.mint(headers=injected)
    assert_refused(issuer, own_kid, ErrorCode.UNKNOWN_KEY, pre_key=False, secrets=(attacker.kid,))
    # Our kid, the attacker's key: the signature does not verify against our key.
    our_kid = attacker.mint(headers={**injected, "kid": issuer.kid})
    assert_refused(issuer, our_kid, ErrorCode.INVALID_SIGNATURE, pre_key=False)
    assert attacker.fetch_count == before, "a URL from a token header was fetched"


def test_key_injection_headers_in_a_genuine_token_are_ignored(issuer: LocalIssuer, attacker: LocalIssuer) -> None:
    """Signed by our issuer, the token is good; the URLs in its header are still never fetched."""
    before = attacker.fetch_count
    injected = _attacker_headers(attacker)["all"]
    assert_accepted(issuer, issuer.mint(headers=injected))
    assert attacker.fetch_count == before


def test_embedded_jwk_with_our_kid_and_the_attackers_key(issuer: LocalIssuer, attacker: LocalIssuer) -> None:
    """The classic CVE-2018-0114 shape: a self-describing token is not self-verifying."""
    jwk = {**attacker.jwks()["keys"][0], "kid": issuer.kid}
    token = attacker.mint(headers={"kid": issuer.kid, "jwk": jwk})
    assert_refused(issuer, token, ErrorCode.INVALID_SIGNATURE, pre_key=False)


HOSTILE_KIDS = [
    "../../etc/passwd",
    "../../../../../../dev/null",
    "/proc/self/environ",
    "' OR '1'='1' --",
    "x'; DROP TABLE keys; --",
    "`id`; $(reboot) | cat /etc/shadow && rm -rf / > /dev/null",
    "kid\r\nSet-Cookie: session=stolen",
    "kid\u0000null",
    "\u202eevil\u202c",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "k" * 256,
    "\U0001f600" * 256,  # 256 characters, 1 KiB of UTF-8, ten times longer once escaped
]


@pytest.mark.parametrize("kid", HOSTILE_KIDS, ids=lambda k: repr(k)[:24])
def test_hostile_kid_strings_are_only_looked_up(issuer: LocalIssuer, kid: str) -> None:
    result = assert_refused(
        issuer, issuer.mint(headers={"kid": kid}), ErrorCode.UNKNOWN_KEY, pre_key=False, secrets=(kid,)
    )
    assert "\r" not in result.error_message and "\n" not in result.error_message


@pytest.mark.parametrize("length", [257, 5000, 50_000])
def test_very_long_kid(issuer: LocalIssuer, length: int) -> None:
    token = issuer.mint(headers={"kid": "k" * length})
    if len(token) > 8192:
        assert_refused(issuer, token, ErrorCode.TOO_LARGE)
    assert_refused(issuer, token, ErrorCode.INVALID_CLAIM, max_token_bytes=200_000)


@pytest.mark.parametrize("kid", [7, 0, 1.5, ["kid"], {"kid": "x"}, True, False], ids=repr)
def test_non_string_kid(issuer: LocalIssuer, kid: Any) -> None:
    assert_refused(issuer, issuer.mint(headers={"kid": kid}), ErrorCode.INVALID_CLAIM)


@pytest.mark.parametrize("raw", [None, "null", '""'], ids=["absent", "null", "empty"])
def test_missing_or_null_kid(issuer: LocalIssuer, raw: Optional[str]) -> None:
    header = header_of(issuer, kid=None)
    token = issuer.sign(header if raw is None else with_members(header, kid=raw), issuer.claims())
    result = assert_refused(issuer, token, ErrorCode.MISSING_CLAIM)
    assert result.error_message == "Token header missing kid (key ID)"


@pytest.mark.parametrize(
    "crit", [["exp"], ["http://example.com/unknown"], ["b64"], [], "b64", None], ids=lambda c: repr(c)[:20]
)
def test_crit_is_refused(issuer: LocalIssuer, crit: Any) -> None:
    header = with_members(header_of(issuer), crit=json.dumps(crit), **{"http://example.com/unknown": "true"})
    assert_refused(issuer, issuer.sign(header, issuer.claims()), ErrorCode.MALFORMED)


@pytest.mark.parametrize("value", [False, True])
def test_b64_header_is_refused(issuer: LocalIssuer, value: bool) -> None:
    header = header_of(issuer, b64=value, crit=["b64"])
    assert_refused(issuer, issuer.sign(header, issuer.claims()), ErrorCode.MALFORMED)
    assert_refused(issuer, issuer.sign(header_of(issuer, b64=value), issuer.claims()), ErrorCode.MALFORMED)


def test_zip_compression_bomb_is_never_inflated(issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    """``zip: DEF`` with ~1 MB of claims deflated into ~1 KB: refused without inflating anything."""

    def no_inflate(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a token was decompressed")

    claims = issuer.claims()
    claims["pad"] = " " * 1_000_000
    deflated = zlib.compress(json.dumps(claims).encode(), 9)
    assert len(deflated) < 3000
    monkeypatch.setattr(zlib, "decompress", no_inflate)
    monkeypatch.setattr(zlib, "decompressobj", no_inflate)
    header = header_of(issuer, zip="DEF")
    bomb = issuer.sign(header, deflated)
    assert_refused(issuer, bomb, ErrorCode.MALFORMED)
    # The same header over plain JSON claims is refused for the header alone.
    assert_refused(issuer, issuer.sign(header, issuer.claims()), ErrorCode.MALFORMED)


def test_enc_header_is_refused(issuer: LocalIssuer) -> None:
    token = issuer.sign(header_of(issuer, enc="A256GCM"), issuer.claims())
    assert_refused(issuer, token, ErrorCode.MALFORMED)


@pytest.mark.parametrize("segments", [4, 5, 6])
def test_jwe_shaped_tokens(issuer: LocalIssuer, segments: int) -> None:
    jwe_header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": issuer.kid, "typ": "at+JWT", "zip": "DEF"}
    parts = [b64url(json.dumps(jwe_header))] + [b64url(bytes([i]) * (16 + i)) for i in range(segments - 1)]
    result = assert_refused(issuer, ".".join(parts), ErrorCode.MALFORMED)
    assert result.error_message == "Invalid JWT format"


def test_jwe_with_an_empty_encrypted_key(issuer: LocalIssuer) -> None:
    """``alg: dir`` JWEs have an empty second segment: five segments all the same."""
    header = b64url(json.dumps({"alg": "dir", "enc": "A128CBC-HS256", "kid": issuer.kid}))
    token = f"{header}..{b64url(b'iv' * 8)}.{b64url(b'ct' * 20)}.{b64url(b'tag' * 5)}"
    assert_refused(issuer, token, ErrorCode.MALFORMED)


# -- claims -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "raw",
    [
        '"1893456000"',
        '"tomorrow"',
        '""',
        "true",
        "false",
        "null",
        "[1893456000]",
        '{"$date":1893456000}',
        "18446744073709551616",
        "-18446744073709551616",
        "1e400",
        "-1e400",
        "1e300",
    ],
)
def test_time_claims_of_the_wrong_type_or_range(issuer: LocalIssuer, claim: str, raw: str) -> None:
    payload = with_members(claims_without(issuer, claim), **{claim: raw})
    assert_refused(issuer, issuer.sign(header_of(issuer), payload), ErrorCode.INVALID_CLAIM)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals(issuer: LocalIssuer, claim: str, raw: str) -> None:
    """Not JSON at all (RFC 8259); Python's json would accept them, this package does not."""
    payload = with_members(claims_without(issuer, claim), **{claim: raw})
    assert_refused(issuer, issuer.sign(header_of(issuer), payload), ErrorCode.MALFORMED)


def test_time_claims_as_floats_are_accepted(issuer: LocalIssuer) -> None:
    now = time.time()
    assert_accepted(issuer, issuer.mint(exp=now + 600.25, nbf=now - 10.5, iat=now - 0.75))


def test_negative_and_huge_exp(issuer: LocalIssuer) -> None:
    assert_refused(issuer, issuer.mint(exp=-1), ErrorCode.EXPIRED)
    assert_refused(issuer, issuer.mint(exp=-(2**31)), ErrorCode.EXPIRED)
    assert_refused(issuer, issuer.mint(exp=2**64), ErrorCode.INVALID_CLAIM)
    assert_refused(issuer, issuer.mint(exp=2**64 + 0.5), ErrorCode.INVALID_CLAIM)
    assert_refused(issuer, issuer.mint(exp=10**400), ErrorCode.INVALID_CLAIM)


_BAD_IDENTITIES = [
    123,
    1.5,
    0,
    True,
    False,
    None,
    [],
    ["alice"],
    {"id": "alice"},
    "",
    "\x00",
    "alice\nadmin",
    "alice\r\nX-Injected: 1",
    "\t",
    "alice\x1b[31m",
    "alice\x7f",
    "alice\x85",
    "alice\x9b",
    "alice\u2028",
    "\u202eecila",
    "alice\u200b",
]


@pytest.mark.parametrize("claim", ["sub", "jti"])
@pytest.mark.parametrize("value", _BAD_IDENTITIES, ids=repr)
def test_identity_claims_must_be_printable_strings(issuer: LocalIssuer, claim: str, value: Any) -> None:
    """Nothing downstream (REMOTE_USER, scope["user"], a Remote-User header, logs) may carry these."""
    claims = issuer.claims()
    claims[claim] = value
    token = issuer.sign({"kid": issuer.kid, "typ": "at+JWT", "alg": "RS256"}, claims)
    result = assert_refused(issuer, token, ErrorCode.INVALID_CLAIM)
    assert result.error_message == f"Invalid {claim} claim: must be a non-empty string of printable characters"


@pytest.mark.parametrize("value", ["alice", "ålice smith", "user|123", "auth0|5f1c", "\u7528\u6237", "a" * 300])
def test_printable_identities_and_absent_ones_are_accepted(issuer: LocalIssuer, value: str) -> None:
    assert assert_accepted(issuer, issuer.mint(sub=value, jti=value)).payload.sub == value  # type: ignore[union-attr]


def test_tokens_without_sub_or_jti_stay_valid(issuer: LocalIssuer) -> None:
    result = assert_accepted(issuer, issuer.mint(sub=None, jti=None))
    assert result.payload is not None and result.payload.sub is None and result.payload.jti is None


def test_negative_nbf_and_iat_are_dates_in_the_past(issuer: LocalIssuer) -> None:
    """A NumericDate before 1970 is still a date: nothing to refuse (iat is informational)."""
    assert_accepted(issuer, issuer.mint(nbf=-1, iat=-86400))


def test_huge_nbf_and_iat(issuer: LocalIssuer) -> None:
    assert_refused(issuer, issuer.mint(nbf=2**64), ErrorCode.INVALID_CLAIM)
    assert_refused(issuer, issuer.mint(iat=2**64), ErrorCode.INVALID_CLAIM)
    assert_refused(issuer, issuer.mint(iat=-(2**64)), ErrorCode.INVALID_CLAIM)


def test_future_nbf(issuer: LocalIssuer) -> None:
    assert_refused(issuer, issuer.mint(nbf=int(time.time()) + 3600), ErrorCode.NOT_YET_VALID)


def test_missing_exp(issuer: LocalIssuer) -> None:
    result = assert_refused(issuer, issuer.mint(exp_in=None), ErrorCode.MISSING_CLAIM)
    assert "exp" in result.error_message


@pytest.mark.parametrize(
    "iss",
    [
        ISS + "/",
        ISS + "//",
        ISS + "/.",
        "HTTPS://AUTH.EXAMPLE.COM",
        "https://Auth.example.com",
        "https://auth.example.com:443",
        "http://auth.example.com",
        " " + ISS,
        ISS + "\u0000",
        ISS + "\n",
        "https://\u0430uth.example.com",  # Cyrillic a
        "https://auth.\u0435xample.com",  # Cyrillic e
        "https://auth.exampl\u0435.\u0441om",  # Cyrillic e and s
        "https://auth\u2024example.com",  # one dot leader
        "https://xn--uth-8cd.example.com",
        "https://auth.example.com\u200b",  # zero-width space
    ],
    ids=lambda value: value.encode("unicode_escape").decode()[:40],
)
def test_issuer_look_alikes(issuer: LocalIssuer, iss: str) -> None:
    result = assert_refused(issuer, issuer.mint(iss=iss), ErrorCode.INVALID_ISSUER, secrets=(iss,))
    assert result.error_message.startswith(f"Invalid issuer. Expected {ISS}, got ")


@pytest.mark.parametrize("iss", [None, 1, [ISS], {"iss": ISS}, True], ids=repr)
def test_issuer_missing_or_not_a_string(issuer: LocalIssuer, iss: Any) -> None:
    token = issuer.mint(iss=iss) if iss is not None else issuer.sign(header_of(issuer), claims_without(issuer, "iss"))
    assert_refused(issuer, token, ErrorCode.INVALID_ISSUER)


@pytest.mark.parametrize("aud", [AUDIENCE, [AUDIENCE], ["billing-api", AUDIENCE], [7, AUDIENCE]], ids=repr)
def test_audience_string_or_list_containing_ours(issuer: LocalIssuer, aud: Any) -> None:
    assert_accepted(issuer, issuer.mint(aud=aud), audience=AUDIENCE)


@pytest.mark.parametrize(
    "aud",
    [
        [],
        "",
        "billing-api",
        ["billing-api"],
        "orders-api ",
        "Orders-Api",
        "orders-api,billing-api",
        "orders-api billing-api",
        [[AUDIENCE]],
        {"aud": AUDIENCE},
        7,
        True,
        "\u043erders-api",
    ],
    ids=lambda a: repr(a)[:24],
)
def test_audience_not_ours(issuer: LocalIssuer, aud: Any) -> None:
    assert_refused(issuer, issuer.mint(aud=aud), ErrorCode.INVALID_AUDIENCE, pre_key=False, audience=AUDIENCE)


@pytest.mark.parametrize("raw", [None, "null"], ids=["absent", "null"])
def test_audience_missing(issuer: LocalIssuer, raw: Optional[str]) -> None:
    claims = claims_without(issuer, "aud")
    token = issuer.sign(header_of(issuer), claims if raw is None else with_members(claims, aud=raw))
    assert_refused(issuer, token, ErrorCode.MISSING_CLAIM, pre_key=False, audience=AUDIENCE)


def test_empty_audience_list_when_none_is_configured(issuer: LocalIssuer) -> None:
    """With no ``audience`` configured the claim is not checked (Wristband tokens have none)."""
    assert_accepted(issuer, issuer.mint(aud=[]))


@pytest.mark.parametrize(
    "part, member, value",
    [
        ("header", "alg", '"none"'),
        ("header", "alg", '"RS256"'),
        ("header", "kid", '"other-kid"'),
        ("header", "typ", '"at+JWT"'),
        ("payload", "iss", '"https://evil.example.com"'),
        ("payload", "iss", f'"{ISS}"'),
        ("payload", "sub", '"admin"'),
        ("payload", "scope", '"admin:all"'),
        ("payload", "exp", "9999999999"),
    ],
)
def test_duplicate_json_members(issuer: LocalIssuer, part: str, member: str, value: str) -> None:
    """Python's json keeps the last, other parsers the first: the verifier and the app must agree."""
    header: JsonInput = header_of(issuer)
    payload: JsonInput = issuer.claims()
    if part == "header":
        header = with_members(header_of(issuer), **{member: value})
    else:
        payload = with_members(issuer.claims(), **{member: value})
    assert_refused(issuer, issuer.sign(header, payload), ErrorCode.MALFORMED)


def test_duplicate_members_in_a_nested_object(issuer: LocalIssuer) -> None:
    payload = with_members(issuer.claims(), roles='{"admin":false,"admin":true}')
    assert_refused(issuer, issuer.sign(header_of(issuer), payload), ErrorCode.MALFORMED)


@pytest.mark.parametrize("depth", [17, 100, 5000, 100_000])
@pytest.mark.parametrize("part", ["header", "payload"])
def test_deeply_nested_json(issuer: LocalIssuer, part: str, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    header: JsonInput = header_of(issuer)
    payload: JsonInput = issuer.claims()
    if part == "header":
        header = with_members(header_of(issuer), x=nested)
    else:
        payload = with_members(issuer.claims(), x=nested)
    token = issuer.sign(header, payload)
    assert_refused(issuer, token, ErrorCode.MALFORMED, max_token_bytes=len(token))


def test_nesting_up_to_the_limit_is_accepted(issuer: LocalIssuer) -> None:
    depth = tokens_module.MAX_JSON_DEPTH - 1  # the claims object itself is the first level
    payload = with_members(issuer.claims(), x="[" * depth + "]" * depth)
    assert_accepted(issuer, issuer.sign(header_of(issuer), payload))


@pytest.mark.parametrize(
    "raw", ["[]", '["iss"]', '"a string"', "42", "4.2", "null", "true", '""', "", " ", "{", "{}x"], ids=repr
)
@pytest.mark.parametrize("part", ["header", "payload"])
def test_non_object_json(issuer: LocalIssuer, part: str, raw: str) -> None:
    header: JsonInput = header_of(issuer)
    payload: JsonInput = issuer.claims()
    if part == "header":
        header = raw.encode()
    else:
        payload = raw.encode()
    assert_refused(issuer, issuer.sign(header, payload), ErrorCode.MALFORMED)


@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b'{"iss":"\xc0\xaf"}', b'\xef\xbb\xbf{"iss":"x"}', b'{"a":"\\ud800"}x'])
def test_payload_not_utf8_json(issuer: LocalIssuer, raw: bytes) -> None:
    assert_refused(issuer, issuer.sign(header_of(issuer), raw), ErrorCode.MALFORMED)


# -- encoding ---------------------------------------------------------------------------------------


def _segments(token: str) -> List[str]:
    return token.split(".")


def test_padding_characters(issuer: LocalIssuer) -> None:
    genuine = issuer.mint(sub="pad")
    header, payload, signature = _segments(genuine)
    padded = ".".join(s + "=" * (-len(s) % 4) for s in (header, payload, signature))
    assert padded != genuine
    assert_refused(issuer, padded, ErrorCode.MALFORMED)
    assert_refused(issuer, genuine + "=", ErrorCode.MALFORMED)
    assert_refused(issuer, genuine + "==", ErrorCode.MALFORMED)
    assert_refused(issuer, f"{header}=.{payload}.{signature}", ErrorCode.MALFORMED)


def test_standard_base64_alphabet(issuer: LocalIssuer) -> None:
    genuine = issuer.mint(sub="\u00ff\u00ff\u00ff" * 4)  # high bytes: "-" and "_" in base64url
    standard = genuine.replace("-", "+").replace("_", "/")
    assert standard != genuine
    assert_refused(issuer, standard, ErrorCode.MALFORMED)


def test_non_zero_trailing_bits(issuer: LocalIssuer) -> None:
    """Every token has one spelling: a last character with spare bits set is refused."""
    genuine = issuer.mint()
    signing, signature = genuine.rsplit(".", 1)
    assert len(signature) % 4 == 2
    alternative = signature[:-1] + ("B" if signature[-1] == "A" else chr(ord(signature[-1]) + 1))
    assert base64.urlsafe_b64decode(alternative + "==") == base64.urlsafe_b64decode(signature + "==")
    assert_refused(issuer, f"{signing}.{alternative}", ErrorCode.MALFORMED)


@pytest.mark.parametrize(
    "junk",
    [" ", "\t", "\n", "\r\n", "\r\n ", "\u00a0", "\u2028", "\u3000", "\x00", "\x01", "\x1b[31m", "\x7f", "\x0b"],
    ids=lambda j: j.encode("unicode_escape").decode(),
)
@pytest.mark.parametrize("where", ["start", "middle", "end", "around-dot"])
def test_whitespace_and_control_characters(issuer: LocalIssuer, junk: str, where: str) -> None:
    genuine = issuer.mint()
    if where == "start":
        token = junk + genuine
    elif where == "end":
        token = genuine + junk
    elif where == "middle":
        cut = genuine.index(".") + 20
        token = genuine[:cut] + junk + genuine[cut:]
    else:
        cut = genuine.index(".")
        token = genuine[:cut] + junk + "." + junk + genuine[cut + 1 :]
    if where in ("start", "end") and junk in (" ", "\t"):
        # Around a header value, SP and HTAB are HTTP's optional whitespace, not part of
        # the token: the validator refuses the string, the middleware sees the bare token.
        assert_refused(issuer, token, ErrorCode.MALFORMED, http=False)
        validator = issuer.validator()
        try:
            expected = 400 if junk == "\t" and where == "start" else 200  # "Bearer \t..." is not 1*SP
            value = bearer_header(token)
            assert wsgi_request(validator, value).status == expected
            assert asgi_request(validator, [(b"authorization", value.encode("latin-1"))]).status == expected
        finally:
            validator.close()
        return
    assert_refused(issuer, token, ErrorCode.MALFORMED)


@pytest.mark.parametrize(
    "replace, by",
    [
        ("a", "\u0430"),  # Cyrillic a
        ("e", "\u0435"),  # Cyrillic e
        ("1", "\u0661"),  # Arabic-Indic one: str.isdigit() says yes
        ("A", "\uff21"),  # fullwidth A
        (".", "\uff0e"),  # fullwidth full stop
        ("J", "\u00e9"),
        ("e", "\U0001f600"),
        ("e", "\udcff"),  # lone surrogate
    ],
    ids=lambda value: value.encode("unicode_escape").decode(),
)
def test_non_ascii_characters(issuer: LocalIssuer, replace: str, by: str) -> None:
    genuine = issuer.mint()
    token = genuine.replace(replace, by, 1)
    assert token != genuine
    if by == "\udcff":
        # Not encodable as an HTTP header at all; the validator alone must still refuse it.
        validator = issuer.validator()
        try:
            check_result(validator.validate(token), ErrorCode.MALFORMED, token, ())
            check_result(asyncio.run(validator.validate_async(token)), ErrorCode.MALFORMED, token, ())
        finally:
            validator.close()
        return
    assert_refused(issuer, token, ErrorCode.MALFORMED)


def test_token_one_byte_over_the_limit(issuer: LocalIssuer) -> None:
    genuine = issuer.mint()
    assert_accepted(issuer, genuine, max_token_bytes=len(genuine))
    assert_refused(issuer, genuine, ErrorCode.TOO_LARGE, max_token_bytes=len(genuine) - 1)


def test_limit_counts_utf8_bytes_not_characters(issuer: LocalIssuer) -> None:
    token = "\u00e9" * 4097  # 4097 characters, 8194 bytes
    assert_refused(issuer, token, ErrorCode.TOO_LARGE)


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make every step past the size check blow up: token parsing, base64 and JSON."""

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an oversized token was decoded")

    monkeypatch.setattr(validator_module, "parse_token", forbidden)
    monkeypatch.setattr(tokens_module, "parse_token", forbidden)
    monkeypatch.setattr(tokens_module, "b64url_decode", forbidden)
    monkeypatch.setattr(tokens_module, "strict_json_object", forbidden)
    monkeypatch.setattr(binascii, "a2b_base64", forbidden)
    monkeypatch.setattr(base64, "urlsafe_b64decode", forbidden)
    monkeypatch.setattr(json, "loads", forbidden)
    return forbidden


@pytest.mark.parametrize("size", [8193, 100_000, 10 * 1024 * 1024])
def test_oversized_tokens_are_refused_before_any_decoding(
    issuer: LocalIssuer, no_decoding: Any, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    if size > 8192 + 64:
        # Far over the limit, the middlewares refuse the header without even parsing it.
        monkeypatch.setattr(flow_module, "extract_bearer_token", no_decoding)
    genuine = issuer.mint()
    header = genuine.split(".")[0]
    token = header + "." + "A" * (size - len(header) - 3) + ".A"  # well formed in every other way
    assert len(token) == size
    assert_refused(issuer, token, ErrorCode.TOO_LARGE)


def test_oversized_token_costs_no_more_than_a_length_check(issuer: LocalIssuer) -> None:
    """10 MB is refused in microseconds: faster than fully validating a normal token."""
    validator = issuer.validator(verified_token_cache_size=0)
    try:
        normal = issuer.mint()
        assert validator.validate(normal).is_valid  # key cached: no fetch in the timing below
        huge = normal.split(".")[0] + "." + "A" * (10 * 1024 * 1024) + ".AAAA"

        def best_of(token: str, rounds: int = 25) -> float:
            best = float("inf")
            for _ in range(rounds):
                started = time.perf_counter()
                validator.validate(token)
                best = min(best, time.perf_counter() - started)
            return best

        huge_time, normal_time = best_of(huge), best_of(normal)
        assert validator.validate(huge).error is ErrorCode.TOO_LARGE
        assert huge_time < 0.001, huge_time
        assert huge_time < normal_time, (huge_time, normal_time)
    finally:
        validator.close()


# -- HTTP ---------------------------------------------------------------------------------------------


@pytest.fixture
def validator(issuer: LocalIssuer) -> Iterator[WristbandJwtValidator]:
    v = issuer.validator()
    yield v
    v.close()


def _assert_http_refusal(response: Response, status: int, error: Optional[str], *secrets: str) -> None:
    assert not response.app_called
    assert response.status == status, (response.status, response.body)
    body = parse_json(response.body)
    if error is not None:
        assert body["error"] == error
    text = response.text()
    for secret in secrets:
        for piece in (secret, *secret.split(".")):
            if len(piece) >= 8:
                assert piece not in text


def test_several_authorization_headers_wsgi(issuer: LocalIssuer, validator: WristbandJwtValidator) -> None:
    """A WSGI server joins repeated headers with ", "; a comma never occurs in a b64token."""
    first, second = issuer.mint(sub="alice"), issuer.mint(sub="bob")
    for value in (f"Bearer {first}, Bearer {second}", f"Bearer {first},Bearer {first}", f"Bearer {first}, Basic Zm9v"):
        _assert_http_refusal(wsgi_request(validator, value), 400, "invalid_request", first, second)
    assert validator.stats()["results"]["valid"] == 0  # refused before validation


def test_several_authorization_headers_asgi(issuer: LocalIssuer, validator: WristbandJwtValidator) -> None:
    first, second = issuer.mint(sub="alice"), issuer.mint(sub="bob")
    for values in ([first, second], [first, first], [first, ""]):
        headers = [(b"authorization", f"Bearer {v}".encode()) for v in values]
        _assert_http_refusal(asgi_request(validator, headers), 400, "invalid_request", first, second)
    mixed_case = [(b"authorization", f"Bearer {first}".encode()), (b"Authorization", f"Bearer {second}".encode())]
    _assert_http_refusal(asgi_request(validator, mixed_case), 400, "invalid_request", first, second)
    basic_then_bearer = [(b"authorization", b"Basic Zm9vOmJhcg=="), (b"authorization", f"Bearer {first}".encode())]
    _assert_http_refusal(asgi_request(validator, basic_then_bearer), 400, "invalid_request", first)
    assert validator.stats()["results"]["valid"] == 0


@pytest.mark.parametrize(
    "template",
    [
        "Bearer\r\n {token}",
        "Bearer {token}\r\n extra",
        "Bearer\r\n\t{token}",
        "Bearer {head}\r\n .{rest}",
        "Bearer\n {token}",
    ],
)
def test_header_folding(issuer: LocalIssuer, validator: WristbandJwtValidator, template: str) -> None:
    """obs-fold (RFC 7230 3.2.4) is never unfolded into a token: always a refusal."""
    token = issuer.mint()
    head, rest = token.split(".", 1)
    value = template.format(token=token, head=head, rest=rest)
    for response in (
        wsgi_request(validator, value),
        asgi_request(validator, [(b"authorization", value.encode("latin-1"))]),
    ):
        assert not response.app_called
        # "Bearer" then a line break is no Bearer credential (401 challenge); a broken
        # token after "Bearer " is a malformed request (400).
        assert response.status in (400, 401), response.status
        _assert_http_refusal(response, response.status, None, token)
    assert validator.stats()["results"]["valid"] == 0


@pytest.mark.parametrize("separator", ["\t", "\t\t", " \t", "\t ", "\u00a0", "\x0b"], ids=repr)
def test_bearer_followed_by_tabs(issuer: LocalIssuer, validator: WristbandJwtValidator, separator: str) -> None:
    """RFC 6750: ``"Bearer" 1*SP b64token``; a tab is not SP.

    Tabs give 400 ``invalid_request``. NBSP and VT are not HTTP whitespace at all, so
    ``Bearer\xa0<token>`` is one unknown scheme: 401 with a bare challenge.
    """
    token = issuer.mint()
    value = bearer_header(token, separator)
    status, error = (400, "invalid_request") if "\t" in separator else (401, None)
    asgi_headers = [(b"authorization", value.encode("latin-1"))]
    for response in (wsgi_request(validator, value), asgi_request(validator, asgi_headers)):
        _assert_http_refusal(response, status, error, token)
    assert validator.stats()["results"]["valid"] == 0


@pytest.mark.parametrize("separator", ["  ", "     ", " " * 50])
def test_bearer_followed_by_several_spaces(
    issuer: LocalIssuer, validator: WristbandJwtValidator, separator: str
) -> None:
    """Accepted, as issue 2 documents (RFC 6750 ``1*SP``); a hostile token behind them is not."""
    token = issuer.mint()
    value = bearer_header(token, separator)
    assert wsgi_request(validator, value).status == 200
    assert asgi_request(validator, [(b"authorization", value.encode())]).status == 200
    forged = forge(header_of(issuer, alg="none"), issuer.claims(), b"")
    forged_value = bearer_header(forged, separator)
    _assert_http_refusal(wsgi_request(validator, forged_value), 401, "invalid_token", forged)
    forged_headers = [(b"authorization", forged_value.encode())]
    _assert_http_refusal(asgi_request(validator, forged_headers), 401, "invalid_token", forged)


def test_token_in_header_and_query_string_over_http(issuer: LocalIssuer, validator: WristbandJwtValidator) -> None:
    """Plain HTTP never reads the query string, even with ``websocket_query_param`` set.

    The header decides alone: a good header with junk in the query passes, a good
    token in the query with no header is a missing credential.
    """
    good, forged = issuer.mint(), forge(header_of(issuer, alg="none"), issuer.claims(), b"")
    header = [(b"authorization", f"Bearer {good}".encode())]
    assert wsgi_request(validator, f"Bearer {good}", query=f"access_token={forged}").status == 200
    assert asgi_request(validator, header, query=f"access_token={forged}".encode()).status == 200
    junk_query = f"access_token={forged}".encode()
    assert asgi_request(validator, header, query=junk_query, websocket_query_param="access_token").status == 200
    # A good token only in the query string is never used over HTTP.
    _assert_http_refusal(wsgi_request(validator, None, query=f"access_token={good}"), 401, None, good)
    _assert_http_refusal(asgi_request(validator, query=f"access_token={good}".encode()), 401, None, good)
    only_query = asgi_request(validator, query=f"access_token={good}".encode(), websocket_query_param="access_token")
    _assert_http_refusal(only_query, 401, None, good)
    # The forged token in the header is refused whatever the query carries.
    forged_header = [(b"authorization", f"Bearer {forged}".encode())]
    good_query = f"access_token={good}".encode()
    both = asgi_request(validator, forged_header, query=good_query, websocket_query_param="access_token")
    _assert_http_refusal(both, 401, "invalid_token", forged, good)


def test_token_in_header_and_query_string_over_websocket(issuer: LocalIssuer, validator: WristbandJwtValidator) -> None:
    """With ``websocket_query_param``, a handshake may carry the token one way only (RFC 6750 2)."""
    good = issuer.mint()
    header = [(b"authorization", f"Bearer {good}".encode())]
    query = f"access_token={good}".encode()
    ws: Dict[str, Any] = {"scope_type": "websocket", "websocket_query_param": "access_token"}
    both = asgi_request(validator, header, query=query, **ws)
    _assert_http_refusal(both, 400, "invalid_request", good)
    twice = asgi_request(validator, query=query + b"&" + query, **ws)
    _assert_http_refusal(twice, 400, "invalid_request", good)
    assert asgi_request(validator, query=query, **ws).status == 101  # the query alone
    assert asgi_request(validator, header, **ws).status == 101  # the header alone
    forged = forge(header_of(issuer, alg="none"), issuer.claims(), b"")
    _assert_http_refusal(
        asgi_request(validator, query=f"access_token={forged}".encode(), **ws), 401, "invalid_token", forged
    )
    # Without websocket_query_param the query string is ignored on WebSockets too.
    ignored = asgi_request(validator, query=query, scope_type="websocket")
    _assert_http_refusal(ignored, 401, None, good)
