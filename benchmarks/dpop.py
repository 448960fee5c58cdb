"""What DPoP (RFC 9449) costs: ``python -m benchmarks.dpop``.

Our server with its defaults on a private Redis and the ``dpop`` feature on, built in this process with a host
route ``GET /api/me`` (a constant JSON answer) behind ``BearerTokenMiddleware`` validating from memory, as the
README mounts it. Two tables, each request called through ASGI (no sockets) in interleaved rounds; each sample is
this process's CPU time (``time.process_time``, so Redis's own work is left out) over ``--requests`` requests, and
the figures are medians over ``--rounds`` (and each request's wall time in-process, for the route's p99):

- the protected route with a bearer token, against the same route with a DPoP-bound token and a fresh proof
  (ES256, then RS256), with replays remembered per worker (the default) and in the store (one round trip);
- client_credentials issuance without a proof, against issuance with an ES256 proof.

Every proof is signed before its round starts (the client signs, not the server) and used once, as the server
demands. The ratio is the plain row's CPU per request over the row's, so 1.0 means "as cheap as without DPoP".

``--http`` measures the protected route as the ratios table of ``python -m benchmarks`` does: the same app under
uvicorn (1 worker, pinned to CPU 0), ``wrk -t1 -c32`` pinned to CPU 1 with Redis, interleaved rounds of
``--seconds``, medians of req/s and wrk's p99. Each DPoP request sends the next of a list of proofs signed before
the round (two processes sign them), each used once; a round that ran out of proofs, or got any answer but 200,
is an error, not a figure. Beside every sample the run reads what other work used of the machine
(``benchmarks/machine.py``) and says when a sample was disturbed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from asgi_oauth import (
    BearerTokenMiddleware,
    Client,
    LocalValidator,
    OAuthServer,
    OAuthSettings,
    RedisStore,
    new_client,
    register_client,
)
from asgi_oauth import protect as protect_rule
from asgi_oauth.dpop.proof import access_token_hash
from asgi_oauth.dpop.resource import ResourceDPoP
from asgi_oauth.features.dpop import DPoP
from asgi_oauth.validation_cache import CacheOptions

from . import machine
from .asgi_driver import build_scope, call_scope
from .assertions import signing_key
from .loadgen import LoadResult, run_wrk
from .messages import Req, basic_auth, form_post
from .micro import on_private_redis, rounds_parser, table
from .processes import UvicornServer, taskset

ISSUER = "http://127.0.0.1:8000/oauth"
KEY_PREFIX = "oauth"
TOKEN_URL = f"{ISSUER}/token"
API_URL = "http://127.0.0.1:8000/api/me"
BEARER = "bearer token"
PLAIN = "client_credentials, no proof"


def _proof(alg: str, private: Any, method: str, url: str, token: str | None = None) -> str:
    algorithm = RSAAlgorithm if alg == "RS256" else ECAlgorithm
    claims: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url, "iat": int(time.time())}
    if token is not None:
        claims["ath"] = access_token_hash(token)
    header = {"typ": "dpop+jwt", "jwk": algorithm.to_jwk(private.public_key(), as_dict=True)}
    return jwt.encode(claims, private, algorithm=alg, headers=header)


async def me(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def _client() -> tuple[Client, str]:
    """The benchmark's client_credentials client, with a generated secret (checked with one keyed hash, as
    users' generated secrets are; a chosen secret is stored with scrypt, which would be what issuance times)."""
    client, secret = new_client(name="m2m", client_id="m2m", grant_types=["client_credentials"], scope="read")
    assert secret is not None
    return client, secret


def _server(redis_url: str, issuer: str, clients: Sequence[Client] = ()) -> tuple[OAuthServer, RedisStore, DPoP]:
    """Our server with its defaults on Redis and the ``dpop`` feature, knowing ``clients`` (and those stored)."""
    settings = OAuthSettings(issuer=issuer, secret_key=("bench-dpop-signing-key-0123456789abcdef",))
    store = RedisStore.from_url(redis_url, key_prefix=KEY_PREFIX, cache=CacheOptions())
    feature = DPoP()
    return OAuthServer(settings, store=store, clients=list(clients), features=[feature]), store, feature


def _app(server: OAuthServer, store: RedisStore, dpop: ResourceDPoP) -> Starlette:
    app = Starlette(routes=[Route("/api/me", me), Mount("/oauth", app=server)])
    app.add_middleware(BearerTokenMiddleware, validator=LocalValidator(store), rules=[protect_rule("/api")], dpop=dpop)
    return app


def http_app() -> Starlette:
    """The app ``--http`` serves (``uvicorn benchmarks.dpop:http_app --factory``), from ``BENCH_REDIS_URL`` (where
    the client is registered) and the ``PORT`` it listens on (the issuer names it, as proofs at /token must)."""
    issuer = f"http://127.0.0.1:{os.environ['PORT']}/oauth"
    server, store, feature = _server(os.environ["BENCH_REDIS_URL"], issuer)
    return _app(server, store, feature.resource())


async def measure(
    redis_url: str, rounds: int, requests: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list[float]]]:
    """CPU per request on the protected route, its p99 latency, and CPU per issuance, by row (a value per round)."""
    client, secret = _client()
    server, store, feature = _server(redis_url, ISSUER, [client])
    auth = basic_auth("m2m", secret)
    in_memory = _app(server, store, feature.resource())
    in_store = _app(server, store, feature.resource(replay="store", claim_once=_claim(store)))
    keys = {alg: signing_key(alg) for alg in ("ES256", "RS256")}
    issue = form_post("/oauth/token", {"grant_type": "client_credentials", "scope": "read"}, auth=auth)

    async def token(alg: str | None) -> str:
        req = issue if alg is None else _with(issue, ("dpop", _proof(alg, keys[alg], "POST", TOKEN_URL)))
        answer = await call_scope(in_memory, build_scope(req), req.body)  # type: ignore[arg-type]
        if answer.status != 200:
            raise RuntimeError(f"token: {answer.short()}")
        value: str = answer.json()["access_token"]
        return value

    bearer, bound = await token(None), {alg: await token(alg) for alg in keys}

    def protected(name: str, n: int) -> tuple[Starlette, list[Req]]:
        if name == BEARER:
            return in_memory, [Req("GET", "/api/me", (("authorization", f"Bearer {bearer}"),))] * n
        alg = "RS256" if "RS256" in name else "ES256"
        app = in_store if "store" in name else in_memory
        return app, [
            Req(
                "GET",
                "/api/me",
                (("authorization", f"DPoP {bound[alg]}"), ("dpop", _proof(alg, keys[alg], "GET", API_URL, bound[alg]))),
            )
            for _ in range(n)
        ]

    def issuing(name: str, n: int) -> tuple[Starlette, list[Req]]:
        if name == PLAIN:
            return in_memory, [issue] * n
        return in_memory, [_with(issue, ("dpop", _proof("ES256", keys["ES256"], "POST", TOKEN_URL))) for _ in range(n)]

    async def sample(work: Callable[[str, int], tuple[Starlette, list[Req]]], name: str, n: int) -> tuple[float, float]:
        """CPU µs per request over the sample, and its requests' p99 latency (µs, wall clock, in-process)."""
        app, reqs = work(name, n)  # signed before the clock starts
        scopes = [(build_scope(req), req.body) for req in reqs]
        latencies: list[float] = []
        cpu0 = time.process_time()
        for scope, body in scopes:
            start = time.perf_counter()
            answer = await call_scope(app, scope, body)  # type: ignore[arg-type]
            latencies.append(time.perf_counter() - start)
            if answer.status != 200:
                raise RuntimeError(f"{name}: non-200 answer in the timed loop: {answer.short()}")
        cpu = (time.process_time() - cpu0) / n * 1e6
        return cpu, sorted(latencies)[max(0, round(0.99 * n) - 1)] * 1e6

    tables = {
        protected: [BEARER, "DPoP ES256 proof", "DPoP RS256 proof", "DPoP ES256 proof, replays kept in the store"],
        issuing: [PLAIN, "client_credentials, ES256 proof"],
    }
    try:
        results: list[dict[str, list[float]]] = []
        for work, names in tables.items():
            for name in names:  # warm: imports, connections, the validation cache, the parsed keys
                await sample(work, name, min(requests, 300))
            cpu: dict[str, list[float]] = {name: [] for name in names}
            p99: dict[str, list[float]] = {name: [] for name in names}
            for _ in range(rounds):
                for name in names:
                    spent, tail = await sample(work, name, requests)
                    cpu[name].append(spent)
                    p99[name].append(tail)
            results += [cpu, p99]
        return results[0], results[1], results[2]
    finally:
        await store.aclose()


def _with(req: Req, header: tuple[str, str]) -> Req:
    return Req(req.method, req.path, (*req.headers, header), req.body)


def _claim(store: RedisStore) -> Callable[[str, float], Any]:
    async def claim(name: str, expires_at: float) -> bool:
        return await store.claim_once(name, expires_at=expires_at)

    return claim


#: The rows of ``--http``, the first being the basis of the ratios.
HTTP_ROWS = {BEARER: None, "DPoP ES256 proof": "ES256", "DPoP RS256 proof": "RS256"}


def _signed(alg: str, pem: bytes, url: str, token: str, n: int) -> list[str]:
    """``n`` proofs for GET ``url`` with ``token``, signed with the key in ``pem`` (a child process's share)."""
    key = serialization.load_pem_private_key(pem, password=None)
    return [_proof(alg, key, "GET", url, token) for _ in range(n)]


def _proofs(pool: ProcessPoolExecutor, alg: str, key: Any, url: str, token: str, n: int) -> list[str]:
    """``n`` fresh proofs, signed by the pool's two processes (an RS256 signature takes about a millisecond)."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    half = n // 2 + 1
    parts = pool.map(_signed, [alg] * 2, [pem] * 2, [url] * 2, [token] * 2, [half, half])
    return [proof for part in parts for proof in part]


def measure_http(redis_url: str, rounds: int, seconds: float, connections: int) -> dict[str, list[dict[str, Any]]]:
    """Each row's wrk samples (``LoadResult`` as a dict, with the machine's load beside it), round by round."""
    if taskset() is None:
        raise SystemExit(
            "--http pins the server and wrk to a CPU each, with taskset,"
            " which is not on PATH (apt-get install util-linux)"
        )
    client, secret = _client()
    asyncio.run(_register(redis_url, client))
    env = {"BENCH_REDIS_URL": redis_url}
    server = UvicornServer("dpop", "benchmarks.dpop:http_app", env, cpus="0")
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in HTTP_ROWS}
    try:
        server.start().wait_ready()
        api = f"{server.base_url}/api/me"
        keys = {alg: signing_key(alg) for alg in HTTP_ROWS.values() if alg is not None}
        tokens = {name: _http_token(server.base_url, secret, alg, alg and keys[alg]) for name, alg in HTTP_ROWS.items()}
        with ProcessPoolExecutor(2) as pool:
            for _ in range(rounds):
                for name, alg in HTTP_ROWS.items():
                    scheme = "Bearer" if alg is None else "DPoP"
                    req = Req("GET", "/api/me", (("authorization", f"{scheme} {tokens[name]}"),))
                    proofs = None
                    if alg is not None:  # enough for the route at the bearer token's rate, never more than needed
                        rate = max(s["rps"] for s in samples[BEARER])
                        proofs = _proofs(pool, alg, keys[alg], api, tokens[name], int(rate * seconds * 1.1) + 500)
                    seen: dict[str, Any] = {}
                    with machine.beside(seen):
                        result = run_wrk(
                            server.base_url,
                            req,
                            None if proofs is None else [p.encode() for p in proofs],
                            seconds,
                            connections,
                            cpus="1",
                            header="DPoP",
                        )
                    _check(name, result)
                    samples[name].append({**result.as_dict(), **seen})
    finally:
        server.stop()
    return samples


async def _register(redis_url: str, client: Client) -> None:
    store = RedisStore.from_url(redis_url, key_prefix=KEY_PREFIX)
    try:
        await register_client(store, client)
    finally:
        await store.aclose()


def _http_token(base_url: str, secret: str, alg: str | None, key: Any = None) -> str:
    """A client_credentials token from the served app, bound to ``key`` (of ``alg``) when one is given."""
    headers = {} if alg is None else {"DPoP": _proof(alg, key, "POST", f"{base_url}/oauth/token")}
    answer = httpx.post(
        f"{base_url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "read"},
        auth=("m2m", secret),
        headers=headers,
        timeout=10,
    )
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token


def _check(name: str, result: LoadResult) -> None:
    if result.exhausted or result.non_2xx or result.socket_errors:
        raise RuntimeError(
            f"{name}: {result.non_2xx} answers not 2xx, {result.socket_errors} socket errors"
            + (", ran out of proofs" if result.exhausted else "")
        )


def http_table(samples: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Medians of req/s and p99, each as a share of the bearer token's, and the samples disturbed by other work."""
    basis = statistics.median(s["rps"] for s in samples[BEARER])
    basis_p99 = statistics.median(s["p99_ms"] for s in samples[BEARER])
    lines = [
        "| GET /api/me over HTTP with | req/s (median) | min-max | x bearer token | p99 ms | x bearer p99 "
        "| disturbed |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, runs in samples.items():
        rps = [s["rps"] for s in runs]
        p99 = statistics.median(s["p99_ms"] for s in runs)
        disturbed = sum(1 for s in runs if machine.disturbed(s))
        lines.append(
            f"| {name} | {statistics.median(rps):,.0f} | {min(rps):,.0f}-{max(rps):,.0f} "
            f"| {statistics.median(rps) / basis:.2f} | {p99:.2f} | {p99 / basis_p99:.2f} | {disturbed} of {len(runs)} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = rounds_parser("benchmarks.dpop", __doc__ or "")
    parser.add_argument("--http", action="store_true", help="over HTTP (uvicorn and wrk, pinned) instead of in-process")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per HTTP sample (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    args = parser.parse_args(argv)
    if args.http:

        async def over_http(url: str) -> dict[str, list[dict[str, Any]]]:
            return await asyncio.to_thread(measure_http, url, args.rounds, args.seconds, args.connections)

        print("\n".join(http_table(on_private_redis(over_http))))
        return 0
    route, tails, issuance = on_private_redis(lambda url: measure(url, args.rounds, args.requests))
    print("\n".join(table(route, base=BEARER, what="GET /api/me from memory with")))
    print()
    print(f"| GET /api/me from memory with | p99 µs (median of rounds) | x {BEARER} p99 |")
    print("|---|---:|---:|")
    basis = statistics.median(tails[BEARER])
    for name, values in tails.items():
        print(f"| {name} | {statistics.median(values):.1f} | {statistics.median(values) / basis:.2f} |")
    print()
    print("\n".join(table(issuance, base=PLAIN, what="a token issued by")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
