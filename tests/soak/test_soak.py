"""Soak: real servers under concurrent load while the issuer rotates its keys.

Run with ``pytest tests/soak -s`` (or ``tox -e soak``); a plain ``pytest`` skips this
directory (see conftest.py). ``WRISTBAND_MW_SOAK_SECONDS`` sets the load duration
(default 45 s, so the whole module stays well under two minutes).

Set-up, all on 127.0.0.1:

* a :class:`~wristband_mw.testing.LocalIssuer` in this process (real RSA keys, real
  JWKS endpoint);
* uvicorn serving ``soak_app:asgi_app`` (JwtAsgiMiddleware) and gunicorn with two
  gthread workers serving ``soak_app:wsgi_app`` (JwtWsgiMiddleware), as subprocesses
  on random ports, configured through environment variables: JWKS TTL 1 s, refresh
  cool-down 1 s, verified-token cache 256 tokens;
* per server, four client threads, each with one keep-alive ``http.client`` connection,
  sending requests back to back for the whole duration;
* every 4 s the issuer rotates (``rotate(keep_previous=True)``: the new key is
  published beside the old one) and every key but the two newest is unpublished.

What counts as valid. A server learns of a key change within one TTL plus a fetch
(refresh-ahead on the first lookup past the TTL), so a key is *propagated* once it has
been published for ``PROPAGATION`` = TTL + 1 s, and *retired* once it has been
unpublished for that long. Each request picks one of:

* ``valid``: a token of the newest propagated key (published for two rotations, so it
  is never used within 2 s of being unpublished): must get 200;
* ``expired``: a token of that key whose ``exp`` has passed: 401;
* ``forged``: the propagated key's ``kid``, signed by a key in no JWKS: 401 (bad signature);
* ``unknown_kid``: a random ``kid``, signed by that same outside key: 401 (and at most
  one JWKS fetch per cool-down, however many arrive);
* ``retired``: a token of a retired key, which the server accepted (and cached as
  verified) while the key was published: 401 (revocation reaches the cache).

Tokens come from pools minted once per key and reused, as clients reuse access
tokens, so most valid requests are answered from the verified-token cache and the
cache keeps turning over (256 entries, 100 new tokens per key).

Asserted per server: every request got its expected status, no 5xx at all (the
designed 503 only answers an unreachable JWKS, which stays up here: counted, must be
0), no connection errors; the process tree's RSS (summed over the gunicorn arbiter and
workers) grows by less than ``RSS_GROWTH_LIMIT_MB`` between the first and last quarter
of the post-warm-up samples; thread counts and socket descriptors are as high at the
end as at the start at most (plus a little slack for the short-lived refresh thread),
and the sockets drop back once the clients disconnect.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from wristband_mw.testing import LocalIssuer

HERE = Path(__file__).resolve().parent
SOAK_SECONDS = float(os.environ.get("WRISTBAND_MW_SOAK_SECONDS", "45"))
ROTATE_EVERY = 4.0
TTL_MS = 1000
COOLDOWN = 1.0
VERIFIED_CACHE = 256
PROPAGATION = TTL_MS / 1000 + 1.0
POOL_SIZE = 100  # valid tokens per key
CLIENTS_PER_SERVER = 4
SAMPLE_EVERY = 0.5
WARM_UP = max(5.0, SOAK_SECONDS * 0.2)
# After warm-up the caches are near their bounds: 256 verified tokens of ~4 KB (token,
# frozen claims, LRU entry) are about 1 MB per process and the key cache holds at most a
# few keys; gunicorn has two workers. Anything beyond this is growth, not cache filling.
RSS_GROWTH_LIMIT_MB = 8.0
THREAD_SLACK = 2  # a background JWKS refresh thread may be alive at the sample
SOCKET_SLACK = 2  # a JWKS connection being replaced
IDLE_SETTLE_SECONDS = 15.0  # how long the servers get to close the clients' connections
WEIGHTS = {"valid": 60, "expired": 10, "forged": 10, "unknown_kid": 10, "retired": 10}
EXPECTED = {"valid": 200, "expired": 401, "forged": 401, "unknown_kid": 401, "retired": 401}


# -- keys and tokens -------------------------------------------------------------------------
@dataclass
class KeyState:
    kid: str
    published_at: float
    unpublished_at: Optional[float] = None
    valid: List[str] = field(default_factory=list)
    expired: List[str] = field(default_factory=list)
    forged: List[str] = field(default_factory=list)


class Ledger:
    """The issuer's key history, and which tokens a client may send as what."""

    def __init__(self, issuer: LocalIssuer) -> None:
        self.issuer = issuer
        self.lock = threading.Lock()
        self.keys: List[KeyState] = []
        self.forger = issuer.add_key(publish=False)  # signs; never in the JWKS
        self.unknown = [self._forged(uuid.uuid4().hex) for _ in range(20)]
        self.rotations = 0
        self._add(KeyState(issuer.kid, time.monotonic()))

    def _forged(self, kid: str) -> str:
        header = {"alg": "RS256", "typ": "at+JWT", "kid": kid}
        return self.issuer.sign(header, self.issuer.claims(sub="mallory"), key_id=self.forger)

    def _add(self, state: KeyState) -> None:
        kid = state.kid
        state.valid = [self.issuer.mint(f"user-{i}", "openid read", kid=kid) for i in range(POOL_SIZE)]
        state.expired = [self.issuer.mint("late", exp_in=-60 - i, kid=kid) for i in range(10)]
        state.forged = [self._forged(kid) for _ in range(10)]
        with self.lock:
            self.keys.append(state)

    def rotate(self) -> None:
        kid = self.issuer.rotate(keep_previous=True)
        self._add(KeyState(kid, time.monotonic()))  # recorded after publishing: conservative
        with self.lock:
            live = [k for k in self.keys if k.unpublished_at is None]
        for old in live[:-2]:
            self.issuer.unpublish(old.kid)
            with self.lock:
                old.unpublished_at = time.monotonic()  # recorded after unpublishing: conservative
        self.rotations += 1

    def pick(self, rng: random.Random) -> Tuple[str, str, str]:
        """``(category, kid, token)`` for one request, as of now."""
        now = time.monotonic()
        with self.lock:
            propagated = [k for k in self.keys if k.unpublished_at is None and now - k.published_at >= PROPAGATION]
            retired = [k for k in self.keys if k.unpublished_at is not None and now - k.unpublished_at >= PROPAGATION]
        current = propagated[-1] if propagated else self.keys[0]
        category = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        if category == "retired" and not retired:
            category = "valid"
        if category == "valid":
            return category, current.kid, rng.choice(current.valid)
        if category == "expired":
            return category, current.kid, rng.choice(current.expired)
        if category == "forged":
            return category, current.kid, rng.choice(current.forged)
        if category == "unknown_kid":
            return category, "random", rng.choice(self.unknown)
        key = rng.choice(retired)
        return category, key.kid, rng.choice(key.valid)


# -- servers ------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> List[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(child) for child in text.split()]
    except OSError:
        return []


def _status_fields(pid: int) -> Dict[str, int]:
    fields: Dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "Threads"):
            fields[name] = int(value.split()[0])
    return fields


def _socket_fds(pid: int) -> int:
    count = 0
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(entry).startswith("socket:"):
                count += 1
        except OSError:  # closed between listing and reading
            pass
    return count


@dataclass
class Sample:
    at: float
    rss_kb: int
    threads: int
    sockets: int
    pids: Tuple[int, ...]


class Server:
    def __init__(self, name: str, argv: List[str], env: Dict[str, str], log: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log
        self.port = 0
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.samples: List[Sample] = []

    def start(self) -> None:
        for _attempt in range(3):
            self.port = _free_port()
            argv = [arg.replace("{port}", str(self.port)) for arg in self.argv]
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    argv, env=self.env, cwd=self.log_path.parent, stdout=log, stderr=log, start_new_session=True
                )
            if self._wait_ready():
                return
            self.stop()
        raise AssertionError(f"{self.name} did not start:\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                status, _ = self.get("/health")
                if status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def get(self, path: str, token: Optional[str] = None) -> Tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def pids(self) -> Tuple[int, ...]:
        assert self.proc is not None
        return (self.proc.pid, *_children(self.proc.pid))

    def sample(self) -> Sample:
        rss = threads = sockets = 0
        pids = self.pids()
        for pid in pids:
            try:
                fields = _status_fields(pid)
                rss += fields["VmRSS"]
                threads += fields["Threads"]
                sockets += _socket_fds(pid)
            except OSError:  # a process gone (would show up as a pid-set change)
                pass
        return Sample(time.monotonic(), rss, threads, sockets, pids)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)  # its own session: the workers go too
                proc.wait(timeout=15)
        proc.wait()

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


# -- load ---------------------------------------------------------------------------------------
@dataclass
class Load:
    counts: Counter = field(default_factory=Counter)  # (category, status) -> n
    mismatches: List[str] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    leaks: int = 0
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(server: Server, ledger: Ledger, stop: threading.Event, load: Load, seed: int) -> None:
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    counts: Counter = Counter()
    try:
        while not stop.is_set():
            category, kid, token = ledger.pick(rng)
            try:
                connection.request("GET", "/api/data", headers={"Authorization": f"Bearer {token}"})
                response = connection.getresponse()
                body = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                with load.lock:
                    load.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            counts[(category, status)] += 1
            if token.encode("ascii") in body:
                with load.lock:
                    load.leaks += 1
            if status != EXPECTED[category]:
                with load.lock:
                    if len(load.mismatches) < 20:
                        load.mismatches.append(f"{category} kid={kid} -> {status} {body[:200]!r}")
    except Exception as exc:  # a bug in the client: fail the soak rather than lose requests quietly
        with load.lock:
            load.errors.append(f"client crashed: {type(exc).__name__}: {exc}")
    finally:
        connection.close()
        with load.lock:
            load.counts.update(counts)
            load.requests += sum(counts.values())


@dataclass
class Result:
    server: Server
    load: Load
    started: float
    seconds: float
    before: Sample  # idle, before any request
    after_idle: Sample  # after the clients disconnected
    stats: Dict[str, Any]  # the validator's counters, from one process

    def post_warm_up(self) -> List[Sample]:
        return [s for s in self.server.samples if s.at >= self.started + WARM_UP]


@dataclass
class Soak:
    results: Dict[str, Result]
    rotations: int
    jwks_fetches: int  # answered by the issuer during the load, for all servers
    validators: int  # processes holding a validator (uvicorn 1, gunicorn 2 workers)
    seconds: float
    background_errors: List[str]


def _quarters(samples: List[Sample]) -> Tuple[List[Sample], List[Sample]]:
    n = max(1, len(samples) // 4)
    return samples[:n], samples[-n:]


def _summary(result: Result, rotations: int, issuer_fetches: int) -> str:
    load, samples = result.load, result.post_warm_up()
    first, last = _quarters(samples)
    by_status = Counter()
    for (_category, status), n in load.counts.items():
        by_status[status] += n
    by_category = {
        category: {str(status): n for (c, status), n in sorted(load.counts.items()) if c == category}
        for category in WEIGHTS
    }
    rss = [s.rss_kb / 1024 for s in result.server.samples]
    lines = [
        f"--- soak summary: {result.server.name} ---",
        f"requests {load.requests} in {result.seconds:.1f} s = {load.requests / result.seconds:.0f} req/s "
        f"({CLIENTS_PER_SERVER} keep-alive clients); rotations {rotations}; JWKS fetches (issuer, all servers) "
        f"{issuer_fetches}",
        f"status counts {dict(sorted(by_status.items()))}; by category {by_category}",
        f"5xx {sum(n for s, n in by_status.items() if s >= 500)}; connection errors {len(load.errors)}; "
        f"token echoed {load.leaks}; mismatches {len(load.mismatches)}",
        f"RSS MB: idle {result.before.rss_kb / 1024:.1f}, first sample {rss[0]:.1f}, max {max(rss):.1f}, "
        f"end {rss[-1]:.1f}; post-warm-up median first quarter "
        f"{statistics.median(s.rss_kb for s in first) / 1024:.1f} -> last quarter "
        f"{statistics.median(s.rss_kb for s in last) / 1024:.1f}",
        f"threads: idle {result.before.threads}, under load first quarter max {max(s.threads for s in first)}, "
        f"last quarter max {max(s.threads for s in last)}, after clients left {result.after_idle.threads}",
        f"socket fds: idle {result.before.sockets}, under load first quarter max {max(s.sockets for s in first)}, "
        f"last quarter max {max(s.sockets for s in last)}, after clients left {result.after_idle.sockets}",
        f"processes {len(result.before.pids)}; validator stats (one process): "
        f"{json.dumps({k: v for k, v in result.stats.items() if k != 'results'})}",
        f"validator results (one process): {result.stats.get('results')}",
    ]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Soak]:
    directory = tmp_path_factory.mktemp("soak")
    with LocalIssuer() as issuer:
        env = dict(os.environ)
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH", "")])),
                "WRISTBAND_MW_SOAK_ISSUER": issuer.issuer,
                "WRISTBAND_MW_SOAK_JWKS_URL": issuer.jwks_url,
                "WRISTBAND_MW_SOAK_TTL_MS": str(TTL_MS),
                "WRISTBAND_MW_SOAK_COOLDOWN": str(COOLDOWN),
                "WRISTBAND_MW_SOAK_VERIFIED_CACHE": str(VERIFIED_CACHE),
            }
        )
        servers = [
            Server(
                "uvicorn (ASGI, JwtAsgiMiddleware)",
                [
                    *(sys.executable, "-m", "uvicorn", "soak_app:asgi_app", "--host", "127.0.0.1", "--port", "{port}"),
                    *("--no-access-log", "--log-level", "warning", "--lifespan", "on", "--timeout-keep-alive", "30"),
                ],
                env,
                directory / "uvicorn.log",
            ),
            Server(
                "gunicorn (WSGI gthread, JwtWsgiMiddleware)",
                [
                    *(sys.executable, "-m", "gunicorn", "soak_app:wsgi_app", "--bind", "127.0.0.1:{port}"),
                    *("--worker-class", "gthread", "--workers", "2", "--threads", "4", "--keep-alive", "30"),
                    *("--graceful-timeout", "5", "--log-level", "warning"),
                ],
                env,
                directory / "gunicorn.log",
            ),
        ]
        stop = threading.Event()
        threads: List[threading.Thread] = []
        try:
            for server in servers:
                server.start()
            ledger = Ledger(issuer)
            befores = {server.name: server.sample() for server in servers}
            loads = {server.name: Load() for server in servers}
            background_errors: List[str] = []

            def rotate() -> None:
                try:
                    while not stop.wait(ROTATE_EVERY):
                        ledger.rotate()
                except Exception as exc:
                    background_errors.append(f"rotation: {type(exc).__name__}: {exc}")

            def sample() -> None:
                try:
                    while not stop.wait(SAMPLE_EVERY):
                        for server in servers:
                            server.samples.append(server.sample())
                except Exception as exc:
                    background_errors.append(f"sampling: {type(exc).__name__}: {exc}")

            fetches_before = issuer.fetch_count
            started = time.monotonic()
            threads = [threading.Thread(target=rotate, name="soak-rotate"), threading.Thread(target=sample)]
            for i, server in enumerate(servers):
                threads += [
                    threading.Thread(target=_client, args=(server, ledger, stop, loads[server.name], 100 * i + n))
                    for n in range(CLIENTS_PER_SERVER)
                ]
            for thread in threads:
                thread.start()
            stop.wait(SOAK_SECONDS)
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            seconds = time.monotonic() - started
            fetches = issuer.fetch_count - fetches_before
            assert not any(thread.is_alive() for thread in threads), "a load thread did not finish"
            results = {}
            for server in servers:
                # Sampled before /stats, whose own connection would count, and once the server
                # has noticed the closed client connections: a leak never settles, a slow
                # close on a busy machine does (a fixed sleep here failed now and then).
                after_idle = _settled(server, befores[server.name], time.monotonic() + IDLE_SETTLE_SECONDS)
                _, stats_body = server.get("/stats")
                results[server.name] = Result(
                    server,
                    loads[server.name],
                    started,
                    seconds,
                    befores[server.name],
                    after_idle,
                    json.loads(stats_body),
                )
            for result in results.values():
                print("\n" + _summary(result, ledger.rotations, fetches))
            validators = sum(len(result.before.pids) for result in results.values()) - 1  # not the arbiter
            yield Soak(results, ledger.rotations, fetches, validators, seconds, background_errors)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            for server in servers:
                server.stop()


def _idle_socket_bound(before: Sample) -> int:
    """Socket fds a server may hold once its clients are gone: what it held at start (at least
    the listener and a readiness-probe connection per process: the start-up sample can come
    before a worker holds both), one JWKS connection per process, and the slack."""
    return max(before.sockets, 2 * len(before.pids)) + len(before.pids) + SOCKET_SLACK


def _settled(server: Server, before: Sample, deadline: float) -> Sample:
    """The server's sample once its sockets are down to the idle bound, or the last one at ``deadline``."""
    bound = _idle_socket_bound(before)
    sample = server.sample()
    while sample.sockets > bound and time.monotonic() < deadline:
        time.sleep(0.2)
        sample = server.sample()
    return sample


SERVERS = ["uvicorn (ASGI, JwtAsgiMiddleware)", "gunicorn (WSGI gthread, JwtWsgiMiddleware)"]


@pytest.fixture(params=SERVERS, ids=["uvicorn", "gunicorn"])
def result(request: pytest.FixtureRequest, soak: Soak) -> Result:
    return soak.results[request.param]


def test_keys_rotated_and_fetches_stayed_bounded(soak: Soak) -> None:
    assert soak.background_errors == []
    assert soak.rotations >= int(SOAK_SECONDS / ROTATE_EVERY) // 2, soak.rotations
    # Any fetch restarts the TTL, and unknown kids fetch at most once per cool-down, so a
    # validator fetches at most once per TTL plus once per cool-down, whatever the flood
    # of unknown kids (a fifth of all requests here); plus the first fetch and slack.
    per_validator = soak.seconds * (1000 / TTL_MS + 1 / COOLDOWN) + 3
    assert 0 < soak.jwks_fetches <= soak.validators * per_validator, (soak.jwks_fetches, soak.validators)


def test_every_request_gets_its_expected_status(result: Result) -> None:
    load = result.load
    assert load.requests > 0
    assert not load.mismatches, "\n".join(load.mismatches) + "\n" + result.server.log_tail()
    for category in WEIGHTS:
        assert sum(n for (c, _), n in load.counts.items() if c == category) > 0, f"no {category} request was sent"


def test_no_5xx_no_connection_errors_no_echo(result: Result) -> None:
    load = result.load
    server_errors = {key: n for key, n in load.counts.items() if key[1] >= 500}
    assert server_errors == {}, server_errors  # the designed 503 needs the JWKS down: it is up
    assert load.errors == [], load.errors[:10]
    assert load.leaks == 0


def test_rss_does_not_grow_after_warm_up(result: Result) -> None:
    samples = result.post_warm_up()
    assert len(samples) >= 8, "too few samples after warm-up: raise WRISTBAND_MW_SOAK_SECONDS"
    first, last = _quarters(samples)
    growth_mb = (statistics.median(s.rss_kb for s in last) - statistics.median(s.rss_kb for s in first)) / 1024
    assert growth_mb < RSS_GROWTH_LIMIT_MB, f"RSS grew {growth_mb:.1f} MB after warm-up"


def test_no_leaked_threads_or_sockets(result: Result) -> None:
    samples = result.post_warm_up()
    first, last = _quarters(samples)
    assert {s.pids for s in result.server.samples} == {result.before.pids}, "a server process died or was replaced"
    assert max(s.threads for s in last) <= max(s.threads for s in first) + THREAD_SLACK
    assert max(s.sockets for s in last) <= max(s.sockets for s in first) + SOCKET_SLACK
    # Once the clients are gone, what is left is the listener and the JWKS connections.
    assert result.after_idle.sockets <= _idle_socket_bound(result.before)
    assert result.after_idle.threads <= max(s.threads for s in first) + THREAD_SLACK
