"""What the middlewares add per request, for a token already verified, with many users.

A busy API serves thousands of users, each with their own token, so the pool of
distinct tokens rotates (4096 by default, the verified-token cache's default size):
every request carries a different token from the one before, as it would behind a real
server. Each adapter is timed against a bare app in the same run, on the same prebuilt
requests; the difference is the middleware's cost, quoted as a multiple of one raw
RSA-2048 PKCS#1 v1.5 SHA-256 verify with ``cryptography`` (the floor of a fresh token).

Run from the repository root::

    python benchmarks/middleware.py            # about half a minute
    python benchmarks/middleware.py --quick    # a few seconds
    python benchmarks/middleware.py --profile  # and a cProfile of each adapter's cached path

The WSGI environ and the ASGI scope are shaped like a real server's (the headers a
browser or ``curl`` sends) and copied per request in the bare and the protected case
alike, as a server builds a new one per request. The ASGI coroutine is driven without an
event loop: a cached token never suspends, and the loop's own cost is the server's. As
in ``validate.py``, the garbage collector is off while a batch is timed (a collection
would land on whichever case happens to run).
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import gc
import pstats
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from wristband_mw import JwtAsgiMiddleware, JwtWsgiMiddleware
from wristband_mw.testing import LocalIssuer

Environ = Dict[str, Any]
Scope = Dict[str, Any]


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def bare_wsgi(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


async def bare_asgi(scope: Scope, receive: Any, send: Any) -> None:
    return None


def _start_response(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> None:
    if not status.startswith("200"):
        raise SystemExit(f"the benchmark request was refused: {status}")


async def _receive() -> Dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Dict[str, Any]) -> None:
    if message.get("type") == "http.response.start" and message.get("status") != 200:
        raise SystemExit(f"the benchmark request was refused: {message.get('status')}")


def wsgi_environ(token: str) -> Environ:
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/api/orders",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "curl/8.5.0",
        "HTTP_ACCEPT": "*/*",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "wsgi.url_scheme": "http",
    }


def asgi_scope(token: str) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": "/api/orders",
        "raw_path": b"/api/orders",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"curl/8.5.0"),
            (b"accept", b"*/*"),
            (b"authorization", f"Bearer {token}".encode("ascii")),
        ],
        "state": {},
    }


def time_wsgi(app: Any, environs: Sequence[Environ]) -> float:
    start_response = _start_response
    started = time.perf_counter()
    for environ in environs:
        app(environ.copy(), start_response)
    return (time.perf_counter() - started) / len(environs)


def time_asgi(app: Any, scopes: Sequence[Scope]) -> float:
    receive, send = _receive, _send
    started = time.perf_counter()
    for scope in scopes:
        coroutine = app(scope.copy(), receive, send)
        try:
            coroutine.send(None)
        except StopIteration:
            continue
        raise SystemExit("a cached request suspended: it should never wait")
    return (time.perf_counter() - started) / len(scopes)


def time_raw_verify(public_key: Any, signed: Sequence[Tuple[bytes, bytes]]) -> float:
    pad, sha256 = padding.PKCS1v15(), hashes.SHA256()
    started = time.perf_counter()
    for signing_input, signature in signed:
        public_key.verify(signature, signing_input, pad, sha256)
    return (time.perf_counter() - started) / len(signed)


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pool", type=int, default=4096, help="distinct tokens (default 4096)")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds (default 30)")
    parser.add_argument("--quick", action="store_true", help="a pool of 512 and 8 rounds")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each adapter's cached path")
    parser.add_argument("--seed", type=int, default=1, help="seed of the per-round case order")
    args = parser.parse_args(list(argv))
    pool, rounds = (512, 8) if args.quick else (args.pool, args.rounds)

    with LocalIssuer() as issuer:
        validator = issuer.validator(audience=None)
        validator.prefetch()
        tokens = [issuer.mint(sub=f"user-{i}", scope="openid orders:read") for i in range(pool)]
        public_key = issuer.private_key.public_key()
        signed = [
            (token.rsplit(".", 1)[0].encode("ascii"), _b64decode(token.rsplit(".", 1)[1]))
            for token in tokens[: min(pool, 512)]
        ]
        wsgi_mw = JwtWsgiMiddleware(bare_wsgi, validator, protect=["/api"], required_scopes=["orders:read"])
        asgi_mw = JwtAsgiMiddleware(bare_asgi, validator, protect=["/api"], required_scopes=["orders:read"])
        environs = [wsgi_environ(token) for token in tokens]
        scopes = [asgi_scope(token) for token in tokens]
        # Verify every token once, then once more so each is a verified-token cache hit.
        for _ in range(2):
            time_wsgi(wsgi_mw, environs)
            time_asgi(asgi_mw, scopes)
        before = validator.stats()
        cases: Dict[str, Callable[[], float]] = {
            "raw": lambda: time_raw_verify(public_key, signed),
            "bare_wsgi": lambda: time_wsgi(bare_wsgi, environs),
            "wsgi": lambda: time_wsgi(wsgi_mw, environs),
            "bare_asgi": lambda: time_asgi(bare_asgi, scopes),
            "asgi": lambda: time_asgi(asgi_mw, scopes),
        }
        samples: Dict[str, List[float]] = {name: [] for name in cases}
        order = list(cases)
        rng = random.Random(args.seed)
        for _ in range(rounds):
            rng.shuffle(order)
            for name in order:
                gc.collect()
                gc.disable()  # as in validate.py: a collection lands on whichever case runs
                try:
                    samples[name].append(cases[name]())
                finally:
                    gc.enable()
        after = validator.stats()
        lookups = sum(after["results"].values()) - sum(before["results"].values())
        hits = after["verified_token_cache_hits"] - before["verified_token_cache_hits"]

        raw = statistics.median(samples["raw"])
        print(f"python {sys.version.split()[0]}, {pool} distinct tokens rotating, {rounds} rounds (medians)")
        print("ratios: median over rounds of (middleware - bare app) / raw verify, all three from the same round")
        print(f"raw RSA-2048 verify (cryptography):            {raw * 1e6:7.2f} us   1.00x")
        for adapter in ("wsgi", "asgi"):
            # Paired per round: the same round's bare app is subtracted, so drift cancels.
            overhead = statistics.median(m - b for m, b in zip(samples[adapter], samples["bare_" + adapter]))
            ratio = statistics.median(
                (m - b) / r for m, b, r in zip(samples[adapter], samples["bare_" + adapter], samples["raw"])
            )
            bare = statistics.median(samples["bare_" + adapter])
            name = "JwtWsgiMiddleware" if adapter == "wsgi" else "JwtAsgiMiddleware"
            verdict = "ok" if ratio <= 0.15 else "OVER the 0.15x budget"
            print(
                f"{name} overhead per cached request, {pool} distinct tokens: "
                f"{overhead * 1e6:6.2f} us  {ratio:5.3f}x raw verify ({verdict}; bare app {bare * 1e6:.2f} us)"
            )
        print(f"verified-token cache hits during the timed rounds: {hits}/{lookups}")

        if args.profile:
            for name, run in (("JwtWsgiMiddleware", cases["wsgi"]), ("JwtAsgiMiddleware", cases["asgi"])):
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(3):
                    run()
                profiler.disable()
                print(f"\n--- {name}, cached path, {3 * pool} requests ---")
                pstats.Stats(profiler).sort_stats("tottime").print_stats(14)
        validator.close()


if __name__ == "__main__":
    main(sys.argv[1:])
