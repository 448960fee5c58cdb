"""Redis store: every verb is one round trip, and every multi-key verb one Lua script or MGET.

Key layout (``p`` is the key prefix, ``F`` a token family id used as the Cluster hash tag)::

    p:clients                 hash   client_id -> client JSON
    p:consent:<client>:<sub>  string granted scope, TTL = remembered-consent lifetime
    p:{F}:f                   string family record (current refresh digest first), TTL = refresh expiry
    p:{F}:a:<digest>          string access token record, TTL = token expiry
    p:{F}:c:<digest>          string code record, then "spent"/"replayed", TTL = code expiry / replay window
    p:{F}:s:<digest>          string marker of a rotated-away refresh token, TTL = its former expiry
    p:once:<name>             string marker of a claimed single-use value (consent form nonce)
    p:fail:<key>              sorted set of recent failure times, TTL = the rate-limit window

Records are compact JSON arrays: a live access token costs one key, no sets or indexes.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from importlib.resources import files
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.cluster import RedisCluster

from ..models import AccessToken, AuthorizationCode, Client, CodeReplayed, TokenFamily, TokenLookup
from ..types import Clock
from .base import StoreUnavailable

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    rexc.ConnectionError,
    rexc.TimeoutError,
    rexc.BusyLoadingError,
    rexc.ReadOnlyError,
    rexc.ClusterDownError,
    rexc.TryAgainError,
    rexc.MasterDownError,
    OSError,
    asyncio.TimeoutError,
)


def _lua(name: str) -> str:
    return (files(__package__) / "lua" / f"{name}.lua").read_text("utf-8")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _encode_access(t: AccessToken) -> str:
    row: list[Any] = [t.client_id, t.scope, t.sub, t.iat, round(t.exp * 1000), int(t.in_family)]
    if t.username is not None:
        row.append(t.username)
    return _dumps(row)


def _decode_access(raw: bytes) -> AccessToken:
    row = json.loads(raw)
    return AccessToken(
        client_id=row[0],
        scope=row[1],
        sub=row[2],
        iat=row[3],
        exp=row[4] / 1000,
        in_family=bool(row[5]),
        username=row[6] if len(row) > 6 else None,
    )


def _encode_family(f: TokenFamily) -> str:
    # The refresh digest must stay first and the client id second: the Lua scripts index them.
    return _dumps([f.refresh_digest, f.client_id, f.scope, f.sub, f.iat, round(f.exp * 1000), f.username])


def _decode_family(raw: bytes) -> TokenFamily:
    row = json.loads(raw)
    return TokenFamily(
        refresh_digest=row[0],
        client_id=row[1],
        scope=row[2],
        sub=row[3],
        iat=row[4],
        exp=row[5] / 1000,
        username=row[6],
    )


def _encode_code(c: AuthorizationCode) -> str:
    return _dumps(
        [
            c.client_id,
            c.redirect_uri,
            int(c.redirect_uri_sent),
            c.scope,
            c.sub,
            round(c.exp * 1000),
            c.code_challenge,
            c.code_challenge_method,
            c.username,
        ]
    )


def _decode_code(raw: bytes) -> AuthorizationCode:
    row = json.loads(raw)
    return AuthorizationCode(
        client_id=row[0],
        redirect_uri=row[1],
        redirect_uri_sent=bool(row[2]),
        scope=row[3],
        sub=row[4],
        exp=row[5] / 1000,
        code_challenge=row[6],
        code_challenge_method=row[7],
        username=row[8],
    )


def _encode_client(c: Client) -> str:
    return _dumps(
        {
            "client_id": c.client_id,
            "name": c.name,
            "secret_hash": c.secret_hash,
            "redirect_uris": list(c.redirect_uris),
            "grant_types": list(c.grant_types),
            "scope": c.scope,
            "public": c.public,
            "first_party": c.first_party,
            "token_endpoint_auth_method": c.token_endpoint_auth_method,
            "introspect_any": c.introspect_any,
            "created_at": c.created_at,
        }
    )


def _decode_client(raw: bytes) -> Client:
    data = json.loads(raw)
    data["redirect_uris"] = tuple(data["redirect_uris"])
    data["grant_types"] = tuple(data["grant_types"])
    return Client(**data)


def connect(url: str, *, timeout: float = 2.0) -> aioredis.Redis | RedisCluster:
    """A client for ``url``; ``redis+cluster://`` (or ``rediss+cluster://``) selects Redis Cluster."""
    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if "+cluster://" in url:
        return RedisCluster.from_url(url.replace("+cluster://", "://", 1), **options)
    return aioredis.Redis.from_url(url, health_check_interval=30, **options)


class RedisStore:
    """Store on ``redis.asyncio``. Owns one connection pool; call :meth:`aclose` when done."""

    def __init__(
        self, client: aioredis.Redis | RedisCluster, *, key_prefix: str = "oauth", clock: Clock = time.time
    ) -> None:
        self._r = client
        self._p = key_prefix
        self._clock = clock
        self._clients_key = f"{key_prefix}:clients"
        self._take_code = client.register_script(_lua("take_code"))
        self._put_family = client.register_script(_lua("put_family"))
        self._rotate = client.register_script(_lua("rotate_refresh"))
        self._delete_owned = client.register_script(_lua("delete_owned"))
        self._record_failure = client.register_script(_lua("record_failure"))
        self._blocked_for = client.register_script(_lua("blocked_for"))

    @classmethod
    def from_url(
        cls, url: str, *, key_prefix: str = "oauth", timeout: float = 2.0, clock: Clock = time.time
    ) -> RedisStore:
        return cls(connect(url, timeout=timeout), key_prefix=key_prefix, clock=clock)

    @property
    def redis(self) -> aioredis.Redis | RedisCluster:
        return self._r

    def _ttl_ms(self, expires_at: float) -> int:
        return max(1, round((expires_at - self._clock()) * 1000))

    def _k(self, family_id: str, kind: str, digest: str = "") -> str:
        return f"{self._p}:{{{family_id}}}:{kind}:{digest}" if digest else f"{self._p}:{{{family_id}}}:{kind}"

    async def _run(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"redis unavailable: {type(exc).__name__}") from exc

    # -- clients ---------------------------------------------------------------------------------
    async def create_client(self, client: Client) -> bool:
        return bool(await self._run(self._r.hsetnx(self._clients_key, client.client_id, _encode_client(client))))

    async def get_client(self, client_id: str) -> Client | None:
        raw = await self._run(self._r.hget(self._clients_key, client_id))
        return None if raw is None else _decode_client(raw)

    async def list_clients(self) -> list[Client]:
        raw: dict[bytes, bytes] = await self._run(self._r.hgetall(self._clients_key))
        return sorted((_decode_client(v) for v in raw.values()), key=lambda c: c.client_id)

    async def delete_client(self, client_id: str) -> bool:
        return bool(await self._run(self._r.hdel(self._clients_key, client_id)))

    # -- authorization codes ---------------------------------------------------------------------
    async def put_code(self, family_id: str, code_digest: str, code: AuthorizationCode) -> None:
        key = self._k(family_id, "c", code_digest)
        await self._run(self._r.set(key, _encode_code(code), px=self._ttl_ms(code.exp)))

    async def take_code(
        self, family_id: str, code_digest: str, *, replay_window: float
    ) -> AuthorizationCode | CodeReplayed | None:
        keys = [self._k(family_id, "c", code_digest), self._k(family_id, "f")]
        raw = await self._run(self._take_code(keys=keys, args=[max(1, round(replay_window * 1000))]))
        if raw is None:
            return None
        if raw == b"replayed":
            return CodeReplayed()
        return _decode_code(raw)

    # -- tokens ----------------------------------------------------------------------------------
    async def put_access(self, family_id: str, access_digest: str, token: AccessToken) -> None:
        key = self._k(family_id, "a", access_digest)
        await self._run(self._r.set(key, _encode_access(token), px=self._ttl_ms(token.exp)))

    async def put_family(
        self,
        family_id: str,
        family: TokenFamily,
        access_digest: str,
        access: AccessToken,
        *,
        code_digest: str | None = None,
    ) -> bool:
        keys = [self._k(family_id, "f"), self._k(family_id, "a", access_digest)]
        if code_digest is not None:
            keys.append(self._k(family_id, "c", code_digest))
        args: list[str | int] = [
            _encode_family(family),
            self._ttl_ms(family.exp),
            _encode_access(access),
            self._ttl_ms(access.exp),
        ]
        return bool(await self._run(self._put_family(keys=keys, args=args)))

    async def lookup(
        self, family_id: str, *, access_digest: str | None = None, refresh_digest: str | None = None
    ) -> TokenLookup:
        keys = [self._k(family_id, "f")]
        if access_digest is not None:
            keys.append(self._k(family_id, "a", access_digest))
        if refresh_digest is not None:
            keys.append(self._k(family_id, "s", refresh_digest))
        values: list[bytes | None] = await self._run(self._r.mget(keys))
        family = None if values[0] is None else _decode_family(values[0])
        access = None
        if access_digest is not None and values[1] is not None:
            access = _decode_access(values[1])
            if access.in_family and family is None:
                access = None
        spent = refresh_digest is not None and values[-1] is not None
        return TokenLookup(access=access, family=family, refresh_spent=spent)

    async def rotate_refresh(
        self,
        family_id: str,
        old_refresh_digest: str,
        family: TokenFamily,
        access_digest: str,
        access: AccessToken,
    ) -> bool:
        keys = [
            self._k(family_id, "f"),
            self._k(family_id, "s", old_refresh_digest),
            self._k(family_id, "a", access_digest),
        ]
        args: list[str | int] = [
            old_refresh_digest,
            _encode_family(family),
            self._ttl_ms(family.exp),
            _encode_access(access),
            self._ttl_ms(access.exp),
        ]
        return int(await self._run(self._rotate(keys=keys, args=args))) == 1

    async def revoke_family(self, family_id: str, *, client_id: str | None = None) -> bool:
        keys = [self._k(family_id, "f")]
        return bool(await self._run(self._delete_owned(keys=keys, args=[client_id or "", 2])))

    async def revoke_access(self, family_id: str, access_digest: str, *, client_id: str) -> bool:
        keys = [self._k(family_id, "a", access_digest)]
        return bool(await self._run(self._delete_owned(keys=keys, args=[client_id, 1])))

    # -- consents --------------------------------------------------------------------------------
    def _consent_key(self, sub: str, client_id: str) -> str:
        return f"{self._p}:consent:{client_id}:{sub}"

    async def put_consent(self, sub: str, client_id: str, scope: str, *, expires_at: float) -> None:
        await self._run(self._r.set(self._consent_key(sub, client_id), scope, px=self._ttl_ms(expires_at)))

    async def get_consent(self, sub: str, client_id: str) -> str | None:
        raw: bytes | None = await self._run(self._r.get(self._consent_key(sub, client_id)))
        return None if raw is None else raw.decode()

    async def delete_consent(self, sub: str, client_id: str) -> bool:
        return bool(await self._run(self._r.delete(self._consent_key(sub, client_id))))

    # -- single-use values -----------------------------------------------------------------------
    async def claim_once(self, name: str, *, expires_at: float) -> bool:
        key = f"{self._p}:once:{name}"
        return bool(await self._run(self._r.set(key, b"1", nx=True, px=self._ttl_ms(expires_at))))

    # -- failed attempts (rate limiting) ---------------------------------------------------------
    async def record_failure(self, key: str, *, window: float, limit: int) -> float:
        now_ms = round(self._clock() * 1000)
        args: list[str | int] = [now_ms, max(1, round(window * 1000)), limit, f"{now_ms}-{secrets.token_hex(4)}"]
        blocked_ms = await self._run(self._record_failure(keys=[f"{self._p}:fail:{key}"], args=args))
        return int(blocked_ms) / 1000

    async def blocked_for(self, key: str, *, window: float, limit: int) -> float:
        args = [round(self._clock() * 1000), max(1, round(window * 1000)), limit]
        blocked_ms = await self._run(self._blocked_for(keys=[f"{self._p}:fail:{key}"], args=args))
        return int(blocked_ms) / 1000

    # -- lifecycle -------------------------------------------------------------------------------
    async def ping(self) -> None:
        await self._run(self._r.ping())

    async def aclose(self) -> None:
        await self._r.aclose()
