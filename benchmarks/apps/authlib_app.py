"""Peer: Authlib's generic ``rfc6749.AuthorizationServer`` and ``ResourceProtector`` adapted to Starlette.

Authlib's server core is synchronous (its hooks ``query_client``, ``save_token``, ``query_token``... return
values, they are not awaited), while the benchmark's Redis client is ``redis.asyncio`` like every other app.
The adapter therefore works in three steps per request, which keeps the event loop free and every Redis
access asynchronous:

1. prefetch, asynchronously, the one record the request names (the code, the refresh token, the token to
   introspect or validate) into a per-request context;
2. run Authlib's synchronous endpoint, whose storage hooks read that context and queue their writes;
3. flush the queued writes in one pipeline before answering.

Tokens are stored as Authlib users typically do: one JSON record per access token and per refresh token,
keyed by the token value, with the library's own token generator (``authlib.common.security``) and its
default Bearer token generator. Clients live in application memory, as they do for our server.
Authorization codes carry a PKCE S256 challenge checked by Authlib's ``CodeChallenge`` extension, and
refresh tokens rotate (``INCLUDE_NEW_REFRESH_TOKEN``), so the work matches our server's.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any

import redis.asyncio as aioredis
from authlib.common.security import generate_token
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    OAuth2Request,
    ResourceProtector,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .common import (
    ACCESS_LIFETIME,
    CLIENT_NAME,
    CODE_LIFETIME,
    REDIRECT_URI,
    REFRESH_LIFETIME,
    SCOPE,
    USER,
    BenchConfig,
    closing_lifespan,
    code_exchange_params,
    pkce_pair,
    seed_route,
    with_closer,
)

# Authlib refuses plain-http request URLs unless told this is a local deployment.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")


@dataclass(slots=True)
class _RequestIO:
    """Redis values prefetched for this request, and the writes its hooks queued."""

    reads: dict[str, bytes | str | None] = field(default_factory=dict)
    sets: list[tuple[str, str, int]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)


_io: ContextVar[_RequestIO] = ContextVar("authlib_bench_io")


@dataclass(slots=True)
class BenchClient(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    scope: str
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    name: str = CLIENT_NAME

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return self.scope
        allowed = set(self.scope.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class StoredToken(dict[str, Any], TokenMixin):  # type: ignore[misc]
    """An access or refresh token record as kept in Redis (JSON object)."""

    def check_client(self, client: BenchClient) -> bool:
        return bool(self["client_id"] == client.client_id)

    def get_scope(self) -> str:
        return str(self["scope"])

    def get_expires_in(self) -> int:
        return int(self["expires_in"])

    def is_expired(self) -> bool:
        return bool(self["issued_at"] + self["expires_in"] < time.time())

    def is_revoked(self) -> bool:
        return False

    def get_user(self) -> str | None:
        return self.get("user")


@dataclass(slots=True)
class StoredCode:
    """An authorization code record; attribute names follow Authlib's mixin and PKCE extension."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class _StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, method: str, url: str, headers: Any, form: dict[str, str]) -> None:
        super().__init__(method=method, uri=url, headers=headers)
        self.payload = BasicOAuth2Payload(form)
        self._form = form

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def access(self, token: str) -> str:
        return f"{self.prefix}:at:{token}"

    def refresh(self, token: str) -> str:
        return f"{self.prefix}:rt:{token}"

    def code(self, code: str) -> str:
        return f"{self.prefix}:code:{code}"


def _token_from(raw: bytes | str | None) -> StoredToken | None:
    return None if raw is None else StoredToken(json.loads(raw))


class _Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, clients: dict[str, BenchClient], keys: _Keys) -> None:
        super().__init__(scopes_supported=SCOPE.split())
        self.clients = clients
        self.keys = keys
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: generate_token(42),
                refresh_token_generator=lambda **_: generate_token(48),
                expires_generator=lambda client, grant_type: ACCESS_LIFETIME,
            ),
        )

    def query_client(self, client_id: str) -> BenchClient | None:
        return self.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        record = {
            "client_id": request.client.client_id,
            "scope": token.get("scope", ""),
            "user": request.user,
            "issued_at": int(time.time()),
            "expires_in": token["expires_in"],
            "access_token": token["access_token"],
        }
        io = _io.get()
        io.sets.append((self.keys.access(token["access_token"]), json.dumps(record), ACCESS_LIFETIME))
        if "refresh_token" in token:
            refresh = dict(record, expires_in=REFRESH_LIFETIME, refresh_token=token["refresh_token"])
            io.sets.append((self.keys.refresh(token["refresh_token"]), json.dumps(refresh), REFRESH_LIFETIME))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal system in this integration."""

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        content = json.dumps(body) if isinstance(body, dict) else body
        return Response(content, status_code=status, headers=dict(headers))

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request  # the Starlette handler builds it, because the form must be read asynchronously


class _AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    def query_authorization_code(self, code: str, client: BenchClient) -> StoredCode | None:
        raw = _io.get().reads.get(self.server.keys.code(code))
        if raw is None:
            return None
        stored = StoredCode(**json.loads(raw))
        if stored.client_id != client.client_id or stored.expires_at < time.time():
            return None
        return stored

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        _io.get().deletes.append(self.server.keys.code(authorization_code.code))

    def authenticate_user(self, authorization_code: StoredCode) -> str:
        return authorization_code.user

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        raise NotImplementedError("the benchmark seeds codes directly; /authorize is not served")


class _RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> StoredToken | None:
        token = _token_from(_io.get().reads.get(self.server.keys.refresh(refresh_token)))
        return None if token is None or token.is_expired() else token

    def authenticate_user(self, refresh_token: StoredToken) -> str | None:
        return refresh_token.get_user() or refresh_token["client_id"]

    def revoke_old_credential(self, refresh_token: StoredToken) -> None:
        _io.get().deletes.append(self.server.keys.refresh(refresh_token["refresh_token"]))


class _Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    def query_token(self, token_string: str, token_type_hint: str | None) -> StoredToken | None:
        reads = _io.get().reads
        keys: _Keys = self.server.keys
        if token_type_hint == "refresh_token":
            return _token_from(reads.get(keys.refresh(token_string)))
        return _token_from(reads.get(keys.access(token_string))) or _token_from(reads.get(keys.refresh(token_string)))

    def check_permission(self, token: StoredToken, client: BenchClient, request: OAuth2Request) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: StoredToken) -> dict[str, Any]:
        return {
            "active": True,
            "client_id": token["client_id"],
            "token_type": "Bearer",
            "scope": token.get_scope(),
            "sub": token.get_user(),
            "exp": token["issued_at"] + token["expires_in"],
            "iat": token["issued_at"],
        }


class _Validator(BearerTokenValidator):  # type: ignore[misc]
    def __init__(self, keys: _Keys) -> None:
        super().__init__(realm="bench")
        self.keys = keys

    def authenticate_token(self, token_string: str) -> StoredToken | None:
        return _token_from(_io.get().reads.get(self.keys.access(token_string)))


def create_app(config: BenchConfig | None = None) -> Starlette:
    config = config or BenchConfig.from_env()
    redis = aioredis.Redis.from_url(config.redis_url)
    keys = _Keys(config.key_prefix("authlib"))
    client = BenchClient(
        client_id=config.client_id,
        client_secret=config.client_secret,
        scope=SCOPE,
        grant_types=("client_credentials", "authorization_code", "refresh_token"),
        redirect_uris=(REDIRECT_URI,),
    )
    server = _Server({client.client_id: client}, keys)
    server.register_grant(grants.ClientCredentialsGrant)
    server.register_grant(_AuthorizationCodeGrant, [CodeChallenge(required=True)])
    server.register_grant(_RefreshTokenGrant)
    server.register_endpoint(_Introspection)
    protector = ResourceProtector()
    protector.register_token_validator(_Validator(keys))

    async def prefetch(io: _RequestIO, names: list[str]) -> None:
        if names:
            io.reads.update(zip(names, await redis.mget(names), strict=True))

    async def flush(io: _RequestIO) -> None:
        if not io.sets and not io.deletes:
            return
        async with redis.pipeline(transaction=False) as pipe:
            for key, value, ttl in io.sets:
                pipe.set(key, value, ex=ttl)
            if io.deletes:
                pipe.delete(*io.deletes)
            await pipe.execute()

    async def oauth_request(request: Request) -> tuple[_StarletteOAuth2Request, _RequestIO]:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        io = _RequestIO()
        _io.set(io)
        return _StarletteOAuth2Request(request.method, str(request.url), request.headers, form), io

    async def token(request: Request) -> Response:
        oauth_req, io = await oauth_request(request)
        form = oauth_req.form
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code" and "code" in form:
            await prefetch(io, [keys.code(form["code"])])
        elif grant_type == "refresh_token" and "refresh_token" in form:
            await prefetch(io, [keys.refresh(form["refresh_token"])])
        response: Response = server.create_token_response(oauth_req)
        if response.status_code == 200:
            await flush(io)
        return response

    async def introspect(request: Request) -> Response:
        oauth_req, io = await oauth_request(request)
        value = oauth_req.form.get("token")
        if value:
            names = [keys.refresh(value)]
            if oauth_req.form.get("token_type_hint") != "refresh_token":
                names.insert(0, keys.access(value))
            await prefetch(io, names)
        response: Response = server.create_endpoint_response("introspection", oauth_req)
        return response

    async def me(request: Request) -> Response:
        io = _RequestIO()
        _io.set(io)
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value:
            await prefetch(io, [keys.access(value)])
        try:
            tok = protector.validate_request(scopes=["read"], request=request)
        except OAuth2Error as error:
            status, body, headers = error()
            return JSONResponse(dict(body), status_code=status, headers=dict(headers))
        return JSONResponse({"sub": tok.get_user(), "client_id": tok["client_id"], "scope": tok.get_scope()})

    async def seed_codes(n: int) -> list[dict[str, str]]:
        """Write ``n`` codes in the layout this app reads, as its /authorize would have."""
        params = []
        async with redis.pipeline(transaction=False) as pipe:
            for _ in range(n):
                code = generate_token(48)
                verifier, challenge = pkce_pair()
                record = StoredCode(
                    code, client.client_id, REDIRECT_URI, SCOPE, USER, challenge, "S256", time.time() + CODE_LIFETIME
                )
                pipe.set(keys.code(code), json.dumps(asdict(record)), ex=CODE_LIFETIME)
                params.append(code_exchange_params(code, verifier))
            await pipe.execute()
        return params

    async def close() -> None:
        await redis.aclose()

    routes = [
        Route("/token", token, methods=["POST"]),
        Route("/introspect", introspect, methods=["POST"]),
        Route("/api/me", me),
        seed_route(seed_codes, "/token", config),
    ]
    return with_closer(Starlette(routes=routes, lifespan=closing_lifespan(close)), close)
