"""HTTP benchmark: real servers on 127.0.0.1, a bare app next to the same app behind each middleware.

One command, from the repository root (peers and servers come from the ``bench`` extra)::

    python -m pip install -e '.[bench]'
    python benchmarks/http_bench.py           # full run, about four minutes
    python benchmarks/http_bench.py --quick   # smoke run, about a minute

or ``tox -e bench-http`` (``tox -e bench-http -- --quick``). See ``benchmarks/README.rst``.

(Not ``http.py``: run from this folder, that name would shadow the standard library's
``http`` package, which every server and client here imports.)

Servers, one subprocess each, all started before the first run and all stopped at the
end, whatever happens. Each serves on a socket this process binds to a free port of
127.0.0.1 and hands down, so no other process can take the port in between:

- uvicorn (ASGI; one worker, httptools by default, asyncio loop, no access log): a bare
  ASGI app; the same app behind ``JwtAsgiMiddleware`` (default verified-token cache,
  and a cache smaller than the rotating pool); behind a plain ASGI middleware on PyJWT's
  ``PyJWKClient``; behind Starlette's ``BaseHTTPMiddleware`` calling
  ``wristband-python-jwt`` 0.1.2 (the seed's recommended pattern);
- gunicorn (WSGI; one gthread worker, 4 threads, no access log): a bare WSGI app; the
  same app behind ``JwtWsgiMiddleware`` (default cache, and the smaller cache).

Every server process builds its own validator from environment variables that point at
a ``LocalIssuer`` running in this process, and has its keys before it serves.

Load: ``wrk`` when it is installed (one thread, keep-alive connections, a Lua script for
the ``Authorization`` header), else a Python asyncio keep-alive HTTP/1.1 client; the
output says which. Two modes: "same" sends one token with every request; "rotating"
cycles through a pool of distinct tokens. The default cache (4096 tokens) holds a pool
of 4096, so rotating is then mostly cache hits; the servers with a cache of a quarter of
the pool (``--cache-size``) verify every rotating token afresh: the fresh-token path.

Method: a warm-up run of every case, then interleaved rounds; each round runs every
case once, for a fixed number of seconds, in a shuffled order. A case's figure is the
median over rounds of its requests per second, and its ratio to bare is the median over
rounds of its figure divided by the bare app's *in the same round* (same server, same
mode), so the drifts of a noisy machine cancel out. On Linux, the server's CPU time per
request is measured too (from /proc), with its own paired ratio to bare.

Before any timing, every wrapped server must answer 200 to a valid token and 401 to a
tampered one and to none, and every bare server 200; any non-2xx answer under load also
aborts the run.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import http.client
import importlib.metadata
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    MutableMapping,
    NoReturn,
    Optional,
    Sequence,
    Tuple,
)

from validate import TlsJwksServer, machine, tamper  # benchmarks/validate.py, next to this file

from wristband_mw import JwtAsgiMiddleware, JwtWsgiMiddleware, WristbandJwtValidator, WristbandJwtValidatorConfig
from wristband_mw import create_wristband_jwt_validator as create_mw_validator
from wristband_mw.testing import LocalIssuer

try:
    import jwt
    from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from wristband.python_jwt import WristbandJwtValidatorConfig as SeedConfig
    from wristband.python_jwt import create_wristband_jwt_validator as create_seed_validator
except ImportError as missing:  # pragma: no cover - depends on the environment
    sys.exit(f"benchmarks/http_bench.py needs the bench extra: python -m pip install -e '.[bench]' ({missing})")

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent

# How the benchmark process tells a server process what to build.
ENV_APP = "WRISTBAND_BENCH_APP"  # bare | wristband_mw | pyjwt | seed
ENV_ISSUER = "WRISTBAND_BENCH_ISSUER"  # the iss every token carries: https://127.0.0.1:{tls port}
ENV_JWKS_URL = "WRISTBAND_BENCH_JWKS_URL"  # the LocalIssuer's plain-http loopback JWKS
ENV_DOMAIN = "WRISTBAND_BENCH_DOMAIN"  # 127.0.0.1:{tls port}, for wristband-python-jwt
ENV_WARM_TOKEN = "WRISTBAND_BENCH_WARM_TOKEN"  # the peers fetch their keys by validating it
ENV_CACHE_SIZE = "WRISTBAND_BENCH_CACHE_SIZE"  # wristband_mw's verified_token_cache_size, if set
ENV_STATS_FILE = "WRISTBAND_BENCH_STATS_FILE"  # wristband_mw writes validator.stats() there at exit

SAME, ROTATING = "same", "rotating"

# Targets from issue 5 (medians, ratios measured side by side in one run).
ASGI_SAME_TARGET = 0.8  # uvicorn + JwtAsgiMiddleware, same token, vs bare
ROTATING_VS_PYJWT_TARGET = 2.0  # uvicorn + JwtAsgiMiddleware, rotating, vs the PyJWT middleware
WSGI_SAME_TARGET = 0.9  # gunicorn gthread + JwtWsgiMiddleware, same token, vs bare

# A case whose p75 exceeds its p25 by more than this ran on a busy machine.
NOISY_SPREAD = 1.25


# =========================================================================================
# The apps. The server processes import this module (uvicorn's factory asgi_app, gunicorn's
# "http_bench:wsgi_app()"), so everything a server needs sits here. Every server thus loads
# the same libraries, bare ones included; each wraps the bare app as WRISTBAND_BENCH_APP says.
# =========================================================================================
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
WSGIApp = Callable[[Dict[str, Any], Callable[..., Any]], Iterable[bytes]]

BODY = b"ok"


async def bare_asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The smallest useful ASGI app: a 200 with a two-byte body (uvicorn runs it with ``--lifespan off``)."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def bare_wsgi_app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The smallest useful WSGI app: a 200 with a two-byte body."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [BODY]


class PyJwtAsgiMiddleware:
    """Peer (a): a plain ASGI 3 middleware on PyJWT's ``PyJWKClient`` and ``jwt.decode``.

    Written the way such a middleware usually is, with no ``BaseHTTPMiddleware``: find the
    ``Authorization`` header, take the Bearer token, get the key from ``PyJWKClient``
    (keys cached) and decode with the issuer and ``exp`` required; 401 otherwise.
    """

    _DENIED = (
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"24"),
                (b"www-authenticate", b'Bearer error="invalid_token"'),
            ],
        },
        {"type": "http.response.body", "body": b'{"error":"unauthorized"}'},
    )

    def __init__(self, app: ASGIApp, jwks_url: str, issuer: str) -> None:
        self.app = app
        self.issuer = issuer
        self.client = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=24 * 3600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credentials = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and credentials:
                    token = credentials
                break
        if token is None:
            await self._deny(send)
            return
        try:
            key = self.client.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token, key.key, algorithms=["RS256"], issuer=self.issuer, options={"require": ["exp", "iss"]}
            )
        except jwt.PyJWTError:
            await self._deny(send)
            return
        scope = dict(scope)
        scope["jwt_claims"] = claims
        await self.app(scope, receive, send)

    async def _deny(self, send: Send) -> None:
        start, body = self._DENIED
        await send(dict(start))
        await send(dict(body))


def seed_middleware(app: ASGIApp, domain: str) -> ASGIApp:
    """Peer (b): the seed's recommended pattern, Starlette ``BaseHTTPMiddleware`` + ``wristband-python-jwt``.

    The dispatch function does what the seed's documentation does in a route:
    ``extract_bearer_token`` on the header, ``validate`` (synchronous), 401 if either fails.
    """
    validator = create_seed_validator(SeedConfig(wristband_application_vanity_domain=domain))

    async def dispatch(request: Request, call_next: RequestResponseEndpoint) -> Response:
        try:
            token = validator.extract_bearer_token(request.headers.get("authorization"))
        except ValueError:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        result = validator.validate(token)
        if not result.is_valid:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        request.state.auth = result.payload
        return await call_next(request)

    # Checked at start-up: the seed fetches its keys (over TLS) on this first validation.
    warm_token = os.environ[ENV_WARM_TOKEN]
    if not validator.validate(warm_token).is_valid:
        raise SystemExit("wristband-python-jwt refused the warm-up token (is SSL_CERT_FILE set?)")
    return BaseHTTPMiddleware(app, dispatch=dispatch)


def _mw_validator() -> WristbandJwtValidator:
    """The wristband_mw validator a server uses, keys prefetched, stats written at exit."""
    options: Dict[str, Any] = {"issuer": os.environ[ENV_ISSUER], "jwks_url": os.environ[ENV_JWKS_URL]}
    if os.environ.get(ENV_CACHE_SIZE):
        options["verified_token_cache_size"] = int(os.environ[ENV_CACHE_SIZE])
    validator = create_mw_validator(WristbandJwtValidatorConfig(**options))
    validator.prefetch()
    stats_file = os.environ.get(ENV_STATS_FILE)
    if stats_file:
        atexit.register(lambda: Path(stats_file).write_text(json.dumps(validator.stats())))
    return validator


def _pyjwt_middleware(app: ASGIApp) -> ASGIApp:
    middleware = PyJwtAsgiMiddleware(app, os.environ[ENV_JWKS_URL], os.environ[ENV_ISSUER])
    middleware.client.get_signing_key_from_jwt(os.environ[ENV_WARM_TOKEN])  # fetch (and cache) the key now
    return middleware


def asgi_app() -> ASGIApp:
    """uvicorn's app factory: the bare app, wrapped as ``WRISTBAND_BENCH_APP`` says."""
    kind = os.environ[ENV_APP]
    if kind == "bare":
        return bare_asgi_app
    if kind == "wristband_mw":
        return JwtAsgiMiddleware(bare_asgi_app, _mw_validator())
    if kind == "pyjwt":
        return _pyjwt_middleware(bare_asgi_app)
    if kind == "seed":
        return seed_middleware(bare_asgi_app, os.environ[ENV_DOMAIN])
    raise SystemExit(f"unknown {ENV_APP}={kind!r}")


def wsgi_app() -> WSGIApp:
    """gunicorn's app factory: the bare app, or the bare app behind ``JwtWsgiMiddleware``."""
    kind = os.environ[ENV_APP]
    if kind == "bare":
        return bare_wsgi_app
    if kind == "wristband_mw":
        return JwtWsgiMiddleware(bare_wsgi_app, _mw_validator())
    raise SystemExit(f"unknown {ENV_APP}={kind!r}")


# =========================================================================================
# The benchmark process from here on.
# =========================================================================================
def fail(message: str) -> NoReturn:
    """Abort the run: a server did not behave, so its figures would mean nothing."""
    sys.exit(f"ABORTED: {message}")


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


# -- servers ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerSettings:
    uvicorn_http: str
    threads: int

    def uvicorn_command(self, fd: int) -> List[str]:
        code = f"import http_bench; http_bench.serve_uvicorn({fd}, {self.uvicorn_http!r})"
        return [sys.executable, "-c", code]

    def gunicorn_command(self, fd: int) -> List[str]:
        # No --access-logfile: gunicorn writes no access log unless asked to.
        return [
            *(sys.executable, "-m", "gunicorn", "http_bench:wsgi_app()", "--bind", f"fd://{fd}"),
            *("--worker-class", "gthread", "--workers", "1", "--threads", str(self.threads), "--log-level", "warning"),
        ]

    def describe(self) -> List[str]:
        return [
            f"uvicorn {_version('uvicorn')}, http {self.uvicorn_http} {_version(self.uvicorn_http)}: as "
            f"`uvicorn --workers 1 --http {self.uvicorn_http} --loop asyncio --lifespan off --log-level warning "
            "--no-access-log`",
            f"gunicorn {_version('gunicorn')}: `gunicorn --worker-class gthread --workers 1 --threads {self.threads} "
            "--log-level warning` (no access log, keep-alive 2 s)",
        ]


def serve_uvicorn(fd: int, http_impl: str) -> None:
    """A uvicorn server process: the CLI's settings, on the listening socket inherited as ``fd``.

    The same as ``uvicorn http_bench:asgi_app --factory --workers 1 ...`` (with one worker
    the CLI runs exactly this ``Server.run``), except that the socket comes from the
    benchmark process: it bound a free port itself, so no other process can take it
    between choosing the port and serving on it. (``uvicorn --fd`` would label the socket
    AF_UNIX, and asyncio would then not set TCP_NODELAY on its connections.)
    """
    import uvicorn

    config = uvicorn.Config(
        "http_bench:asgi_app",
        factory=True,
        workers=1,
        http=http_impl,
        loop="asyncio",
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
    # Stopped with SIGINT, which uvicorn re-raises once it has shut down (exit handlers run).
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


@dataclass(frozen=True)
class AppSpec:
    """One server to run: which server, which app, and how it is labelled."""

    key: str
    server: str  # "uvicorn" or "gunicorn"
    app: str  # "bare", "wristband_mw", "pyjwt" or "seed"
    label: str
    modes: Tuple[str, ...] = (SAME, ROTATING)
    cache_size: Optional[int] = None  # wristband_mw's verified_token_cache_size; None = the default


def app_specs(small_cache: int) -> List[AppSpec]:
    small = f"cache {small_cache}"
    return [
        AppSpec("uvicorn-bare", "uvicorn", "bare", "bare ASGI app"),
        AppSpec("uvicorn-mw", "uvicorn", "wristband_mw", "JwtAsgiMiddleware"),
        AppSpec(
            "uvicorn-mw-small",
            "uvicorn",
            "wristband_mw",
            f"JwtAsgiMiddleware, {small}",
            modes=(ROTATING,),
            cache_size=small_cache,
        ),
        AppSpec("uvicorn-pyjwt", "uvicorn", "pyjwt", "ASGI middleware on PyJWT PyJWKClient"),
        AppSpec("uvicorn-seed", "uvicorn", "seed", "BaseHTTPMiddleware + wristband-python-jwt"),
        AppSpec("gunicorn-bare", "gunicorn", "bare", "bare WSGI app"),
        AppSpec("gunicorn-mw", "gunicorn", "wristband_mw", "JwtWsgiMiddleware"),
        AppSpec(
            "gunicorn-mw-small",
            "gunicorn",
            "wristband_mw",
            f"JwtWsgiMiddleware, {small}",
            modes=(ROTATING,),
            cache_size=small_cache,
        ),
    ]


def listening_socket() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1 and listening, for a server process to inherit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class ServerProcess:
    """One server subprocess (its own session, so the whole process group can be stopped)."""

    def __init__(self, spec: AppSpec, settings: ServerSettings, env: Dict[str, str], workdir: Path) -> None:
        self.spec = spec
        self.settings = settings
        self.workdir = workdir
        self.log_file = workdir / f"{spec.key}.log"
        self.stats_file = workdir / f"{spec.key}.stats.json"
        self.env = {
            **env,
            ENV_APP: spec.app,
            ENV_STATS_FILE: str(self.stats_file),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH_DIR), env.get("PYTHONPATH")])),
        }
        if spec.cache_size is not None:
            self.env[ENV_CACHE_SIZE] = str(spec.cache_size)
        self.port = 0
        self.process: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> None:
        """Bind a free port here, then start the server on that very socket (no race for the port)."""
        with listening_socket() as sock, self.log_file.open("ab") as log:
            self.port = sock.getsockname()[1]
            fd = sock.fileno()
            if self.spec.server == "uvicorn":
                command = self.settings.uvicorn_command(fd)
            else:
                command = self.settings.gunicorn_command(fd)
            self.process = subprocess.Popen(
                command,
                env=self.env,
                cwd=self.workdir,  # so no stray gunicorn.conf.py is picked up
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(fd,),
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait until the server answers HTTP."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                fail(f"{self.spec.key} exited at start-up (code {self.process.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                get_status(self.port, None, timeout=2)
                return
            if time.monotonic() > deadline:
                fail(f"{self.spec.key} did not answer within {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop gracefully (so wristband_mw writes its stats), then kill the group if need be."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        # uvicorn re-raises the signal it caught once it has shut down: SIGINT then ends
        # Python with KeyboardInterrupt (exit handlers run), SIGTERM would not. gunicorn
        # stops its workers gracefully on SIGTERM.
        process.send_signal(signal.SIGINT if self.spec.server == "uvicorn" else signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def cpu_seconds(self) -> Optional[float]:
        """CPU time (user + system) used so far by the server and its children, from Linux's /proc."""
        assert self.process is not None
        return process_tree_cpu_seconds(self.process.pid)

    def stats(self) -> Optional[Dict[str, Any]]:
        with contextlib.suppress(OSError, ValueError):
            stats: Dict[str, Any] = json.loads(self.stats_file.read_text())
            return stats
        return None


def process_tree_cpu_seconds(pid: int) -> Optional[float]:
    """User + system CPU seconds of ``pid`` and its descendants (gunicorn's worker), or None off Linux."""
    try:
        total_ticks, pending = 0, [pid]
        while pending:
            current = pending.pop()
            children = Path(f"/proc/{current}/task/{current}/children").read_text()
            pending.extend(int(child) for child in children.split())
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total_ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return total_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def get_status(port: int, token: Optional[str], timeout: float = 10.0) -> int:
    """The status of ``GET /`` with ``token`` as a Bearer token (or no Authorization header)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", "/", headers={} if token is None else {"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def check_server(server: ServerProcess, valid: str, forged: str, pool_samples: Sequence[str]) -> None:
    """A wrapped server: 200 to valid tokens, 401 to a tampered one and to none; bare: 200."""
    expected: List[Tuple[str, Optional[str], int]] = [("a valid token", valid, 200)]
    if server.spec.app != "bare":
        expected += [("a tampered token", forged, 401), ("no token", None, 401)]
        expected += [("a token from the rotating pool", token, 200) for token in pool_samples]
    for what, token, status in expected:
        answered = get_status(server.port, token)
        check(answered == status, f"{server.spec.key} answered {answered} to {what}, expected {status}")


# -- load generators ----------------------------------------------------------------------
@dataclass
class LoadResult:
    requests: int  # completed in the measured window
    seconds: float
    non_2xx: int
    socket_errors: int
    sent: int  # requests sent in all (for wrk: completed + one in flight per connection)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


class LoadClient:
    """Drives ``GET /`` on keep-alive connections for a number of seconds."""

    name = ""
    connections = 0

    def run(self, port: int, mode: str, seconds: int, offset: int) -> LoadResult:
        raise NotImplementedError


# wrk runs init() in each thread's Lua state, before it builds the request, and done()
# once at the end; the result line is parsed by WrkClient.
WRK_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK_RESULT %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""
WRK_SAME = (
    """
-- args: token file (one token). A static header: wrk builds the request once.
function init(args)
  local file = assert(io.open(args[1]))
  wrk.headers["Authorization"] = "Bearer " .. file:read("*l")
  file:close()
end
"""
    + WRK_DONE
)
WRK_ROTATING = (
    """
-- args: token file (one token a line), start offset. Requests are formatted once, up
-- front; request() hands them out in turn, so the Lua cost per request is an index.
local requests, count, index = {}, 0, 0
function init(args)
  for line in io.lines(args[1]) do
    count = count + 1
    requests[count] = wrk.format(nil, nil, {["Authorization"] = "Bearer " .. line})
  end
  index = tonumber(args[2]) % count
end
function request()
  index = index % count + 1
  return requests[index]
end
"""
    + WRK_DONE
)


class WrkClient(LoadClient):
    """``wrk`` with one thread (the server gets the other cores) and Lua scripts for the header."""

    def __init__(self, executable: str, workdir: Path, same: str, pool: Sequence[str], connections: int) -> None:
        self.executable = executable
        self.connections = connections
        self.files = {SAME: workdir / "same.txt", ROTATING: workdir / "pool.txt"}
        self.files[SAME].write_text(same + "\n")
        self.files[ROTATING].write_text("\n".join(pool) + "\n")
        self.scripts = {SAME: workdir / "same.lua", ROTATING: workdir / "rotating.lua"}
        self.scripts[SAME].write_text(WRK_SAME)
        self.scripts[ROTATING].write_text(WRK_ROTATING)
        version = subprocess.run([executable, "-v"], capture_output=True, text=True, check=False)
        banner = (version.stdout + version.stderr).splitlines()
        self.name = (
            f"{banner[0].split(' Copyright')[0] if banner else 'wrk'}: 1 thread, {connections} keep-alive connections, "
            "Lua scripts for the Authorization header (rotating: requests pre-formatted, handed out in turn)"
        )

    def run(self, port: int, mode: str, seconds: int, offset: int) -> LoadResult:
        command = [
            *(self.executable, "-t1", f"-c{self.connections}", f"-d{seconds}s", "--timeout", "5s"),
            *("-s", str(self.scripts[mode]), f"http://{HOST}:{port}/", "--", str(self.files[mode]), str(offset)),
        ]
        finished = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
        for line in finished.stdout.splitlines():
            if line.startswith("WRK_RESULT "):
                requests, duration_us, connect, read, write, status, timeouts = map(int, line.split()[1:])
                errors = connect + read + write + timeouts
                return LoadResult(requests, duration_us / 1e6, status, errors, sent=requests + self.connections)
        fail(f"wrk gave no result (exit {finished.returncode}):\n{finished.stdout}\n{finished.stderr}")


class _LoadState:
    """What the fallback client's connections share: the requests to send and the counters."""

    def __init__(self, requests: Sequence[bytes], offset: int) -> None:
        self.requests = requests
        self.index = offset % len(requests)
        self.sent = 0
        self.completed = 0
        self.non_2xx = 0
        self.errors = 0
        self.stopping = False

    def next_request(self) -> bytes:
        request = self.requests[self.index]
        self.index = (self.index + 1) % len(self.requests)
        self.sent += 1
        return request


class _KeepAliveConnection(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection: send a request, read the response, send the next."""

    def __init__(self, state: _LoadState) -> None:
        self.state = state
        self.buffer = bytearray()
        self.transport: Optional[asyncio.Transport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.state.next_request())

    def data_received(self, data: bytes) -> None:
        buffer, state = self.buffer, self.state
        buffer += data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            if at < 0:  # every app here sends Content-Length; anything else is an error
                state.errors += 1
                self._close()
                return
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
            total = end + 4 + length
            if len(buffer) < total:
                return
            state.completed += 1
            if buffer[9:12] != b"200":
                state.non_2xx += 1
            del buffer[:total]
            if state.stopping:
                self._close()
                return
            assert self.transport is not None
            self.transport.write(state.next_request())

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if not self.state.stopping:
            self.state.errors += 1

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class PythonClient(LoadClient):
    """The fallback when wrk is absent: asyncio, one process, keep-alive HTTP/1.1 connections.

    Requests are encoded up front and responses parsed just enough (status, Content-Length).
    It is slower than wrk: on a fast case the client, not the server, can be the limit,
    which pulls every ratio toward 1. Prefer wrk for figures to quote.
    """

    def __init__(self, same: str, pool: Sequence[str], connections: int, reason: str) -> None:
        self.connections = connections
        self.tokens = {SAME: [same], ROTATING: list(pool)}
        self.name = f"Python asyncio fallback client ({reason}): {connections} keep-alive connections, one process"

    def run(self, port: int, mode: str, seconds: int, offset: int) -> LoadResult:
        requests = [
            f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode("latin-1")
            for token in self.tokens[mode]
        ]
        return asyncio.run(self._run(port, requests, seconds, offset))

    async def _run(self, port: int, requests: Sequence[bytes], seconds: int, offset: int) -> LoadResult:
        loop = asyncio.get_running_loop()
        state = _LoadState(requests, offset)
        transports = []
        for _ in range(self.connections):
            transport, _ = await loop.create_connection(lambda: _KeepAliveConnection(state), HOST, port)
            transports.append(transport)
        start, completed_before = time.perf_counter(), state.completed
        await asyncio.sleep(seconds)
        elapsed, completed = time.perf_counter() - start, state.completed - completed_before
        state.stopping = True
        for transport in transports:
            transport.close()
        await asyncio.sleep(0)
        return LoadResult(completed, elapsed, state.non_2xx, state.errors, sent=state.sent)


# -- rounds -------------------------------------------------------------------------------
@dataclass
class Case:
    server: ServerProcess
    mode: str
    rps: List[float] = field(default_factory=list)
    cpu_us: List[float] = field(default_factory=list)  # server CPU microseconds per request
    requests: int = 0

    @property
    def spec(self) -> AppSpec:
        return self.server.spec

    @property
    def name(self) -> str:
        return f"{self.spec.key} {self.mode}"


class Runner:
    """Runs cases with one load client; keeps each server's place in the rotating pool.

    In rotating mode, each run of a server starts where its previous run stopped, so a
    token comes back only after the whole pool went by (a cache smaller than the pool
    then never holds it: every request is a fresh verification).
    """

    def __init__(self, client: LoadClient, pool_size: int) -> None:
        self.client = client
        self.pool_size = pool_size
        self.cursors: Dict[str, int] = {}
        self.socket_errors = 0

    def run(self, case: Case, seconds: int, *, record: bool = True) -> None:
        """One run of ``case``; its requests/s and server CPU per request go to the case if ``record``."""
        offset = self.cursors.get(case.spec.key, 0) if case.mode == ROTATING else 0
        cpu_before = case.server.cpu_seconds()
        result = self.client.run(case.server.port, case.mode, seconds, offset)
        cpu_after = case.server.cpu_seconds()
        check(result.requests > 0, f"{case.name}: no request completed")
        check(result.non_2xx == 0, f"{case.name}: {result.non_2xx} non-2xx answers under load")
        if case.mode == ROTATING:
            self.cursors[case.spec.key] = (offset + result.sent) % self.pool_size
        self.socket_errors += result.socket_errors
        case.requests += result.requests
        if record:
            case.rps.append(result.rps)
            if cpu_before is not None and cpu_after is not None:
                case.cpu_us.append((cpu_after - cpu_before) / result.requests * 1e6)


def run_rounds(cases: Sequence[Case], runner: Runner, rounds: int, seconds: int, warmup: int, seed: int) -> None:
    """A warm-up run of every case, then rounds that run every case once, in a new order each."""
    progress(f"warm-up: {len(cases)} runs of {warmup} s")
    for case in cases:
        runner.run(case, warmup, record=False)
    rng = random.Random(seed)
    order = list(cases)
    for number in range(1, rounds + 1):
        rng.shuffle(order)
        progress(f"round {number}/{rounds}: {len(order)} runs of {seconds} s")
        for case in order:
            runner.run(case, seconds)


# -- report -------------------------------------------------------------------------------
def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """Median over rounds of one case's figure divided by another's in the same round."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def quartiles(values: Sequence[float]) -> Tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    p25, median, p75 = statistics.quantiles(values, n=4)
    return p25, median, p75


def spread(values: Sequence[float]) -> float:
    """p75 / p25: how much a case's runs disagreed."""
    p25, _, p75 = quartiles(values)
    return p75 / p25


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def versions() -> str:
    names = [
        *("wristband-mw", "uvicorn", "httptools", "h11", "gunicorn", "starlette"),
        *("PyJWT", "wristband-python-jwt", "httpx", "python-jose", "cryptography"),
    ]
    return ", ".join(f"{name} {_version(name)}" for name in names)


def load_average() -> str:
    with contextlib.suppress(OSError, AttributeError):
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    return "n/a"


def find(cases: Sequence[Case], key: str, mode: str) -> Case:
    return next(case for case in cases if case.spec.key == key and case.mode == mode)


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def cache_lines(servers: Sequence[ServerProcess]) -> List[str]:
    """What each wristband_mw server's own counters say about its verified-token cache."""
    lines = []
    for server in servers:
        if server.spec.app != "wristband_mw":
            continue
        stats = server.stats()
        size = server.spec.cache_size if server.spec.cache_size is not None else "default 4096"
        if stats is None:
            lines.append(f"  {server.spec.key} (cache {size}): no stats written (did it stop cleanly?)")
            continue
        valid, hits = stats["results"]["valid"], stats["verified_token_cache_hits"]
        share = hits / valid if valid else 0.0
        lines.append(
            f"  {server.spec.key} (cache {size}): {valid} valid tokens, {hits} verified-token cache hits "
            f"({share:.1%}), {stats['jwks_fetches_ok']} JWKS fetch(es)"
        )
    return lines


def report(
    cases: Sequence[Case],
    servers: Sequence[ServerProcess],
    *,
    args: argparse.Namespace,
    settings: ServerSettings,
    runner: Runner,
    token_bytes: int,
    loads: Tuple[str, str],
) -> None:
    print("wristband_mw HTTP benchmark (benchmarks/http_bench.py)")
    print(f"Python:    {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    print(f"Packages:  {versions()}")
    print(f"Machine:   {machine()}")
    print(f"Load avg:  {loads[0]} at start, {loads[1]} at the end (1, 5, 15 min)")
    for number, line in enumerate(settings.describe()):
        print(f"{'Servers:' if number == 0 else '':<10} {line}")
    print(
        f"{'':<10} one server process each on a socket of 127.0.0.1 bound by the benchmark; all running "
        "throughout (idle when not measured)"
    )
    print(f"Client:    {runner.client.name}")
    print(
        f"Method:    warm-up run of {args.warmup} s per case, then {args.rounds} interleaved rounds of one "
        f"{args.duration} s run per case (order shuffled each round); medians over rounds"
    )
    print(
        f"Tokens:    RS256, 2048-bit key, {token_bytes} bytes; same = one token (the pool's first) for every "
        f"request; rotating = {args.pool} distinct tokens cycled, each server resuming where its last run stopped"
    )
    print(
        "Caches:    JwtAsgiMiddleware / JwtWsgiMiddleware: the default verified-token cache (4096 tokens)"
        + (f", which the {args.pool}-token pool fits in: rotating is mostly cache hits" if args.pool <= 4096 else "")
        + f"; '..., cache {args.cache_size}': a cache smaller than the pool, so every rotating request is a "
        "fresh verification (the fresh-token path)"
    )
    print(
        "Peers:     wristband-python-jwt fetched its JWKS over TLS from a loopback server with a throwaway CA "
        "(SSL_CERT_FILE set for its server process); not pre-loaded. PyJWKClient fetched over loopback http."
    )
    print(
        "Checks:    every wrapped server answered 200 to valid tokens and 401 to a tampered one and to none, "
        "every bare server 200; no non-2xx answer under load"
        + (f"; {runner.socket_errors} socket errors under load" if runner.socket_errors else "; no socket errors")
    )
    print()

    bare = {(case.spec.server, case.mode): case for case in cases if case.spec.app == "bare"}
    with_cpu = all(case.cpu_us for case in cases)
    width = max(len(case.spec.label) for case in cases)
    header = f"{'server':<8}  {'app':<{width}}  {'tokens':<8}  {'median rps':>10}  {'p25-p75':>13}  {'x bare':>6}"
    rule = f"{'-' * 8}  {'-' * width}  {'-' * 8}  {'-' * 10}  {'-' * 13}  {'-' * 6}"
    if with_cpu:
        header += f"  {'CPU us/req':>10}  {'x bare (CPU)':>12}"
        rule += f"  {'-' * 10}  {'-' * 12}"
    print(header)
    print(rule)
    for case in cases:
        base = bare[case.spec.server, case.mode]
        p25, median, p75 = quartiles(case.rps)
        line = (
            f"{case.spec.server:<8}  {case.spec.label:<{width}}  {case.mode:<8}  {median:>10.0f}  "
            f"{f'{p25:.0f}-{p75:.0f}':>13}  {paired_ratio(case.rps, base.rps):>5.2f}x"
        )
        if with_cpu:
            cpu_ratio = paired_ratio(base.cpu_us, case.cpu_us)
            line += f"  {statistics.median(case.cpu_us):>10.1f}  {cpu_ratio:>11.2f}x"
        print(line)
    print("x bare: median over rounds of the case's requests/s / the bare app's (same server, tokens and round)")
    if with_cpu:
        print(
            "CPU us/req: the server process's CPU time (user + system, with its children) per request; "
            "x bare (CPU): the bare app's CPU per request / the case's, paired by round (the throughput ratio "
            "a CPU-bound server would reach, less sensitive to a busy machine than requests/s)"
        )
    noisy = [case.name for case in cases if len(case.rps) > 1 and spread(case.rps) > NOISY_SPREAD]
    if noisy:
        print(f"WARNING: wide spreads (p75 > {NOISY_SPREAD} x p25) for {len(noisy)} case(s): the machine was busy;")
        print("         rerun on an idle machine before quoting these figures")
    print()
    print("Verified-token cache, from each wristband_mw server's own counters at exit (checks and warm-up included):")
    for line in cache_lines(servers):
        print(line)
    print()

    def compare(key: str, mode: str, base_key: str) -> Tuple[float, Optional[float]]:
        case, base = find(cases, key, mode), find(cases, base_key, mode)
        cpu = paired_ratio(base.cpu_us, case.cpu_us) if with_cpu else None
        return paired_ratio(case.rps, base.rps), cpu

    targets = [
        (
            "uvicorn + JwtAsgiMiddleware, same token, vs bare",
            compare("uvicorn-mw", SAME, "uvicorn-bare"),
            ASGI_SAME_TARGET,
        ),
        (
            f"uvicorn + JwtAsgiMiddleware, {args.pool} rotating tokens, vs PyJWT middleware",
            compare("uvicorn-mw", ROTATING, "uvicorn-pyjwt"),
            ROTATING_VS_PYJWT_TARGET,
        ),
        (
            "gunicorn gthread + JwtWsgiMiddleware, same token, vs bare",
            compare("gunicorn-mw", SAME, "gunicorn-bare"),
            WSGI_SAME_TARGET,
        ),
    ]
    print("Targets (issue 5, on requests/s; ratios paired by round)")
    label_width = max(len(label) for label, _, _ in targets)
    for label, (value, cpu), target in targets:
        cpu_note = f"  (by CPU per request: {cpu:.2f}x)" if cpu is not None else ""
        print(f"  {verdict(value >= target)}  {label:<{label_width}}  {value:5.2f}x  target >= {target}x{cpu_note}")
    fresh_vs_pyjwt, _ = compare("uvicorn-mw-small", ROTATING, "uvicorn-pyjwt")
    print(
        f"  (stricter, every request a fresh verification: with a verified-token cache of {args.cache_size}, "
        f"smaller than the pool, JwtAsgiMiddleware rotating is {fresh_vs_pyjwt:.2f}x the PyJWT middleware)"
    )


# -- main ---------------------------------------------------------------------------------
def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, help="seconds per measured run (default 3; 1 with --quick)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; 3 with --quick)")
    parser.add_argument("--warmup", type=int, help="seconds of the warm-up run per case (default 1)")
    parser.add_argument(
        "--pool", type=int, help="distinct tokens in the rotating pool (default 4096; 1024 with --quick)"
    )
    parser.add_argument(
        "--cache-size",
        type=int,
        help="verified_token_cache_size of the small-cache wristband_mw servers (default: a quarter of the pool)",
    )
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (default 32)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn gthread threads (default 4)")
    parser.add_argument("--http", choices=["httptools", "h11"], default="httptools", help="uvicorn's HTTP parser")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto", help="load generator")
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    parser.add_argument("--seed", type=int, default=1, help="seed of the per-round case order")
    args = parser.parse_args(argv)
    args.duration = args.duration or (1 if args.quick else 3)
    args.rounds = args.rounds or (3 if args.quick else 5)
    args.warmup = args.warmup or 1
    args.pool = args.pool or (1024 if args.quick else 4096)
    args.cache_size = args.cache_size or max(args.pool // 4, 1)
    if min(args.duration, args.rounds, args.warmup, args.connections, args.threads) < 1:
        parser.error("--duration, --rounds, --warmup, --connections and --threads must be >= 1")
    if not 1 <= args.cache_size <= args.pool - args.connections:
        parser.error("--cache-size must be between 1 and the pool size minus --connections")
    return args


def load_client(args: argparse.Namespace, workdir: Path, same: str, pool: Sequence[str]) -> LoadClient:
    wrk = shutil.which("wrk")
    if args.client == "wrk" and wrk is None:
        fail("--client wrk: wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
    if wrk is not None and args.client != "python":
        return WrkClient(wrk, workdir, same, pool, args.connections)
    reason = "--client python" if args.client == "python" else "wrk not found"
    return PythonClient(same, pool, args.connections, reason)


@contextlib.contextmanager
def running(servers: Sequence[ServerProcess]) -> Iterator[None]:
    """Start every server at once, wait for all; stop them all on the way out, whatever happens."""
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        yield
    finally:
        for server in servers:
            server.stop()


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    loads = [load_average()]
    settings = ServerSettings(uvicorn_http=args.http, threads=args.threads)
    with LocalIssuer() as issuer, tempfile.TemporaryDirectory(prefix="wristband-http-bench-") as tmp:
        workdir = Path(tmp)
        tls = TlsJwksServer(issuer.jwks, workdir)
        try:
            progress(f"minting {args.pool} tokens")
            pool = [issuer.mint(sub=f"user-{index}", iss=tls.issuer, exp_in=3600) for index in range(args.pool)]
            # The same-token mode's token is one of the pool: with the default pool of 4096
            # and the default cache of 4096, one more token would make the LRU cache miss
            # every rotating request until that token was evicted.
            same = pool[0]
            env = {
                **{name: value for name, value in os.environ.items() if name != "GUNICORN_CMD_ARGS"},
                ENV_ISSUER: tls.issuer,
                ENV_JWKS_URL: issuer.jwks_url,
                ENV_DOMAIN: tls.domain,
                ENV_WARM_TOKEN: same,
                "SSL_CERT_FILE": str(tls.ca_file),  # httpx (wristband-python-jwt) trusts the throwaway CA
            }
            servers = [ServerProcess(spec, settings, env, workdir) for spec in app_specs(args.cache_size)]
            cases = [Case(server, mode) for server in servers for mode in server.spec.modes]
            runner = Runner(load_client(args, workdir, same, pool), args.pool)
            progress(f"starting {len(servers)} servers")
            with running(servers):
                progress("checking every server's answers")
                for server in servers:
                    check_server(server, same, tamper(same), [pool[0], pool[-1]])
                run_rounds(cases, runner, args.rounds, args.duration, args.warmup, args.seed)
            loads.append(load_average())
            report(
                cases,
                servers,
                args=args,
                settings=settings,
                runner=runner,
                token_bytes=len(same),
                loads=(loads[0], loads[1]),
            )
        finally:
            tls.close()


if __name__ == "__main__":
    main()
