"""What every benchmark app shares: its configuration, the benchmark client, and the seeding route.

Apps are built by factories that read ``BENCH_*`` environment variables, so the very same factory serves
the in-process run (the runner sets the variables first) and ``uvicorn --factory`` in a subprocess.
Single-use credentials (authorization codes, refresh tokens) must be minted inside the process that holds
the store (the memory store lives in the server process), so each app answers ``POST /_bench/seed``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..asgi_driver import call
from ..messages import basic_auth, form_post

CLIENT_NAME = "bench client"
REDIRECT_URI = "http://127.0.0.1:9999/callback"
SCOPE = "read write"
USER = "alice"
SEED_PATH = "/_bench/seed"
#: Access and refresh lifetimes used by every app, so each stores the same TTLs.
ACCESS_LIFETIME = 3600
REFRESH_LIFETIME = 14 * 86400
CODE_LIFETIME = 600

#: Returns the form parameters of ``n`` ready code exchanges (code, redirect_uri, code_verifier...).
SeedCodes = Callable[[int], Awaitable[list[dict[str, str]]]]


@dataclass(frozen=True, slots=True)
class BenchConfig:
    redis_url: str
    client_id: str
    client_secret: str
    #: Prepended to each app's own key prefix; empty on the run's private Redis.
    prefix: str = ""

    @classmethod
    def from_env(cls) -> BenchConfig:
        try:
            return cls(
                redis_url=os.environ["BENCH_REDIS_URL"],
                client_id=os.environ.get("BENCH_CLIENT_ID", "bench-client"),
                client_secret=os.environ["BENCH_CLIENT_SECRET"],
                prefix=os.environ.get("BENCH_PREFIX", ""),
            )
        except KeyError as exc:
            raise RuntimeError(f"benchmark apps need the environment variable {exc.args[0]}") from None

    def to_env(self) -> dict[str, str]:
        return {
            "BENCH_REDIS_URL": self.redis_url,
            "BENCH_CLIENT_ID": self.client_id,
            "BENCH_CLIENT_SECRET": self.client_secret,
            "BENCH_PREFIX": self.prefix,
        }

    def key_prefix(self, name: str) -> str:
        """Each app's own prefix (ours keeps the product's default, ``oauth``), so apps never share keys."""
        return self.prefix + name

    @property
    def auth(self) -> str:
        return basic_auth(self.client_id, self.client_secret)


def pkce_pair() -> tuple[str, str]:
    """A fresh RFC 7636 ``(code_verifier, S256 code_challenge)``."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def code_exchange_params(code: str, verifier: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }


Closer = Callable[[], Awaitable[None]]


def with_closer(app: Starlette, close: Closer) -> Starlette:
    """Remember how to release the app's pools: the runner calls it in-process, uvicorn via the lifespan."""
    app.state.bench_close = close
    return app


def closing_lifespan(close: Closer) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await close()

    return lifespan


class SeedError(RuntimeError):
    pass


def seed_route(seed_codes: SeedCodes, token_path: str, config: BenchConfig) -> Route:
    """``POST /_bench/seed`` with ``kind=code|refresh&n=N`` answers ``{"bodies": [...]}``: N token-request
    bodies, each usable once. Refresh tokens are obtained through the app's own token endpoint (a real
    code exchange), so they are exactly what a client would hold."""

    async def exchange(request: Request, params: dict[str, str]) -> str:
        resp = await call(request.scope["app"], form_post(token_path, params, auth=config.auth))
        if resp.status != 200:
            raise SeedError(f"code exchange while seeding refresh tokens failed: {resp.short()}")
        token = resp.json().get("refresh_token")
        if not token:
            raise SeedError(f"code exchange while seeding returned no refresh_token: {resp.short()}")
        return urlencode({"grant_type": "refresh_token", "refresh_token": token})

    async def seed(request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode()))
        kind, n = form.get("kind", ""), int(form.get("n", "0"))
        if kind not in ("code", "refresh") or not 0 < n <= 1_000_000:
            return JSONResponse({"error": "kind must be code or refresh, 0 < n <= 1e6"}, status_code=400)
        try:
            params = await seed_codes(n)
            if kind == "code":
                bodies = [urlencode(p) for p in params]
            else:
                bodies = []
                for start in range(0, n, 32):
                    batch = params[start : start + 32]
                    bodies.extend(await asyncio.gather(*(exchange(request, p) for p in batch)))
        except SeedError as exc:
            return JSONResponse({"error": str(exc)}, status_code=500)
        return JSONResponse({"bodies": bodies})

    return Route(SEED_PATH, seed, methods=["POST"])
