"""The ``wristband-mw`` command line.

``demo``   a protected sample app on an embedded local issuer, with curl commands to try;
``check``  validate a real token exactly as the middleware would, and explain the outcome;
``token``  mint a token from the local development issuer;
``jwks``   serve that issuer's JWKS, for developing apps that use the middleware.

Exit status: 0 success (a valid token for ``check``), 1 an invalid token, 2 usage or
network errors, whatever the output is piped into (a reader that stops early, like
``| head -3``, is not an error). Only the package's public API is used here.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import importlib
import json
import logging
import math
import os
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from . import (
    SUPPORTED_ALGORITHMS,
    BearerTokenError,
    ErrorCode,
    JwtValidationResult,
    MultiIssuerValidator,
    WristbandJwtValidator,
    WristbandJwtValidatorConfig,
    __version__,
    create_wristband_jwt_validator,
    decode_unverified,
    extract_bearer_token,
)

__all__ = ["main"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
DEFAULT_JWKS_PORT = 8001
KEY_FILE_ENV = "WRISTBAND_MW_KEY_FILE"
DEFAULT_KEY_FILE = "~/.wristband-mw/local-issuer.pem"


class UsageError(Exception):
    """Bad arguments or environment: exit status 2."""


def _out(text: str) -> None:
    """Print ``text`` to stdout; if the reader has gone (``| head -3``), stop printing quietly.

    The standard recipe for EPIPE: point stdout at devnull, so neither later prints nor
    the interpreter's final flush raise again, and let the command finish with its own
    exit status (a valid token is still exit 0).
    """
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout() -> None:
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _port(text: str) -> int:
    """argparse type: a TCP port, 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0 to 65535, got {port}")
    return port


def _finite(text: str) -> float:
    """argparse type: a finite number (no nan, no inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


# -- main ------------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status.

    Example::

        >>> main(["token", "--port", "99999"])  # doctest: +SKIP
        2
    """
    status = EXIT_OK
    try:
        try:
            status = _main(argv)
        except SystemExit as done:  # argparse: --help, --version (0) and usage errors (2)
            status = done.code if isinstance(done.code, int) else (EXIT_OK if done.code is None else EXIT_USAGE)
        # Flush here, not at interpreter exit, so a reader gone early (``| head -3``) is
        # handled below instead of failing the exit with status 120.
        sys.stdout.flush()
    except BrokenPipeError:  # a print outside _out(), such as argparse's --help
        _silence_stdout()
    return status


def _main(argv: Optional[Sequence[str]]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # The commands report problems themselves; library warnings only with -v.
    logging.basicConfig(format="wristband_mw: %(message)s", level=logging.DEBUG if args.verbose else logging.ERROR)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        status: int = args.run(args)
        return status
    except UsageError as exc:
        print(f"wristband-mw {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wristband-mw",
        description="JWT middleware for WSGI and ASGI apps: demo, token checks and a local issuer.",
    )
    parser.add_argument("--version", action="version", version=f"wristband-mw {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the library does (to stderr)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="run a protected sample app on a local issuer")
    demo.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    demo.add_argument("--port", type=_port, default=8000, help="port to listen on (default: 8000; 0: any free port)")
    demo.add_argument("--asgi", action="store_true", help="serve through JwtAsgiMiddleware under uvicorn")
    demo.set_defaults(run=_run_demo)

    check = commands.add_parser(
        "check",
        help="validate a token and explain the outcome",
        description="Validate a token exactly as the middleware would, and explain why it passes or fails.",
    )
    check.add_argument("token", nargs="?", help="the access token; '-' or nothing reads it from stdin")
    check.add_argument("--header", help="an Authorization header value instead, e.g. 'Bearer eyJ...'")
    check.add_argument("--domain", help="Wristband application vanity domain, e.g. auth.yourapp.io")
    check.add_argument("--jwks-url", help="JWKS URL (with --issuer) when not using --domain")
    check.add_argument(
        "--issuer",
        action="append",
        help="expected iss; without --jwks-url and --domain its JWKS is found by OIDC discovery "
        "(repeat for several issuers: the token's iss picks one)",
    )
    check.add_argument("--discovery-url", help="the OpenID configuration's URL, when not under the issuer's")
    check.add_argument("--audience", action="append", help="expected aud (repeat for several)")
    check.add_argument(
        "--algorithm",
        action="append",
        dest="algorithms",
        metavar="ALG",
        help=f"allowed alg (repeat for several; default RS256): {', '.join(SUPPORTED_ALGORITHMS)}",
    )
    check.add_argument("--leeway", type=_finite, default=0.0, help="seconds of clock skew to tolerate")
    check.add_argument("--timeout", type=_finite, default=5.0, help="JWKS fetch timeout in seconds")
    check.add_argument("--json", action="store_true", help="print a machine-readable result")
    check.set_defaults(run=_run_check)

    token = commands.add_parser("token", help="mint a token from the local development issuer")
    token.add_argument("--sub", default="user-123", help="subject (default: user-123)")
    token.add_argument("--scope", default="openid email profile", help="space-separated scopes")
    token.add_argument("--aud", action="append", help="audience (repeat for several)")
    token.add_argument("--exp-in", type=_finite, default=3600, help="seconds until expiry; negative for expired")
    token.add_argument("--claim", action="append", default=[], metavar="K=V", help="extra claim; V may be JSON")
    _add_issuer_options(token)
    token.set_defaults(run=_run_token)

    jwks = commands.add_parser("jwks", help="serve the local development issuer's JWKS")
    _add_issuer_options(jwks)
    jwks.set_defaults(run=_run_jwks)
    return parser


def _add_issuer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_JWKS_PORT, help=f"JWKS server port (default: {DEFAULT_JWKS_PORT})"
    )
    parser.add_argument("--issuer", help="iss of minted tokens (default: http://127.0.0.1:PORT)")
    parser.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help=f"the issuer's RSA key, created on first use (default: ${KEY_FILE_ENV} or {DEFAULT_KEY_FILE})",
    )


# -- demo --------------------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import asgi_demo_app, wsgi_demo_app
    from .testing import LocalIssuer

    uvicorn: Any = None
    if args.asgi:
        try:
            uvicorn = importlib.import_module("uvicorn")
        except ImportError:
            raise UsageError(
                "--asgi needs uvicorn: python -m pip install 'wristband-mw[demo]' (or: python -m pip install uvicorn)"
            ) from None
    with LocalIssuer() as issuer:
        validator = issuer.validator()
        # The banner goes out only once the socket listens: a port in use is a usage
        # error before anything says "ready", and --port 0 prints the port it got.
        if args.asgi:
            listener = _listen(args.host, args.port)
            base = f"http://{_url_host(args.host)}:{listener.getsockname()[1]}"
            _print_demo_intro(issuer, base, "ASGI (uvicorn)")
            with listener:
                config = uvicorn.Config(asgi_demo_app(validator), log_level="warning", lifespan="off")
                # uvicorn serves the bound socket and stops on the first Ctrl-C itself.
                uvicorn.Server(config).run(sockets=[listener])
        else:
            server = _wsgi_server(wsgi_demo_app(validator), args.host, args.port)
            _print_demo_intro(issuer, f"http://{_url_host(args.host)}:{server.server_port}", "WSGI (wsgiref)")
            _serve_until_interrupted(server)
    print("demo stopped", file=sys.stderr)
    return EXIT_OK


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv4 or IPv6), or a usage error."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _serve_until_interrupted(server: Any) -> None:
    """Serve in a worker thread until Ctrl-C, then stop at once.

    wsgiref's handler catches every exception while it runs the app and writes the
    response, KeyboardInterrupt included (it answers 500 and serves on), so Ctrl-C under
    traffic used to be lost. Here the main thread, the one Python delivers SIGINT to,
    only waits; requests run in daemon threads that a slow client cannot keep alive.
    """
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    serving.start()
    try:
        while serving.is_alive():
            serving.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()  # returns within one poll interval: requests run in their own threads
        server.server_close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _print_demo_intro(issuer: Any, base: str, server: str) -> None:
    user = issuer.mint(sub="demo-user", scope="openid profile", exp_in=3600)
    admin = issuer.mint(sub="demo-admin", scope="openid profile admin", exp_in=3600)
    expired = issuer.mint(sub="demo-user", scope="openid profile", exp_in=-60)
    _out(
        f"""wristband-mw demo: {server} on {base}
Local issuer {issuer.issuer} (JWKS {issuer.jwks_url}); tokens are valid for one hour.
Try, in another terminal:

  # valid token: 200 with the claims echoed
  curl -i {base}/api/me -H 'Authorization: Bearer {user}'

  # expired token: 401 with an RFC 6750 challenge (error="invalid_token")
  curl -i {base}/api/me -H 'Authorization: Bearer {expired}'

  # valid token without the admin scope on /api/admin: 403 (error="insufficient_scope")
  curl -i {base}/api/admin -H 'Authorization: Bearer {user}'

  # the same route with an admin token: 200
  curl -i {base}/api/admin -H 'Authorization: Bearer {admin}'

  # no token: 401
  curl -i {base}/api/me

Press Ctrl-C to stop."""
    )


def _wsgi_server(app: Any, host: str, port: int) -> Any:
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request line holds no token, but keep the demo output readable

    class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
        daemon_threads = True  # a hung client never delays the exit
        block_on_close = False

    if ":" in host:
        ThreadingWSGIServer.address_family = socket.AF_INET6
    try:
        return make_server(host, port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


# -- token and jwks: the local development issuer ---------------------------------------------


def _key_file(args: argparse.Namespace) -> Path:
    if args.key_file is not None:
        return Path(args.key_file)
    return Path(os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE).expanduser()


def _load_or_create_key(path: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        if path.exists():
            return path.read_bytes()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
    except OSError as exc:
        raise UsageError(f"cannot use the key file {path}: {exc.strerror or exc}") from None
    print(f"created a development signing key in {path}", file=sys.stderr)
    return pem


def _thumbprint_kid(pem: bytes) -> str:
    """RFC 7638 thumbprint of the public key: the same kid in every process."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UsageError("the key file must hold an RSA private key")
    numbers = key.public_key().public_numbers()

    def b64(value: int) -> str:
        return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()

    canonical = json.dumps({"e": b64(numbers.e), "kty": "RSA", "n": b64(numbers.n)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()[:16]


def _local_issuer(args: argparse.Namespace, port: int) -> Any:
    from .testing import LocalIssuer

    pem = _load_or_create_key(_key_file(args))
    # Serving (port == --port): the server's own URL, so --port 0 works. Minting without
    # serving: the URL of the server `wristband-mw jwks --port PORT` runs.
    issuer = args.issuer or (None if port == args.port else f"http://127.0.0.1:{args.port}")
    try:
        return LocalIssuer(private_key=pem, kid=_thumbprint_kid(pem), port=port, issuer=issuer)
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _parse_claims(pairs: List[str]) -> Dict[str, Any]:
    claims: Dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--claim takes NAME=VALUE, got {pair!r}")
        try:
            claims[name] = json.loads(raw)
        except ValueError:
            claims[name] = raw
    return claims


def _run_token(args: argparse.Namespace) -> int:
    claims = _parse_claims(args.claim)
    if args.aud:
        claims["aud"] = args.aud[0] if len(args.aud) == 1 else args.aud
    with _local_issuer(args, port=0) as issuer:
        _out(issuer.mint(sub=args.sub, scope=args.scope, exp_in=args.exp_in, **claims))
    return EXIT_OK


def _run_jwks(args: argparse.Namespace) -> int:
    with _local_issuer(args, port=args.port) as issuer:
        _out(
            f"""Serving the local issuer's JWKS at {issuer.jwks_url} (kid {issuer.kid}).
Validate its tokens with:

    WristbandJwtValidatorConfig(issuer="{issuer.issuer}", jwks_url="{issuer.jwks_url}")

Mint one with: wristband-mw token --port {issuer.port}{" --issuer " + issuer.issuer if args.issuer else ""}
Press Ctrl-C to stop."""
        )
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    print("stopped", file=sys.stderr)
    return EXIT_OK


# -- check ----------------------------------------------------------------------------------

FIXES: Dict[ErrorCode, str] = {
    ErrorCode.MISSING_TOKEN: "Pass the token as an argument, on stdin, or with --header 'Bearer <token>'.",
    ErrorCode.MALFORMED: "Pass the raw access token: three base64url parts joined by dots, no quotes or spaces.",
    ErrorCode.TOO_LARGE: "This is not an access token; check what is being sent.",
    ErrorCode.DISALLOWED_ALGORITHM: "Only tokens signed with the allowed algorithms are accepted: pass the "
    "issuer's with --algorithm (e.g. --algorithm ES256).",
    ErrorCode.INVALID_TYPE: "Send the access token (typ at+jwt), not the ID token or the refresh token.",
    ErrorCode.INVALID_ISSUER: "The token comes from another issuer: check --domain (the application's vanity domain) "
    "or --issuer.",
    ErrorCode.INVALID_AUDIENCE: "The token was issued for another API: check the audience your client requests.",
    ErrorCode.EXPIRED: "Get a new access token (refresh it before it expires).",
    ErrorCode.NOT_YET_VALID: "Check this machine's clock, or allow a little --leeway.",
    ErrorCode.MISSING_CLAIM: "The issuer must include this claim (or the validator must not require it).",
    ErrorCode.INVALID_CLAIM: "Time claims must be JSON numbers and kid a short string: the token is not standard.",
    ErrorCode.UNKNOWN_KEY: "The token was signed by a key this JWKS does not publish: another application or "
    "environment, or a key rotated out.",
    ErrorCode.KEYS_UNAVAILABLE: "Check the JWKS URL (with discovery: the issuer and its OpenID configuration) "
    "and the network (proxy, TLS, firewall).",
    ErrorCode.INVALID_SIGNATURE: "The token was altered, or signed by another issuer with the same kid.",
}


Checker = Union[WristbandJwtValidator, MultiIssuerValidator]


def _run_check(args: argparse.Namespace) -> int:
    checker = _check_validator(args)
    try:
        token = _token_input(args)
    except BearerTokenError as exc:
        return _report(args, checker, None, JwtValidationResult(False, None, str(exc), ErrorCode.MALFORMED))
    result = checker.validate(token)
    return _report(args, checker, token, result)


def _check_validator(args: argparse.Namespace) -> Checker:
    issuers: List[str] = args.issuer or []
    if not args.domain and not issuers:
        raise UsageError(
            "say whose tokens to accept: --domain auth.yourapp.io, --issuer ISS (found by OIDC discovery), "
            "or --jwks-url URL --issuer ISS"
        )
    if len(issuers) > 1 and (args.domain or args.jwks_url or args.discovery_url):
        raise UsageError(
            "several --issuer values are each found by discovery: drop --domain, --jwks-url, --discovery-url"
        )
    discovery = not args.domain and not args.jwks_url
    if args.discovery_url and not discovery:
        raise UsageError("--discovery-url finds the JWKS itself: drop --domain and --jwks-url")
    options: Dict[str, Any] = {
        "algorithms": args.algorithms or ["RS256"],
        "audience": args.audience,
        "leeway": args.leeway,
        "jwks_fetch_timeout": args.timeout,
    }
    try:
        if len(issuers) > 1:
            return MultiIssuerValidator(
                [
                    create_wristband_jwt_validator(WristbandJwtValidatorConfig(issuer=iss, discovery=True, **options))
                    for iss in issuers
                ]
            )
        config = WristbandJwtValidatorConfig(
            wristband_application_vanity_domain=args.domain,
            issuer=issuers[0] if issuers else None,
            jwks_url=args.jwks_url,
            discovery=discovery,
            discovery_url=args.discovery_url,
            **options,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return create_wristband_jwt_validator(config)


def _token_input(args: argparse.Namespace) -> str:
    if args.header is not None:
        if args.token not in (None, "-"):
            raise UsageError("pass either a token or --header, not both")
        return extract_bearer_token(args.header)
    if args.token not in (None, "-"):
        return str(args.token).strip()
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("no token: pass it as an argument, on stdin, or with --header")
    try:
        return sys.stdin.read().strip()
    except (UnicodeDecodeError, OSError) as exc:
        raise UsageError(f"cannot read the token from stdin: {exc}") from None


def _report(args: argparse.Namespace, checker: Checker, token: Optional[str], result: JwtValidationResult) -> int:
    header: Dict[str, Any] = {}
    claims: Dict[str, Any] = {}
    if token:
        with contextlib.suppress(ValueError):  # malformed: the result already says why
            header, claims = decode_unverified(token)
    # With several issuers, the one the token names (if it is one of them) explains the outcome.
    if isinstance(checker, MultiIssuerValidator):
        iss = claims.get("iss")
        validator = checker.validator_for(iss) if isinstance(iss, str) else None
    else:
        validator = checker
    jwks_kids, fetch_error = _jwks_kids(validator, result) if validator is not None else (None, None)
    details = _details(checker, validator, result, header, claims, jwks_kids)
    if details["discovery"] is not None and details["discovery"]["found_at"] is None:
        details["discovery"]["error"] = fetch_error
    if args.json:
        _out(json.dumps(details, indent=2, sort_keys=True))
    else:
        _out(_format_details(details))
    if result.is_valid:
        return EXIT_OK
    return EXIT_USAGE if result.error is ErrorCode.KEYS_UNAVAILABLE else EXIT_INVALID


def _jwks_kids(
    validator: WristbandJwtValidator, result: JwtValidationResult
) -> Tuple[Optional[List[str]], Optional[str]]:
    """The kids the JWKS publishes, fetching it if validation stopped before the key; or why not."""
    if result.error is ErrorCode.KEYS_UNAVAILABLE:
        return None, result.error_message
    kids = list(validator.stats()["cached_kids"])
    if not kids:
        try:
            validator.prefetch()
        except Exception as exc:
            return None, str(exc)
        kids = list(validator.stats()["cached_kids"])
    return sorted(kids), None


def _details(
    checker: Checker,
    validator: Optional[WristbandJwtValidator],
    result: JwtValidationResult,
    header: Dict[str, Any],
    claims: Dict[str, Any],
    jwks_kids: Optional[List[str]],
) -> Dict[str, Any]:
    now = time.time()
    kid = header.get("kid")
    discovery: Optional[Dict[str, Any]] = None
    if validator is not None and validator.config.uses_discovery:
        found = validator.openid_configuration()
        discovery = {
            "urls": list(validator.config.resolved_discovery_urls),
            "found_at": found.url if found is not None else None,
            "jwks_uri": found.jwks_uri if found is not None else None,
        }
    details: Dict[str, Any] = {
        "valid": result.is_valid,
        "error": result.error.value if result.error else None,
        "error_message": result.error_message,
        "fix": _fix(result, claims, kid, jwks_kids, now),
        "header": header,
        "claims": claims,
        "kid": kid,
        "kid_in_jwks": None if jwks_kids is None or kid is None else kid in jwks_kids,
        "jwks_kids": jwks_kids,
        "issuer": validator.issuer if validator is not None else None,
        "issuers": list(checker.issuers) if isinstance(checker, MultiIssuerValidator) else [checker.issuer],
        "jwks_url": _jwks_url(validator, discovery),
        "discovery": discovery,
    }
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 253402300799:
            details[name] = {
                "at": _utc(value),
                "relative": _relative(value - now),
                "seconds_from_now": round(value - now),
            }
    return details


def _jwks_url(validator: Optional[WristbandJwtValidator], discovery: Optional[Dict[str, Any]]) -> Optional[str]:
    if validator is None:
        return None
    if discovery is not None:
        jwks_uri: Optional[str] = discovery["jwks_uri"]
        return jwks_uri
    return validator.config.resolved_jwks_url


def _fix(
    result: JwtValidationResult, claims: Dict[str, Any], kid: Any, jwks_kids: Optional[List[str]], now: float
) -> Optional[str]:
    if result.is_valid or result.error is None:
        return None
    fix = FIXES[result.error]
    exp = claims.get("exp")
    if result.error is ErrorCode.EXPIRED and isinstance(exp, (int, float)):
        fix = f"Expired {_relative(exp - now)} (at {_utc(exp)}). {fix}"
    if result.error is ErrorCode.UNKNOWN_KEY and jwks_kids is not None:
        fix = f"{fix} kid {kid!r} is not among the JWKS kids: {', '.join(jwks_kids) or 'none'}."
    return fix


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _relative(seconds: float) -> str:
    magnitude = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if magnitude >= size:
            count = int(magnitude // size)
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            break
    else:
        text = f"{int(magnitude)} second{'s' if int(magnitude) != 1 else ''}"
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def _format_details(details: Dict[str, Any]) -> str:
    verdict = "VALID" if details["valid"] else f"INVALID ({details['error']})"
    lines = [f"Result:   {verdict}"]
    if not details["valid"]:
        lines.append(f"Reason:   {details['error_message']}")
        lines.append(f"Fix:      {details['fix']}")
    expected = details["issuer"] or "one of " + ", ".join(details["issuers"])
    lines.append(f"Issuer:   expected {expected}, token says {details['claims'].get('iss')!r}")
    discovery = details["discovery"]
    if discovery is not None:
        if discovery["found_at"] is not None:
            lines.append(f"Discovery: {discovery['found_at']} -> jwks_uri {discovery['jwks_uri']}")
        else:
            tried = " or ".join(discovery["urls"])
            lines.append(f"Discovery: nothing trusted from {tried}: {discovery.get('error') or 'not fetched'}")
    kid_note = {True: "published in the JWKS", False: "NOT in the JWKS", None: "JWKS not consulted"}
    source = details["jwks_url"] or "an unknown JWKS URL"
    lines.append(f"Key:      kid {details['kid']!r} ({kid_note[details['kid_in_jwks']]}) from {source}")
    if details["jwks_kids"] is not None:
        lines.append(f"JWKS:     kids {', '.join(details['jwks_kids']) or 'none'}")
    for name, label in (("exp", "Expires"), ("nbf", "Not before"), ("iat", "Issued")):
        if name in details:
            lines.append(f"{label + ':':<9} {details[name]['at']} ({details[name]['relative']})")
    lines.append("Header:   " + json.dumps(details["header"], sort_keys=True))
    lines.append("Claims:   " + json.dumps(details["claims"], indent=2, sort_keys=True).replace("\n", "\n          "))
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
