"""Redis store: every verb is one round trip, and every multi-key verb one Lua script or MGET.

Key layout (``p`` is the key prefix, ``F`` a token family id used as the Cluster hash tag), built by
:class:`~.records.Keys`::

    p:clients                 hash   client_id -> client JSON
    p:{p:clients}:dynamic     set    ids of dynamically registered clients (RFC 7591), for the cap
    p:{p:clients}:expiring    zset   ids of dynamic clients that expire (score: expiry, ms): unused or secret
    p:consent:<client>:<sub>  string granted scope, TTL = remembered-consent lifetime
    p:{F}:f                   string family record, TTL = refresh expiry
    p:{F}:x                   zset   names of the family's access tokens (score: expiry), TTL = family's
    p:{F}:a:<name>            string access token record, TTL = token expiry; <name> is the digest's first 22
                                     characters (records.access_name), the whole digest before (still read)
    p:{F}:c:<digest>          string code record, then "spent[:<access name>]"/"replayed", TTL = code
                                     expiry / replay window
    p:{F}:s:<digest>          string marker of a rotated-away refresh token, TTL = its former expiry
    p:once:<name>             string marker of a claimed single-use value (consent form nonce)
    p:{limits}:<bucket>       sorted set of recent failure times, TTL = the bucket's window
    p:{limits}:known:<digest> string marker: a principal signed in from this place, TTL = known lifetime
    p:document:<sha256>       string client a Client ID Metadata Document described, TTL = its cache lifetime
    p:{F}:<kind>:<digest>     what a feature keeps in a family's slot (the device flow's ``d``), see its package
    p:{u:<sha256(sub)>}:g     zset   what a user holds (score: expiry, ms); members below, TTL = longest member's
    p:{c:<sha256(id)>}:g      zset   what a client holds, the same way (sha256 hex cut to 32 characters)
    p:revoked                 pub/sub channel the revoking scripts announce on (messages below)

Owner index members: ``F`` (a refresh family, or the tokens a code redemption stored without one),
``F:a:<name>`` (a lone access token: client_credentials, or a grant without refresh tokens) and
``F:c:<digest>`` (an authorization code, listed when issued), and ``F:<kind>:<digest>`` for what a feature lists
through :class:`RedisParts` (deleted with its owner). Every verb that stores a grant lists it under
its client and its user in the same script; on a Cluster the indexes live in their own slots, so the
store lists the grant first (one call per index) and then runs the storing script.

Messages on ``p:revoked``, each PUBLISHed inside the script whose write it announces, so a subscriber never
misses a committed revocation (text; ``<F>`` a family id, ``<name>`` an access token's name; a ``<sub>``
or ``<id>`` may itself contain colons: split at the first one only):

    family:<F>                a family ended: its refresh token and every access token listed in its index
                              (revocation, refresh reuse, code replay, or its user or client revoked)
    access:<F>:<name>         one access token ended (RFC 7009 revocation, or its user or client revoked)
    client:<id>               a client deleted, or everything of the client revoked (``revoke_client``)
    user:<sub>                everything of a user revoked (``revoke_user``)

``revoke_user`` and ``revoke_client`` announce every family and lone access token they end first, then the
owner: a cache may drop entries by family id, or by user or client once the last message arrives. On one
server that is one script; on a Cluster, one script per family (in its slot, announcing it), then one on the
index that announces the owner. On a Cluster each node relays what it publishes itself, so a subscriber gets
every message but not necessarily in that order: ``user:``/``client:`` may arrive before a ``family:``.

Records are versioned JSON arrays whose fields are named in :mod:`.records`, for Python and Lua alike.
A client_credentials token is one key; a family's access tokens are
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
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib.resources import files
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import redis
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
    Outcome,
    TokenFamily,
    TokenLookup,
)
from ..types import Clock
from ..validation_cache import CacheOptions, ValidationCache
from .base import AddOutcome, StoreUnavailable
from .host_ring import HostRing
from .pipeline import Endpoint, PipelinedRedis
from .records import (
    ACCESS_RECORD,
    CLIENT_RECORD,
    CODE_RECORD,
    FAMILY_RECORD,
    Keys,
    Layout,
    access_name,
    grant_member,
    lua_prelude,
)
from .replicas import Locate, ReplicaWait
from .subscriber import Endpoints, RevocationSubscriber

logger = logging.getLogger("asgi_oauth")
_T = TypeVar("_T")

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
    rexc.ClusterError,  # redirections that never settle ("TTL exhausted") while slots move
)


#: Whatever a Cluster readiness probe may meet: any failure there means "not ready", not a bug to report.
_FAULTS = (rexc.RedisError, rexc.RedisClusterException, OSError)


def _unavailable(exc: Exception) -> bool:
    if isinstance(exc, _UNAVAILABLE):
        return True
    # RedisCluster raises its generic exception when no node answers or the slots are not all covered;
    # a key spanning two slots raises it too, and that is a bug, not an outage.
    return isinstance(exc, rexc.RedisClusterException) and (
        isinstance(exc.__cause__, _UNAVAILABLE) or "not covered" in str(exc)
    )


def _lua(name: str, *helpers: str) -> str:
    """A script's source after the record layouts and the shared functions it calls (``lua/<helper>_fn.lua``)."""
    return _with_helpers((files(__package__) / "lua" / f"{name}.lua").read_text("utf-8"), helpers)


#: The shared functions each shared file calls, put before it. A script names only what it calls itself: Redis
#: runs a script's whole body on every call, so a function it never calls still costs its definition each time.
_HELPER_NEEDS: dict[str, tuple[str, ...]] = {
    "grants_fn": ("revoke_family_fn", "listing_fn"),
    "spend_code_fn": ("revoke_family_fn",),
}


def _helper_order(helpers: Sequence[str]) -> list[str]:
    """``helpers`` with what they need, each once, every file after the ones it calls."""
    ordered: list[str] = []

    def add(name: str) -> None:
        if name not in ordered:
            for needed in _HELPER_NEEDS.get(name, ()):
                add(needed)
            ordered.append(name)

    for name in helpers:
        add(name)
    return ordered


def _with_helpers(source: str, helpers: Sequence[str], layouts: Sequence[Layout] = ()) -> str:
    parts = ((files(__package__) / "lua" / f"{part}.lua").read_text("utf-8") for part in _helper_order(helpers))
    return lua_prelude(*layouts) + "".join(parts) + source


def _window_ms(seconds: float) -> int:
    """A window (replay, rate limit) in milliseconds: at least 1, as PX and the scripts require."""
    return max(1, round(seconds * 1000))


_encode_access = ACCESS_RECORD.pack
_decode_access = ACCESS_RECORD.unpack
_encode_family = FAMILY_RECORD.pack
_decode_family = FAMILY_RECORD.unpack
_encode_code = CODE_RECORD.pack
_decode_code = CODE_RECORD.unpack
_encode_client = CLIENT_RECORD.pack
_decode_client = CLIENT_RECORD.unpack


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
        sentinel = Sentinel(_hosts(parts.netloc, 26379), sentinel_kwargs=asked, **options)
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


#: What reading a redis-py object raises when a release renamed or moved what the fast path reads from it.
_MOVED = (AttributeError, TypeError, KeyError)
_moved_warned = False


def _redis_py_moved(exc: BaseException) -> None:
    """Says once per process that the store runs without its fast path, and why: a slowdown that is not silent."""
    global _moved_warned
    if _moved_warned:
        return
    _moved_warned = True
    logger.warning(
        "asgi_oauth: redis-py %s no longer has what the store's pipelined connection reads from it (%s: %s). "
        "The store keeps working on redis-py's per-command path, several times slower per request, and "
        "validation from memory is off. Install a redis-py release asgi_oauth was tested with (see "
        "pyproject.toml: redis>=5.0.1,<9) or upgrade asgi_oauth.",
        getattr(redis, "__version__", "?"),
        type(exc).__name__,
        exc,
    )


def _fast_path(read: Callable[[aioredis.Redis | RedisCluster], _T], client: aioredis.Redis | RedisCluster) -> _T | None:
    """``read(client)``, or ``None`` (with the warning above) when this redis-py release moved what it reads."""
    try:
        return read(client)
    except _MOVED as exc:
        _redis_py_moved(exc)
        return None


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


def _subscription_endpoints(client: aioredis.Redis | RedisCluster) -> Endpoints | None:
    """Where the revocation subscriber connects: the server, the master Sentinel names now, or every Cluster
    primary (re-read on each reconnect); ``None`` when connections sign in by more than a password (the cache
    then stays off)."""
    if isinstance(client, RedisCluster):
        cluster = client
        first = True

        async def primaries() -> list[Endpoint]:
            nonlocal first
            try:
                if first:
                    await cluster.initialize()
                    first = False
                else:  # after a lost connection: a failover or a new primary may be why
                    await cluster.nodes_manager.initialize()
                nodes = cluster.get_primaries()
                found = [Endpoint.of_connection(n.connection_class, n.connection_kwargs) for n in nodes]
            except _MOVED as exc:
                _redis_py_moved(exc)
                raise
            return [endpoint for endpoint in found if endpoint is not None]

        kwargs = cluster.get_connection_kwargs()
        connection_class: type[Any] = kwargs.get("connection_class") or aioredis.Connection
        return primaries if Endpoint.of_connection(connection_class, kwargs) else None
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        sentinel_pool = pool
        if Endpoint.of_connection(pool.connection_class, pool.connection_kwargs) is None:
            return None

        async def master() -> list[Endpoint]:
            try:
                host, port = await sentinel_pool.get_master_address()  # type: ignore[no-untyped-call]
                kwargs = {**sentinel_pool.connection_kwargs, "host": host, "port": port}
                endpoint = Endpoint.of_connection(sentinel_pool.connection_class, kwargs)
            except _MOVED as exc:
                _redis_py_moved(exc)
                raise
            return [endpoint] if endpoint is not None else []

        return master
    endpoint = Endpoint.of_connection(pool.connection_class, pool.connection_kwargs)
    if endpoint is None:
        return None
    one = [endpoint]

    async def server() -> list[Endpoint]:
        return one

    return server


def _primary_locator(client: aioredis.Redis | RedisCluster) -> Locate | None:
    """Where the primary owning a key is now: the one server, the master Sentinel names, or the Cluster node
    serving the key's slot; ``None`` when connections sign in by more than a password (RESP3, credential
    providers), which :mod:`asgi_oauth.store.replicas` cannot open."""
    if isinstance(client, RedisCluster):
        cluster = client

        async def node_of(key: str) -> Endpoint | None:
            try:
                await cluster.initialize()
                node = cluster.get_node_from_key(key)
                return None if node is None else Endpoint.of_connection(node.connection_class, node.connection_kwargs)
            except _MOVED as exc:
                _redis_py_moved(exc)
                return None

        return node_of
    endpoints = _subscription_endpoints(client)  # the same places a subscription goes: one server, one master
    if endpoints is None:
        return None
    found = endpoints

    async def primary(key: str) -> Endpoint | None:
        now = await found()
        return now[0] if now else None

    return primary


def _timeout_of(client: aioredis.Redis | RedisCluster) -> float:
    kwargs = client.get_connection_kwargs()
    timeout = kwargs.get("socket_timeout")
    return float(timeout) if timeout else 5.0


class Script:
    """A Lua script run with EVALSHA, and with EVAL when the node answering does not know it yet.

    Both are routed by the script's KEYS alone, so on a cluster only the node owning them is asked. (redis-py's
    ``register_script`` loads a missing script on every primary, which fails while any of them is down.)
    """

    def __init__(self, execute: Execute, source: str) -> None:
        self._execute = execute
        self._source = source
        self._sha = hashlib.sha1(self._source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, *, keys: Sequence[str], args: Sequence[str | int], execute: Execute | None = None) -> Any:
        """Run on the store's connection, or on ``execute``'s."""
        run = execute or self._execute
        try:
            return await run("EVALSHA", self._sha, len(keys), *keys, *args)
        except rexc.NoScriptError:
            return await run("EVAL", self._source, len(keys), *keys, *args)


_OUTCOMES = {1: Outcome.DONE, 0: Outcome.MISSING, -1: Outcome.REUSED}


class RedisStore:
    """Store on Redis. Owns ``client`` (and the pipelined connection built from it); call :meth:`aclose` when done.

    On the pipelined connection a command whose connection was lost is sent once more only when a second run
    answers as the first would (reads, plain overwrites, and the scripts that recognise their own earlier
    run); the rest fail with 503 rather than run twice (a failure counted twice, a client id taken from itself).
    """

    def __init__(
        self,
        client: aioredis.Redis | RedisCluster,
        *,
        key_prefix: str = "oauth",
        clock: Clock = time.time,
        cache: CacheOptions | None = None,
    ) -> None:
        self._r = client
        self._keys = Keys(key_prefix)
        self._clock = clock
        self._cluster = client if isinstance(client, RedisCluster) else None
        self._pipeline = _fast_path(_pipeline_for, client)
        pipeline = self._pipeline
        #: Runs a command that may be sent again after a lost connection; ``_once`` one that must not be.
        self._exec: Execute = pipeline.execute if pipeline is not None else client.execute_command
        self._once: Execute = pipeline.execute_once if pipeline is not None else client.execute_command
        self._take_code = Script(self._once, _lua("take_code", "spend_code_fn"))
        self._put_family = Script(self._exec, _lua("put_family", "store_family_fn", "listing_fn"))
        redeem = _lua("redeem_code", "spend_code_fn", "store_family_fn", "listing_fn")
        self._redeem_code = Script(self._exec, redeem)
        self._rotate = Script(self._exec, _lua("rotate_refresh", "revoke_family_fn", "listing_fn"))
        self._revoke_family = Script(self._once, _lua("revoke_family", "revoke_family_fn"))
        self._delete_access = Script(self._once, _lua("delete_access", "revoke_family_fn"))
        self._check_limits = Script(self._exec, _lua("check_limits", "limits_fn"))
        self._record_failure = Script(self._once, _lua("record_failure", "limits_fn"))
        # Adding, creating and keeping recognise their own earlier run; deleting does not (a second run finds
        # nothing), so only deleting is sent once.
        self._dynamic_clients = Script(self._exec, _lua("dynamic_clients"))
        self._delete_dynamic = Script(self._once, _lua("dynamic_clients"))
        self._claim = Script(self._exec, _lua("claim"))
        # Owner indexes (what a user, a client holds): listed by the issuing scripts, ended all at once.
        self._put_access = Script(self._exec, _lua("put_access", "listing_fn"))
        self._put_exchanged = Script(self._exec, _lua("put_exchanged", "listing_fn"))
        self._put_code = Script(self._exec, _lua("put_code", "listing_fn"))
        self._list_grant = Script(self._exec, _lua("list_grant", "listing_fn"))
        self._revoke_grants = Script(self._once, _lua("revoke_grants", "grants_fn"))
        self._end_grant = Script(self._once, _lua("end_grant", "grants_fn"))
        self._forget_grants = Script(self._once, _lua("forget_grants", "listing_fn"))
        self._grant_members = Script(self._exec, _lua("grant_members", "grants_fn"))
        #: This worker's memory of validated tokens and clients (:mod:`asgi_oauth.validation_cache`), kept honest by
        #: a subscription to the revocation channel; ``None`` when switched off.
        self.validation_cache: ValidationCache | None = None
        self._subscriber: RevocationSubscriber | None = None
        endpoints = _fast_path(_subscription_endpoints, client) if cache is not None else None
        #: This machine's other workers, told of each revocation before it is answered (``None`` where no file
        #: can be shared: then only this worker's own memory is told directly).
        self._ring = HostRing.open(self._keys.revoked)
        #: Waits for the replicas after each revocation, so a failover cannot bring a revoked token back.
        locate = _fast_path(_primary_locator, client)
        self._replicas = ReplicaWait(locate, timeout=_timeout_of(client)) if locate is not None else None
        if locate is None:
            logger.warning(
                "asgi_oauth: this Redis connection signs in by more than a password (RESP3 or a credential "
                "provider), so revocations are answered without waiting for replicas: a failover right after "
                "one may bring the token back"
            )
        if cache is not None and endpoints is not None:
            kept = self.validation_cache = ValidationCache(cache, clock=clock)
            self._subscriber = RevocationSubscriber(endpoints, self._keys.revoked, kept, timeout=_timeout_of(client))
            kept.keep_subscribed = self._subscriber.start
            kept.caught_up = self._subscriber.caught_up
            ring = self._ring
            if ring is not None:
                kept.local_news = lambda: ring.catch_up(kept.announced, kept.flush)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        key_prefix: str = "oauth",
        timeout: float = 2.0,
        clock: Clock = time.time,
        cache: CacheOptions | None = None,
    ) -> RedisStore:
        return cls(connect(url, timeout=timeout), key_prefix=key_prefix, clock=clock, cache=cache)

    @property
    def redis(self) -> aioredis.Redis | RedisCluster:
        return self._r

    @property
    def key_prefix(self) -> str:
        """The prefix of every key this store writes; a feature's Redis part puts its keys under it too."""
        return self._keys.prefix

    def parts(self) -> RedisParts:
        """What a feature's Redis part builds on (:class:`RedisParts`)."""
        return RedisParts(self)

    def _ttl_ms(self, expires_at: float) -> int:
        return max(1, round((expires_at - self._clock()) * 1000))

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

    async def _revoke(self, script: Script, keys: list[str], args: Sequence[str | int], *messages: str) -> Any:
        """Run a revoking script so that it is answered only once the primary's replicas have it, then tell this
        machine's workers (Redis's channel told everyone already, but may reach them after this worker answers).
        Told even when the script found nothing: a first run whose reply was lost may have done it."""
        if self._replicas is None:
            result = await self._run(script(keys=keys, args=args))
        else:
            replicas = self._replicas

            async def write(execute: Execute) -> Any:
                return await script(keys=keys, args=args, execute=execute)

            result = await self._run(replicas.run(keys[0], write, lambda: script(keys=keys, args=args)))
        self._tell(*messages)
        return result

    async def _revoked(self, key: str, *messages: str) -> None:
        """What a write that revoked besides its main work (a replay found by an issuing script; ``key`` names its
        slot) owes before it is answered: tell this machine's workers, then wait until the replicas have it."""
        self._tell(*messages)
        await self._settle(key)

    def _tell(self, *messages: str) -> None:
        encoded = [message.encode() for message in messages]
        if self._ring is not None:
            self._ring.announce(encoded)
            if self.validation_cache is not None:
                # This worker forgets at once too, rather than at its next trust check (once per loop iteration).
                self.validation_cache.local_news()
        elif self.validation_cache is not None:
            for message in encoded:
                self.validation_cache.announced(message)

    async def _settle(self, key: str) -> None:
        if self._replicas is not None:
            await self._run(self._replicas.settle(key))

    # -- clients ---------------------------------------------------------------------------------
    def _client_keys(self) -> list[str]:
        # The hash's own name as the hash tag puts the dynamic-client indexes in the hash's Cluster slot
        # (a key without braces hashes whole), and the prefix in front keeps every key under the prefix.
        clients = self._keys.clients
        return [clients, f"{self._keys.prefix}:{{{clients}}}:dynamic", f"{self._keys.prefix}:{{{clients}}}:expiring"]

    def _now_ms(self) -> int:
        return round(self._clock() * 1000)

    async def create_client(self, client: Client) -> bool:
        args: list[str | int] = ["create", self._now_ms(), client.client_id, _encode_client(client)]
        return bool(await self._run(self._dynamic_clients(keys=self._client_keys(), args=args)))

    async def get_client(self, client_id: str) -> Client | None:
        raw = await self._run(self._exec("HGET", self._keys.clients, client_id))
        if raw is None:
            return None
        client = _decode_client(raw)
        # An expired dynamic client stays in the hash until a registration sweeps it; it is gone already.
        return None if client.dynamic and client.expired(self._clock()) else client

    async def list_clients(self) -> list[Client]:
        raw: dict[bytes, bytes] | list[bytes] = await self._run(self._exec("HGETALL", self._keys.clients))
        values = raw.values() if isinstance(raw, dict) else raw[1::2]  # redis-py makes the pairs a dict
        now = self._clock()
        live = (c for c in map(_decode_client, values) if not c.expired(now))
        return sorted(live, key=lambda c: c.client_id)

    async def delete_client(self, client_id: str) -> bool:
        args: list[str | int] = ["delete", self._now_ms(), client_id, self._keys.revoked]
        return bool(await self._revoke(self._delete_dynamic, self._client_keys(), args, f"client:{client_id}"))

    async def add_dynamic_client(self, client: Client, *, limit: int) -> AddOutcome:
        expiry = round(client.expires_at * 1000)
        args: list[str | int] = ["add", self._now_ms(), client.client_id, _encode_client(client), limit, expiry]
        done = int(await self._run(self._dynamic_clients(keys=self._client_keys(), args=args)))
        return "added" if done == 1 else "taken" if done == 0 else "full"

    async def keep_client(self, client: Client) -> bool:
        expiry = round(client.expires_at * 1000)
        args: list[str | int] = ["keep", self._now_ms(), client.client_id, _encode_client(client), expiry]
        return bool(await self._run(self._dynamic_clients(keys=self._client_keys(), args=args)))

    async def count_dynamic_clients(self) -> int:
        return int(await self._run(self._exec("SCARD", self._client_keys()[1])))

    async def put_document_client(self, client: Client, *, expires_at: float) -> None:
        key = self._keys.document(client.client_id)
        await self._run(self._exec("SET", key, _encode_client(client), "PX", self._ttl_ms(expires_at)))

    async def get_document_client(self, client_id: str) -> Client | None:
        raw: bytes | None = await self._run(self._exec("GET", self._keys.document(client_id)))
        return None if raw is None else _decode_client(raw)

    # -- authorization codes ---------------------------------------------------------------------
    async def put_code(self, family_id: str, code_digest: str, code: AuthorizationCode) -> None:
        keys = [self._keys.code(family_id, code_digest)]
        args: list[str | int] = [_encode_code(code), self._ttl_ms(code.exp)]
        member = grant_member(family_id, "c", code_digest)
        await self._listed(self._put_code, keys, args, self._owners(code.client_id, code.sub), member, code.exp)

    async def take_code(
        self, family_id: str, code_digest: str, *, replay_window: float
    ) -> AuthorizationCode | CodeReplayed | None:
        k = self._keys
        keys = [k.code(family_id, code_digest), k.family(family_id), k.index(family_id)]
        args: list[str | int] = [_window_ms(replay_window), k.access_prefix(family_id), family_id, k.revoked]
        raw = await self._run(self._take_code(keys=keys, args=args))
        if raw is None:
            return None
        if raw == b"replayed":
            await self._revoked(k.family(family_id), f"family:{family_id}")
            return CodeReplayed()
        return _decode_code(raw)

    async def get_code(self, family_id: str, code_digest: str) -> AuthorizationCode | None:
        raw: bytes | None = await self._run(self._exec("GET", self._keys.code(family_id, code_digest)))
        return None if raw is None or raw == b"replayed" or raw.startswith(b"spent") else _decode_code(raw)

    async def redeem_code(
        self,
        family_id: str,
        code_digest: str,
        access_digest: str,
        access: AccessToken,
        family: TokenFamily | None,
        *,
        replay_window: float,
    ) -> Outcome:
        k = self._keys
        keys = [k.code(family_id, code_digest), k.family(family_id), k.access(family_id, access_digest)]
        keys.append(k.index(family_id))
        args: list[str | int] = [_window_ms(replay_window), *self._store_family_args(family, access_digest, access)]
        args += [k.access_prefix(family_id), family_id, k.revoked]
        owners = self._owners(access.client_id, access.sub)
        expires = access.exp if family is None else family.exp
        outcome = _OUTCOMES[int(await self._listed(self._redeem_code, keys, args, owners, family_id, expires))]
        if outcome is Outcome.REUSED:  # a replayed code: the family issued from it was revoked
            await self._revoked(k.family(family_id), f"family:{family_id}")
        return outcome

    # -- tokens ----------------------------------------------------------------------------------
    async def get_access(self, family_id: str, access_digest: str) -> AccessToken | None:
        k = self._keys
        names = (k.access(family_id, access_digest), k.access_as_before(family_id, access_digest))
        found: list[bytes | None] = await self._run(self._exec("MGET", *names))
        raw = found[0] if found[0] is not None else found[1]
        return None if raw is None else _decode_access(raw)

    async def put_access(self, family_id: str, access_digest: str, token: AccessToken) -> None:
        keys = [self._keys.access(family_id, access_digest)]
        args: list[str | int] = [_encode_access(token), self._ttl_ms(token.exp)]
        member = grant_member(family_id, "a", access_name(access_digest))
        await self._listed(self._put_access, keys, args, self._owners(token.client_id, token.sub), member, token.exp)

    async def put_exchanged(
        self, family_id: str, access_digest: str, token: AccessToken, *, subject_digest: str
    ) -> bool:
        k = self._keys
        keys = [
            k.access(family_id, access_digest),
            k.access(family_id, subject_digest),
            k.access_as_before(family_id, subject_digest),
            k.exchanged(family_id, subject_digest),
            k.index(family_id),
        ]
        name = access_name(access_digest)
        args: list[str | int] = [_encode_access(token), self._ttl_ms(token.exp), name]
        owners = self._owners(token.client_id, token.sub)
        member = grant_member(family_id, "a", name)
        return bool(await self._listed(self._put_exchanged, keys, args, owners, member, token.exp))

    async def put_family(self, family_id: str, family: TokenFamily, access_digest: str, access: AccessToken) -> None:
        k = self._keys
        keys = [k.family(family_id), k.access(family_id, access_digest), k.index(family_id)]
        args = self._store_family_args(family, access_digest, access)
        owners = self._owners(family.client_id, family.sub)
        await self._listed(self._put_family, keys, args, owners, family_id, family.exp)

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
            access_name(access_digest),
            round(access.exp * 1000),
        ]

    async def lookup(
        self, family_id: str, *, access_digest: str | None = None, refresh_digest: str | None = None
    ) -> TokenLookup:
        keys = [self._keys.family(family_id)]
        if access_digest is not None:
            keys += [self._keys.access(family_id, access_digest), self._keys.access_as_before(family_id, access_digest)]
        if refresh_digest is not None:
            keys.append(self._keys.spent(family_id, refresh_digest))
        values: list[bytes | None] = await self._run(self._exec("MGET", *keys))
        family = None if values[0] is None else _decode_family(values[0])
        access = None
        if access_digest is not None:
            raw = values[1] if values[1] is not None else values[2]
            access = None if raw is None else _decode_access(raw)
        spent = refresh_digest is not None and values[-1] is not None
        return TokenLookup(access=access, family=family, refresh_spent=spent)

    async def rotate_refresh(
        self,
        family_id: str,
        current_digest: str,
        family: TokenFamily,
        access_digest: str,
        access: AccessToken,
    ) -> Outcome:
        k = self._keys
        keys = [
            k.family(family_id),
            k.spent(family_id, current_digest),
            k.access(family_id, access_digest),
            k.index(family_id),
        ]
        args: list[str | int] = [
            current_digest,
            _encode_family(family),
            self._ttl_ms(family.exp),
            _encode_access(access),
            self._ttl_ms(access.exp),
            access_name(access_digest),
            round(access.exp * 1000),
            round(self._clock() * 1000),
            family.refresh_digest,
            k.access_prefix(family_id),
            family_id,
            k.revoked,
        ]
        owners = self._owners(family.client_id, family.sub)
        outcome = _OUTCOMES[int(await self._listed(self._rotate, keys, args, owners, family_id, family.exp))]
        if outcome is Outcome.REUSED:  # a rotated-away refresh token presented again: the family was revoked
            await self._revoked(k.family(family_id), f"family:{family_id}")
        return outcome

    async def revoke_family(self, family_id: str, *, client_id: str | None = None) -> bool:
        k = self._keys
        keys = [k.family(family_id), k.index(family_id)]
        args = [client_id or "", k.access_prefix(family_id), family_id, k.revoked]
        return bool(await self._revoke(self._revoke_family, keys, args, f"family:{family_id}"))

    async def revoke_access(self, family_id: str, access_digest: str, *, client_id: str) -> bool:
        k = self._keys
        keys = [k.access(family_id, access_digest), k.access_as_before(family_id, access_digest)]
        name = access_name(access_digest)
        announcement = f"access:{family_id}:{name}"
        exchanged = k.exchanged_prefix(family_id)
        args = [client_id, k.revoked, announcement, k.access_prefix(family_id), exchanged, family_id, name]
        done = await self._revoke(self._delete_access, keys, args, announcement)
        if done == 2:  # tokens exchanged for it ended too: the script announced their family
            self._tell(f"family:{family_id}")
        return bool(done)

    # -- owner indexes: everything of a user or a client --------------------------------------------
    def _owners(self, client_id: str, sub: str | None) -> list[str]:
        """The owner indexes a grant is listed in: its client's, and its user's when it has one."""
        owners = [self._keys.client_grants(client_id)]
        if sub is not None:
            owners.append(self._keys.user_grants(sub))
        return owners

    async def _listed(
        self, script: Script, keys: list[str], args: list[str | int], owners: list[str], member: str, expires: float
    ) -> Any:
        """Run an issuing script that lists ``member`` in ``owners`` until ``expires``.

        On one server (or Sentinel's master) the script writes the indexes itself: one round trip, atomic. On a
        Cluster they live in other slots, so each is written first by its own call (concurrently), then the
        script runs: a crash in between leaves a listed grant that was never stored, which revoking ignores,
        never a stored grant that is not listed.
        """
        tail: list[str | int] = [member, round(expires * 1000), self._now_ms()]
        if self._cluster is None:
            return await self._run(script(keys=[*keys, *owners], args=[*args, *tail]))
        await asyncio.gather(*(self._run(self._list_grant(keys=[owner], args=tail)) for owner in owners))
        return await self._run(script(keys=keys, args=[*args, *tail]))

    async def revoke_user(self, sub: str) -> int:
        return await self._revoke_owner(self._keys.user_grants(sub), f"user:{sub}")

    async def revoke_client(self, client_id: str) -> int:
        return await self._revoke_owner(self._keys.client_grants(client_id), f"client:{client_id}")

    async def _revoke_owner(self, index: str, announcement: str) -> int:
        """End every member of ``index``, then announce ``announcement``.

        One server: one script, atomic. Cluster: the members are read, each is ended by one script in its
        family's slot (announcing ``family:``/``access:`` there), then they are removed from the index and the
        owner is announced; a grant issued meanwhile is listed after the read and survives, as it would had it
        been issued just after a one-step revocation.
        """
        k = self._keys
        parts = list(k.grant_parts())
        if self._cluster is None:
            args: list[str | int] = [k.revoked, announcement, *parts]
            return int(await self._revoke(self._revoke_grants, [index], args, announcement))
        members: list[bytes] = await self._run(self._grant_members(keys=[index], args=[]))
        names = [raw.decode() for raw in members]

        async def end(member: str) -> int:
            family = k.family(member.partition(":")[0])
            return int(await self._run(self._end_grant(keys=[family], args=[member, k.revoked, *parts])))

        ended = 0
        for start in range(0, len(names), 64):  # the families live on every node: ask them side by side
            ended += sum(await asyncio.gather(*map(end, names[start : start + 64])))
        forget: list[str | int] = [k.revoked, announcement, *names]
        await self._run(self._forget_grants(keys=[index], args=forget))
        # The families live on every primary: each owner of one of them waits for its replicas.
        slots = {self._keys.family(name.partition(":")[0]) for name in names}
        self._tell(announcement)
        await asyncio.gather(*(self._settle(key) for key in {index, *slots}))
        return ended

    # -- consents --------------------------------------------------------------------------------
    async def put_consent(self, sub: str, client_id: str, scope: str, *, expires_at: float) -> None:
        key = self._keys.consent(sub, client_id)
        await self._run(self._exec("SET", key, scope, "PX", self._ttl_ms(expires_at)))

    async def get_consent(self, sub: str, client_id: str) -> str | None:
        raw: bytes | None = await self._run(self._exec("GET", self._keys.consent(sub, client_id)))
        return None if raw is None else raw.decode()

    async def delete_consent(self, sub: str, client_id: str) -> bool:
        return bool(await self._run(self._once("DEL", self._keys.consent(sub, client_id))))

    # -- single-use values -----------------------------------------------------------------------
    async def claim_once(self, name: str, *, expires_at: float) -> bool:
        claim: list[str | int] = [secrets.token_urlsafe(12), self._ttl_ms(expires_at)]
        return bool(await self._run(self._claim(keys=[self._keys.once(name)], args=claim)))

    # -- failed attempts (rate limiting) ---------------------------------------------------------
    def _limit_keys(self, buckets: Sequence[Bucket], known: str) -> list[str]:
        return [self._keys.limit(name) for name in (known, *(b.key for b in buckets))]

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
        await self._run(self._exec("SET", self._keys.limit(known), "1", "PX", self._ttl_ms(expires_at)))

    # -- lifecycle -------------------------------------------------------------------------------
    async def ping(self) -> None:
        """Whether the store can serve: its server answers; on a Cluster, every primary answers and sees every
        slot covered (one dead primary makes a share of all requests fail, so the whole is not ready). Bounded
        by the connection's timeout."""
        if self._cluster is None:
            await self._run(self._exec("PING"))
            return
        cluster = self._cluster
        try:
            async with asyncio.timeout(_timeout_of(cluster)):
                try:
                    await self._primaries_ready(cluster)
                except (*_FAULTS, StoreUnavailable):  # the map may be stale after a failover
                    await cluster.nodes_manager.initialize()
                    await self._primaries_ready(cluster)
        except TimeoutError:
            raise StoreUnavailable("redis unavailable: a Cluster primary did not answer in time") from None
        except _FAULTS as exc:
            raise StoreUnavailable(f"redis unavailable: {type(exc).__name__}") from exc

    @staticmethod
    async def _primaries_ready(cluster: RedisCluster) -> None:
        await cluster.initialize()  # a no-op once the map is read
        primaries = cluster.get_primaries()
        if not primaries:
            raise StoreUnavailable("redis unavailable: no Cluster primary is known")
        infos = await asyncio.gather(*(cluster.execute_command("CLUSTER INFO", target_nodes=n) for n in primaries))
        for node, info in zip(primaries, infos, strict=True):
            state = info.get("cluster_state") if isinstance(info, dict) else None
            if state != "ok":
                raise StoreUnavailable(f"redis unavailable: Cluster node {node.name} reports cluster_state {state}")

    async def aclose(self) -> None:
        if self._ring is not None:
            self._ring.close()
        if self._replicas is not None:
            await self._replicas.aclose()
        if self._subscriber is not None:
            await self._subscriber.aclose()
        if self._pipeline is not None:
            await self._pipeline.aclose()
        await self._r.aclose()
        pool = getattr(self._r, "connection_pool", None)
        if isinstance(pool, SentinelConnectionPool):
            await pool.sentinel_manager.aclose()


class RedisParts:
    """What a feature's Redis part builds on: the store's connection, key schema and issuing steps, so that its
    scripts store tokens and list grants exactly as the store's own verbs do (one atomic step on one server,
    listed first on a Cluster), are sent again after a lost connection only when safe, and fail as 503.

    Scripts are a feature's own Lua, after the record layouts (the core's and ``layouts``) and any of the shared
    functions it calls: ``store_family_fn`` (a family and its first access token), ``listing_fn`` (``list_grant``:
    the owner indexes), ``revoke_family_fn``, ``grants_fn`` (reading and ending what the indexes hold; what it
    needs comes with it).
    """

    def __init__(self, store: RedisStore) -> None:
        self._store = store

    @property
    def redis(self) -> aioredis.Redis | RedisCluster:
        return self._store.redis

    def key(self, name: str) -> str:
        """A key of the feature's own under the store's prefix, outside every family (its own hash tag if any)."""
        return f"{self._store.key_prefix}:{name}"

    def member_key(self, family_id: str, kind: str, digest: str) -> str:
        """A key in family ``family_id``'s slot that revoking its owner deletes once listed as
        :meth:`member` ``(family_id, kind, digest)``; ``kind`` one letter of the feature's (not ``a`` or ``c``)."""
        return self._store._keys.member(family_id, kind, digest)

    @staticmethod
    def member(family_id: str, kind: str, digest: str) -> str:
        return grant_member(family_id, kind, digest)

    def family_keys(self, family_id: str, access_digest: str) -> list[str]:
        """The keys ``store_family`` writes, in its order: the family, the access token, the family's index."""
        keys = self._store._keys
        return [keys.family(family_id), keys.access(family_id, access_digest), keys.index(family_id)]

    def family_args(self, family: TokenFamily | None, access_digest: str, access: AccessToken) -> list[str | int]:
        """The arguments of ``store_family``, in its order."""
        return self._store._store_family_args(family, access_digest, access)

    def owners(self, client_id: str, sub: str | None) -> list[str]:
        """The owner indexes a grant of ``client_id`` (and user ``sub``) is listed in, for :meth:`listed`."""
        return self._store._owners(client_id, sub)

    def script(
        self, source: str, *, helpers: Sequence[str] = (), layouts: Sequence[Layout] = (), resend: bool = True
    ) -> Script:
        """A script of the feature's; ``resend=False`` when a second run would not answer as the first."""
        store = self._store
        return Script(store._exec if resend else store._once, _with_helpers(source, helpers, layouts))

    async def run(self, step: Awaitable[_T]) -> _T:
        """``step`` (a script call or :meth:`command`), failing as :class:`StoreUnavailable` when Redis is."""
        result: _T = await self._store._run(step)
        return result

    def command(self, *args: Any) -> Awaitable[Any]:
        """A command that may be sent again after a lost connection (a read, a plain overwrite); :meth:`run` it."""
        return self._store._exec(*args)

    async def listed(
        self, script: Script, keys: list[str], args: list[str | int], owners: list[str], member: str, expires: float
    ) -> Any:
        """Run ``script``, which ends by calling ``list_grant(first owner key's position, position of its last
        three arguments)`` (``helpers=("listing_fn",)``), so that ``member`` is listed in ``owners`` until
        ``expires``: revoking either ends it."""
        return await self._store._listed(script, keys, args, owners, member, expires)

    async def claim(self, key: str, value: str, *, expires_at: float) -> bool:
        """Set ``key`` to ``value`` unless it is held; a resent claim is recognised as its own."""
        store = self._store
        return bool(await store._run(store._claim(keys=[key], args=[value, store._ttl_ms(expires_at)])))

    def ttl_ms(self, expires_at: float) -> int:
        return self._store._ttl_ms(expires_at)

    def now_ms(self) -> int:
        return self._store._now_ms()

    @staticmethod
    def outcome(reply: Any) -> Outcome:
        """An issuing script's ``1``/``0``/``-1`` as DONE/MISSING/REUSED."""
        return _OUTCOMES[int(reply)]
