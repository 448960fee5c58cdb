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
"""

from __future__ import annotations

import secrets
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from asgi_oauth import BearerTokenMiddleware, LocalValidator, OAuthServer, OAuthSettings, RedisStore, new_client
from asgi_oauth import protect as protect_rule
from asgi_oauth.dpop.proof import access_token_hash
from asgi_oauth.dpop.resource import ResourceDPoP
from asgi_oauth.features.dpop import DPoP
from asgi_oauth.validation_cache import CacheOptions

from .asgi_driver import build_scope, call_scope
from .assertions import signing_key
from .messages import Req, basic_auth, form_post
from .micro import on_private_redis, rounds_parser, table

ISSUER = "http://127.0.0.1:8000/oauth"
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


def _app(server: OAuthServer, store: RedisStore, dpop: ResourceDPoP) -> Starlette:
    app = Starlette(routes=[Route("/api/me", me), Mount("/oauth", app=server)])
    app.add_middleware(BearerTokenMiddleware, validator=LocalValidator(store), rules=[protect_rule("/api")], dpop=dpop)
    return app


async def measure(
    redis_url: str, rounds: int, requests: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list[float]]]:
    """CPU per request on the protected route, its p99 latency, and CPU per issuance, by row (a value per round)."""
    settings = OAuthSettings(issuer=ISSUER, secret_key=("bench-dpop-signing-key-0123456789abcdef",))
    store = RedisStore.from_url(redis_url, key_prefix="oauth", cache=CacheOptions())
    client, secret = new_client(name="m2m", client_id="m2m", grant_types=["client_credentials"], scope="read")
    assert secret is not None
    auth = basic_auth("m2m", secret)
    feature = DPoP()
    server = OAuthServer(settings, store=store, clients=[client], features=[feature])
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


def main(argv: list[str] | None = None) -> int:
    args = rounds_parser("benchmarks.dpop", __doc__ or "").parse_args(argv)
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
