"""Peer: aioauth's ``AuthorizationServer`` with a Redis-backed storage, adapted to Starlette.

aioauth is asynchronous throughout: the adapter only converts a Starlette request into an
``aioauth.requests.Request`` and the ``aioauth.responses.Response`` back. Its storage keeps one JSON record
per access token and per refresh token (aioauth mints both on every grant), written together in one
pipeline, and authorization codes with their PKCE challenge. Clients live in application memory, as they
do for our server.

Skipped: a protected route. aioauth ships no resource-server component, so a bearer check would measure
code written here rather than aioauth.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, fields

import redis.asyncio as aioredis
from aioauth.collections import HTTPHeaderDict
from aioauth.config import Settings
from aioauth.models import AuthorizationCode, Client, Token
from aioauth.requests import Post, Query
from aioauth.requests import Request as OAuthRequest
from aioauth.responses import Response as OAuthResponse
from aioauth.server import AuthorizationServer
from aioauth.storage import BaseStorage
from aioauth.utils import generate_token
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .common import (
    ACCESS_LIFETIME,
    CODE_LIFETIME,
    REDIRECT_URI,
    REFRESH_LIFETIME,
    SCOPE,
    BenchConfig,
    closing_lifespan,
    code_exchange_params,
    pkce_pair,
    seed_route,
    with_closer,
)

_POST_FIELDS = frozenset(f.name for f in fields(Post))
_SETTINGS = Settings(
    TOKEN_EXPIRES_IN=ACCESS_LIFETIME,
    REFRESH_TOKEN_EXPIRES_IN=REFRESH_LIFETIME,
    AUTHORIZATION_CODE_EXPIRES_IN=CODE_LIFETIME,
    INSECURE_TRANSPORT=True,  # plain http on loopback
)


class RedisStorage(BaseStorage):
    """aioauth storage: tokens and codes in Redis, the one benchmark client in memory."""

    def __init__(self, redis: aioredis.Redis, clients: dict[str, Client], prefix: str) -> None:
        self.redis = redis
        self.clients = clients
        self.prefix = prefix

    def _access(self, token: str) -> str:
        return f"{self.prefix}:at:{token}"

    def _refresh(self, token: str) -> str:
        return f"{self.prefix}:rt:{token}"

    def code_key(self, code: str) -> str:
        return f"{self.prefix}:code:{code}"

    async def get_client(
        self, *, request: OAuthRequest, client_id: str, client_secret: str | None = None
    ) -> Client | None:
        client = self.clients.get(client_id)
        if client is None:
            return None
        if client_secret is not None and not secrets.compare_digest(client_secret, client.client_secret):
            return None
        return client

    async def create_token(
        self,
        *,
        request: OAuthRequest,
        client_id: str,
        scope: str,
        access_token: str,
        refresh_token: str | None = None,
    ) -> Token:
        token = Token(
            access_token=access_token,
            refresh_token=refresh_token,
            scope=scope,
            issued_at=int(time.time()),
            expires_in=request.settings.TOKEN_EXPIRES_IN,
            refresh_token_expires_in=request.settings.REFRESH_TOKEN_EXPIRES_IN,
            client_id=client_id,
        )
        record = json.dumps(asdict(token))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self._access(access_token), record, ex=token.expires_in)
            if refresh_token:
                pipe.set(self._refresh(refresh_token), record, ex=token.refresh_token_expires_in)
            await pipe.execute()
        return token

    async def get_token(
        self,
        *,
        request: OAuthRequest,
        client_id: str,
        token_type: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
    ) -> Token | None:
        if access_token is not None:
            raw = await self.redis.get(self._access(access_token))
        elif refresh_token is not None:
            raw = await self.redis.get(self._refresh(refresh_token))
        else:
            return None
        if raw is None:
            return None
        token = Token(**json.loads(raw))
        return token if token.client_id == client_id else None

    async def revoke_token(
        self,
        *,
        request: OAuthRequest,
        client_id: str,
        refresh_token: str | None = None,
        token_type: str | None = None,
        access_token: str | None = None,
    ) -> None:
        names = [self._access(access_token)] if access_token else []
        if refresh_token:
            names.append(self._refresh(refresh_token))
        if names:
            await self.redis.delete(*names)

    async def get_authorization_code(
        self, *, request: OAuthRequest, client_id: str, code: str
    ) -> AuthorizationCode | None:
        raw = await self.redis.get(self.code_key(code))
        if raw is None:
            return None
        stored = AuthorizationCode(**json.loads(raw))
        return stored if stored.client_id == client_id else None

    async def delete_authorization_code(self, *, request: OAuthRequest, client_id: str, code: str) -> None:
        await self.redis.delete(self.code_key(code))


def _to_oauth(request: Request, form: dict[str, str]) -> OAuthRequest:
    post = Post(**{k: v for k, v in form.items() if k in _POST_FIELDS})  # type: ignore[arg-type]
    return OAuthRequest(
        method=request.method,  # type: ignore[arg-type]
        query=Query(),
        post=post,
        headers=HTTPHeaderDict(dict(request.headers)),  # type: ignore[no-untyped-call]
        url=str(request.url),
        settings=_SETTINGS,
    )


def _to_starlette(resp: OAuthResponse) -> Response:
    body = json.dumps(resp.content).encode() if resp.content else b""
    return Response(body, status_code=int(resp.status_code), headers=dict(resp.headers))


def create_app(config: BenchConfig | None = None) -> Starlette:
    config = config or BenchConfig.from_env()
    redis = aioredis.Redis.from_url(config.redis_url)
    client = Client(
        client_id=config.client_id,
        client_secret=config.client_secret,
        grant_types=["client_credentials", "authorization_code", "refresh_token"],
        response_types=["code"],
        redirect_uris=[REDIRECT_URI],
        scope=SCOPE,
    )
    storage = RedisStorage(redis, {client.client_id: client}, config.key_prefix("aioauth"))
    server = AuthorizationServer(storage)

    async def form_of(request: Request) -> dict[str, str]:
        return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}

    async def token(request: Request) -> Response:
        oauth_req = _to_oauth(request, await form_of(request))
        return _to_starlette(await server.create_token_response(oauth_req))

    async def introspect(request: Request) -> Response:
        oauth_req = _to_oauth(request, await form_of(request))
        return _to_starlette(await server.create_token_introspection_response(oauth_req))

    async def seed_codes(n: int) -> list[dict[str, str]]:
        """Write ``n`` codes in the layout this storage reads, as aioauth's /authorize would have."""
        params = []
        now = int(time.time())
        async with redis.pipeline(transaction=False) as pipe:
            for _ in range(n):
                code = generate_token(42)
                verifier, challenge = pkce_pair()
                record = AuthorizationCode(
                    code=code,
                    client_id=client.client_id,
                    redirect_uri=REDIRECT_URI,
                    response_type="code",
                    scope=SCOPE,
                    auth_time=now,
                    expires_in=CODE_LIFETIME,
                    code_challenge=challenge,
                    code_challenge_method="S256",
                )
                pipe.set(storage.code_key(code), json.dumps(asdict(record)), ex=CODE_LIFETIME)
                params.append(code_exchange_params(code, verifier))
            await pipe.execute()
        return params

    async def close() -> None:
        await redis.aclose()

    routes = [
        Route("/token", token, methods=["POST"]),
        Route("/introspect", introspect, methods=["POST"]),
        seed_route(seed_codes, "/token", config),
    ]
    return with_closer(Starlette(routes=routes, lifespan=closing_lifespan(close)), close)
