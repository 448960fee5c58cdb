"""Redis store: every verb is one round trip, and every multi-key verb one Lua script or MGET.

Key layout (``p`` is the key prefix, ``F`` a token family id used as the Cluster hash tag)::

    p:clients                 hash   client_id -> client JSON
    p:consent:<client>:<sub>  string granted scope, TTL = remembered-consent lifetime
    p:{F}:f                   string family record (current refresh digest first), TTL = refresh expiry
    p:{F}:x                   zset   digests of the family's access tokens (score: expiry), TTL = family's
    p:{F}:a:<digest>          string access token record, TTL = token expiry
    p:{F}:c:<digest>          string code record, then "spent"/"replayed", TTL = code expiry / replay window
    p:{F}:s:<digest>          string marker of a rotated-away refresh token, TTL = its former expiry
    p:once:<name>             string marker of a claimed single-use value (consent form nonce)
    p:{limits}:<bucket>       sorted set of recent failure times, TTL = the bucket's window
    p:{limits}:known:<digest> string marker: a principal signed in from this place, TTL = known lifetime

Records are compact JSON arrays. A client_credentials token is one key; a family's access tokens are
also listed in its index so that revoking the family deletes them, and validating any access token
is a single GET.

Every script and MGET names only keys of one family, so on Redis Cluster each verb runs on the one node
owning that family's slot; the other keys are single-key commands. :func:`connect` picks the deployment
from the URL:

    redis://[user:password@]host[:port][/db]              one server (``rediss://`` for TLS, or ``unix://``)
    redis+cluster://[user:password@]host[:port][,host[:port]...]
                                                          Redis Cluster, discovered from any of these nodes
    redis+sentinel://[user:password@]host[:port][,host[:port]...]/service[/db]
                                                          the master that Sentinels (default port 26379) name
                                                          ``service``; the credentials are the master's

``rediss+cluster://`` and ``rediss+sentinel://`` use TLS (for Sentinel: to the Sentinels and the master).

On one server (over TCP, TLS or a Unix socket) the store's own commands run on a single pipelined
connection (:mod:`.pipeline`), which costs a fraction of redis-py's per-command path; Cluster and
Sentinel run on redis-py. :attr:`RedisStore.redis` is the redis-py client either way, for administration.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib.resources import files
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff

from ..models import (
    AccessToken,
    AuthorizationCode,
    Bucket,
    Client,
    CodeReplayed,
    LimitCheck,
    TokenFamily,
    TokenLookup,
)
from ..types import Clock
from .base import StoreUnavailable
from .pipeline import Endpoint, PipelinedRedis

#: Runs one command and returns its reply: the pipelined connection's, or redis-py's ``execute_command``.
Execute = Callable[..., Awaitable[Any]]

#: Connections per store (per worker) to a single Redis server; Redis accepts 10,000 clients by default.
_MAX_CONNECTIONS = 1000

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
    rexc.SlotNotCoveredError,  # a master is gone and no replica took over its slots
    rexc.OutOfMemoryError,  # maxmemory with noeviction: writes are refused until memory is freed
)


def _unavailable(exc: Exception) -> bool:
    if isinstance(exc, _UNAVAILABLE):
        return True
    # RedisCluster raises its generic exception when no node answers or the slots are not all covered;
    # a key spanning two slots raises it too, and that is a bug, not an outage.
    return isinstance(exc, rexc.RedisClusterException) and (
        isinstance(exc.__cause__, _UNAVAILABLE) or "not covered" in str(exc)
    )


def _lua(name: str, *helpers: str) -> str:
    """A script's source after the shared functions it calls (``lua/<helper>_fn.lua``)."""
    return "".join((files(__package__) / "lua" / f"{part}.lua").read_text("utf-8") for part in (*helpers, name))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _window_ms(seconds: float) -> int:
    """A window (replay, rate limit) in milliseconds: at least 1, as PX and the scripts require."""
    return max(1, round(seconds * 1000))


def _encode_access(t: AccessToken) -> str:
    row: list[Any] = [t.client_id, t.scope, t.sub, t.iat, round(t.exp * 1000)]
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
        username=row[5] if len(row) > 5 else None,
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


def _hosts(netloc: str, default_port: int) -> list[tuple[str, int]]:
    """``host[:port][,host[:port]...]`` (after any ``userinfo@``) as (host, port) pairs; IPv6 in brackets."""
    hosts = []
    for item in netloc.rpartition("@")[2].split(","):
        parts = urlsplit(f"//{item.strip()}")
        hosts.append((parts.hostname or "localhost", parts.port or default_port))
    return hosts


def connect(url: str, *, timeout: float = 2.0) -> aioredis.Redis | RedisCluster:
    """A client for ``url`` (schemes in the module docstring); every command is bounded by ``timeout``."""
    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    parts = urlsplit(url)
    base, _, topology = parts.scheme.partition("+")
    if topology == "cluster":
        (host, port), *others = _hosts(parts.netloc, 6379)
        userinfo, at, _ = parts.netloc.rpartition("@")
        host = f"[{host}]" if ":" in host else host
        seed = urlunsplit(parts._replace(scheme=base, netloc=f"{userinfo}{at}{host}:{port}"))
        return RedisCluster.from_url(
            seed,
            startup_nodes=[ClusterNode(h, p) for h, p in others],
            # redis-py retries a cluster command 10 times by default: 10 timeouts against a frozen node.
            # One retry (after re-reading the slot map) is enough to get past a restarted node or a failover.
            retry=Retry(NoBackoff(), 1),
            **options,
        )
    if topology == "sentinel":
        service, _, db = parts.path.strip("/").partition("/")
        if not service:
            raise ValueError("a redis+sentinel:// URL names the master: redis+sentinel://host:26379/service[/db]")
        tls: dict[str, Any] = {"ssl": True} if base == "rediss" else {}
        # Asked in turn until one names the master; redis-py would otherwise retry each dead one for seconds.
        asked = {**options, **tls, "retry": Retry(NoBackoff(), 0)}
        sentinel = Sentinel(_hosts(parts.netloc, 26379), sentinel_kwargs=asked, **options)  # type: ignore[no-untyped-call]
        master: aioredis.Redis = sentinel.master_for(
            service,
            db=int(db or 0),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            health_check_interval=30,
            **tls,
        )
        return master
    # One retry on a connection error, so the first command on a pooled connection that a Redis restart
    # broke reconnects instead of failing; timeouts are not retried (that would double the bound and
    # could re-send a command that already ran). A plain pool, not a blocking one: waiting for a free
    # connection costs every command ~10 µs; past the cap a request fails fast with 503 instead.
    pool = aioredis.ConnectionPool.from_url(
        url,
        max_connections=_MAX_CONNECTIONS,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1, supported_errors=(rexc.ConnectionError,)),
        **options,
    )
    client: aioredis.Redis = aioredis.Redis.from_pool(pool)  # the client owns the pool and closes it
    return client


def _pipeline_for(client: aioredis.Redis | RedisCluster) -> PipelinedRedis | None:
    """The pipelined connection to the one server ``client`` talks to; ``None`` for a Cluster, a Sentinel-managed
    master, or connections this store's pipeline does not make (RESP3, credential providers), which keep
    redis-py's own per-command path."""
    if isinstance(client, RedisCluster):
        return None
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        return None
    endpoint = Endpoint.of_pool(pool)
    return None if endpoint is None else PipelinedRedis(endpoint)


class _Script:
    """A Lua script run with EVALSHA, and with EVAL when the node answering does not know it yet.

    Both are routed by the script's KEYS alone, so on a cluster only the node owning them is asked. (redis-py's
    ``register_script`` loads a missing script on every primary, which fails while any of them is down.)
    """

    def __init__(self, execute: Execute, source: str) -> None:
        self._execute = execute
        self._source = source
        self._sha = hashlib.sha1(self._source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, *, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        try:
            return await self._execute("EVALSHA", self._sha, len(keys), *keys, *args)
        except rexc.NoScriptError:
            return await self._execute("EVAL", self._source, len(keys), *keys, *args)


class RedisStore:
    """Store on Redis. Owns ``client`` (and the pipelined connection built from it); call :meth:`aclose` when done."""

    def __init__(
        self, client: aioredis.Redis | RedisCluster, *, key_prefix: str = "oauth", clock: Clock = time.time
    ) -> None:
        self._r = client
        self._p = key_prefix
        self._clock = clock
        self._clients_key = f"{key_prefix}:clients"
        self._cluster = client if isinstance(client, RedisCluster) else None
        self._pipeline = _pipeline_for(client)
        self._exec: Execute = self._pipeline.execute if self._pipeline is not None else client.execute_command
        self._take_code = _Script(self._exec, _lua("take_code", "revoke_family_fn", "spend_code_fn"))
        self._put_family = _Script(self._exec, _lua("put_family", "store_family_fn"))
        redeem = _lua("redeem_code", "revoke_family_fn", "spend_code_fn", "store_family_fn")
        self._redeem_code = _Script(self._exec, redeem)
        self._rotate = _Script(self._exec, _lua("rotate_refresh", "revoke_family_fn"))
        self._revoke_family = _Script(self._exec, _lua("revoke_family", "revoke_family_fn"))
        self._delete_access = _Script(self._exec, _lua("delete_access"))
        self._check_limits = _Script(self._exec, _lua("check_limits", "limits_fn"))
        self._record_failure = _Script(self._exec, _lua("record_failure", "limits_fn"))

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
            if self._cluster is not None:
                # redis-py's RedisCluster, hit by concurrent commands while it (re)reads the topology (at first
                # use, and after it reset itself on CLUSTERDOWN), can drop connections still being set up and
                # fail with AttributeError. Reading it before the command, a no-op when current, avoids that.
                try:
                    await self._cluster.initialize()
                except BaseException:
                    awaitable.close()  # never started; closing it spares a "never awaited" warning
                    raise
            return await awaitable
        except Exception as exc:
            if _unavailable(exc):
                raise StoreUnavailable(f"redis unavailable: {type(exc).__name__}") from exc
            raise

    # -- clients ---------------------------------------------------------------------------------
    async def create_client(self, client: Client) -> bool:
        return bool(await self._run(self._exec("HSETNX", self._clients_key, client.client_id, _encode_client(client))))

    async def get_client(self, client_id: str) -> Client | None:
        raw = await self._run(self._exec("HGET", self._clients_key, client_id))
        return None if raw is None else _decode_client(raw)

    async def list_clients(self) -> list[Client]:
        raw: dict[bytes, bytes] | list[bytes] = await self._run(self._exec("HGETALL", self._clients_key))
        values = raw.values() if isinstance(raw, dict) else raw[1::2]  # redis-py makes the pairs a dict
        return sorted((_decode_client(v) for v in values), key=lambda c: c.client_id)

    async def delete_client(self, client_id: str) -> bool:
        return bool(await self._run(self._exec("HDEL", self._clients_key, client_id)))

    # -- authorization codes ---------------------------------------------------------------------
    async def put_code(self, family_id: str, code_digest: str, code: AuthorizationCode) -> None:
        key = self._k(family_id, "c", code_digest)
        await self._run(self._exec("SET", key, _encode_code(code), "PX", self._ttl_ms(code.exp)))

    async def take_code(
        self, family_id: str, code_digest: str, *, replay_window: float
    ) -> AuthorizationCode | CodeReplayed | None:
        keys = [self._k(family_id, "c", code_digest), self._k(family_id, "f"), self._k(family_id, "x")]
        raw = await self._run(self._take_code(keys=keys, args=[_window_ms(replay_window)]))
        if raw is None:
            return None
        if raw == b"replayed":
            return CodeReplayed()
        return _decode_code(raw)

    async def get_code(self, family_id: str, code_digest: str) -> AuthorizationCode | None:
        raw: bytes | None = await self._run(self._exec("GET", self._k(family_id, "c", code_digest)))
        return None if raw is None or raw in (b"spent", b"replayed") else _decode_code(raw)

    async def redeem_code(
        self,
        family_id: str,
        code_digest: str,
        access_digest: str,
        access: AccessToken,
        family: TokenFamily | None,
        *,
        replay_window: float,
    ) -> bool:
        keys = [
            self._k(family_id, "c", code_digest),
            self._k(family_id, "f"),
            self._k(family_id, "a", access_digest),
            self._k(family_id, "x"),
        ]
        args = [_window_ms(replay_window), *self._store_family_args(family, access_digest, access)]
        return int(await self._run(self._redeem_code(keys=keys, args=args))) == 1

    # -- tokens ----------------------------------------------------------------------------------
    async def get_access(self, family_id: str, access_digest: str) -> AccessToken | None:
        raw: bytes | None = await self._run(self._exec("GET", self._k(family_id, "a", access_digest)))
        return None if raw is None else _decode_access(raw)

    async def put_access(self, family_id: str, access_digest: str, token: AccessToken) -> None:
        key = self._k(family_id, "a", access_digest)
        await self._run(self._exec("SET", key, _encode_access(token), "PX", self._ttl_ms(token.exp)))

    async def put_family(self, family_id: str, family: TokenFamily, access_digest: str, access: AccessToken) -> None:
        keys = [self._k(family_id, "f"), self._k(family_id, "a", access_digest), self._k(family_id, "x")]
        await self._run(self._put_family(keys=keys, args=self._store_family_args(family, access_digest, access)))

    def _store_family_args(
        self, family: TokenFamily | None, access_digest: str, access: AccessToken
    ) -> list[str | int]:
        """The arguments of ``store_family`` (lua/store_family_fn.lua), in its order; without a family the
        index lives as long as the access token."""
        return [
            "" if family is None else _encode_family(family),
            self._ttl_ms(access.exp if family is None else family.exp),
            _encode_access(access),
            self._ttl_ms(access.exp),
            access_digest,
            round(access.exp * 1000),
        ]

    async def lookup(
        self, family_id: str, *, access_digest: str | None = None, refresh_digest: str | None = None
    ) -> TokenLookup:
        keys = [self._k(family_id, "f")]
        if access_digest is not None:
            keys.append(self._k(family_id, "a", access_digest))
        if refresh_digest is not None:
            keys.append(self._k(family_id, "s", refresh_digest))
        values: list[bytes | None] = await self._run(self._exec("MGET", *keys))
        family = None if values[0] is None else _decode_family(values[0])
        access = _decode_access(values[1]) if access_digest is not None and values[1] is not None else None
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
            self._k(family_id, "x"),
        ]
        args: list[str | int] = [
            old_refresh_digest,
            _encode_family(family),
            self._ttl_ms(family.exp),
            _encode_access(access),
            self._ttl_ms(access.exp),
            access_digest,
            round(access.exp * 1000),
            round(self._clock() * 1000),
        ]
        return int(await self._run(self._rotate(keys=keys, args=args))) == 1

    async def revoke_family(self, family_id: str, *, client_id: str | None = None) -> bool:
        keys = [self._k(family_id, "f"), self._k(family_id, "x")]
        return bool(await self._run(self._revoke_family(keys=keys, args=[client_id or ""])))

    async def revoke_access(self, family_id: str, access_digest: str, *, client_id: str) -> bool:
        keys = [self._k(family_id, "a", access_digest)]
        return bool(await self._run(self._delete_access(keys=keys, args=[client_id])))

    # -- consents --------------------------------------------------------------------------------
    def _consent_key(self, sub: str, client_id: str) -> str:
        return f"{self._p}:consent:{client_id}:{sub}"

    async def put_consent(self, sub: str, client_id: str, scope: str, *, expires_at: float) -> None:
        await self._run(self._exec("SET", self._consent_key(sub, client_id), scope, "PX", self._ttl_ms(expires_at)))

    async def get_consent(self, sub: str, client_id: str) -> str | None:
        raw: bytes | None = await self._run(self._exec("GET", self._consent_key(sub, client_id)))
        return None if raw is None else raw.decode()

    async def delete_consent(self, sub: str, client_id: str) -> bool:
        return bool(await self._run(self._exec("DEL", self._consent_key(sub, client_id))))

    # -- single-use values -----------------------------------------------------------------------
    async def claim_once(self, name: str, *, expires_at: float) -> bool:
        key = f"{self._p}:once:{name}"
        return bool(await self._run(self._exec("SET", key, "1", "NX", "PX", self._ttl_ms(expires_at))))

    # -- failed attempts (rate limiting) ---------------------------------------------------------
    def _limit_keys(self, buckets: Sequence[Bucket], known: str) -> list[str]:
        # One hash tag for every limit key: a check reads the proof and all buckets in one script, so on a
        # Cluster they must share a slot. Only failures and guessable-secret checks come here.
        return [f"{self._p}:{{limits}}:{key}" for key in (known, *(b.key for b in buckets))]

    @staticmethod
    def _bucket_args(buckets: Sequence[Bucket]) -> list[str | int]:
        args: list[str | int] = []
        for b in buckets:
            args += [_window_ms(b.window), b.limit, int(b.waived_if_known)]
        return args

    async def check_limits(self, buckets: Sequence[Bucket], *, known: str) -> LimitCheck:
        args = [round(self._clock() * 1000), *self._bucket_args(buckets)]
        wait_ms, is_known = await self._run(self._check_limits(keys=self._limit_keys(buckets, known), args=args))
        return LimitCheck(blocked_for=int(wait_ms) / 1000, known=bool(is_known))

    async def record_failure(self, buckets: Sequence[Bucket], *, known: str) -> float:
        now_ms = round(self._clock() * 1000)
        args = [now_ms, f"{now_ms}-{secrets.token_hex(4)}", *self._bucket_args(buckets)]
        wait_ms = await self._run(self._record_failure(keys=self._limit_keys(buckets, known), args=args))
        return int(wait_ms) / 1000

    async def remember_known(self, known: str, *, expires_at: float) -> None:
        key = f"{self._p}:{{limits}}:{known}"
        await self._run(self._exec("SET", key, "1", "PX", self._ttl_ms(expires_at)))

    # -- lifecycle -------------------------------------------------------------------------------
    async def ping(self) -> None:
        await self._run(self._exec("PING"))

    async def aclose(self) -> None:
        if self._pipeline is not None:
            await self._pipeline.aclose()
        await self._r.aclose()
        pool = getattr(self._r, "connection_pool", None)
        if isinstance(pool, SentinelConnectionPool):
            await pool.sentinel_manager.aclose()
