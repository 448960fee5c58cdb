"""What only the Redis store promises: its key layout, no credentials at rest, and failing as StoreUnavailable."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis import exceptions as redis_exceptions
from redis.crc import key_slot

from asgi_oauth import crypto
from asgi_oauth.clients import new_client, register_client
from asgi_oauth.models import CodeReplayed, Outcome
from asgi_oauth.store import RedisStore, StoreUnavailable, records
from asgi_oauth.store import redis as store_redis
from asgi_oauth.store.records import access_name
from asgi_oauth.testing.records import Grant, access_record, at, client_record, code_record, family_record, redeem
from asgi_oauth.validation_cache import CacheOptions

from ..conftest import open_redis_store


def text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


async def all_keys(store: RedisStore) -> set[str]:
    return {text(key) async for key in store.redis.scan_iter(count=1000)}


async def dump(store: RedisStore, keys: set[str]) -> dict[str, str]:
    """Each key with its value rendered as text (hash fields and values joined), read with GET or HGETALL."""
    out: dict[str, str] = {}
    for key in keys:
        kind = text(await store.redis.type(key))
        if kind == "string":
            value = await store.redis.get(key)
            if value is not None:
                out[key] = text(value)
        elif kind == "hash":
            fields = await store.redis.hgetall(key)
            out[key] = "\n".join(f"{text(k)}={text(v)}" for k, v in fields.items())
        elif kind == "zset":  # rate-limit windows: failure times
            out[key] = "\n".join(text(m) for m in await store.redis.zrange(key, 0, -1))
        elif kind == "set":  # dynamic client ids
            out[key] = "\n".join(sorted(text(m) for m in await store.redis.smembers(key)))
        elif kind != "none":  # "none": expired between SCAN and TYPE
            pytest.fail(f"unexpected Redis type {kind!r} for {key!r}")
    return out


@dataclass
class Flow:
    """Raw credentials handed out during a full flow, and the family ids they belong to."""

    secrets: list[str]
    families: list[str]


async def run_full_flow(store: RedisStore) -> Flow:
    """Register a client, exchange a code, refresh, replay, remember consent and mint a lone token."""
    client, client_secret = new_client(
        name="Web", client_id="web", redirect_uris=["https://web.example/cb"], grant_types=["authorization_code"]
    )
    assert client_secret is not None
    await register_client(store, client)
    await store.create_client(client_record("cli", secret_hash=None, public=True, token_endpoint_auth_method="none"))
    flow = Flow(secrets=[client_secret], families=[])

    # authorization_code then refresh_token.
    grant = Grant.mint()
    flow.families.append(grant.family_id)
    flow.secrets += [grant.code, grant.access, grant.refresh]
    await store.put_code(grant.family_id, grant.code_digest, code_record(client_id="web"))
    family = family_record(grant.refresh_digest, client_id="web")
    assert Outcome.DONE is await store.redeem_code(
        grant.family_id,
        grant.code_digest,
        grant.access_digest,
        access_record(client_id="web"),
        family,
        replay_window=60,
    )
    new_refresh, new_refresh_digest = grant.next_refresh()
    new_access, new_access_digest = grant.next_access()
    flow.secrets += [new_refresh, new_access]
    assert Outcome.DONE is await store.rotate_refresh(
        grant.family_id,
        grant.refresh_digest,
        family_record(new_refresh_digest, client_id="web"),
        new_access_digest,
        access_record(client_id="web"),
    )

    # A second code, replayed after its exchange: its family is gone but its spent marker stays.
    replayed = Grant.mint()
    flow.families.append(replayed.family_id)
    flow.secrets += [replayed.code, replayed.access, replayed.refresh]
    await store.put_code(replayed.family_id, replayed.code_digest, code_record(client_id="web"))
    assert Outcome.DONE is await store.redeem_code(
        replayed.family_id,
        replayed.code_digest,
        replayed.access_digest,
        access_record(client_id="web"),
        family_record(replayed.refresh_digest, client_id="web"),
        replay_window=60,
    )
    assert await store.take_code(replayed.family_id, replayed.code_digest, replay_window=60) == CodeReplayed()

    # An unused code still waiting to be exchanged.
    pending = Grant.mint()
    flow.families.append(pending.family_id)
    flow.secrets.append(pending.code)
    await store.put_code(pending.family_id, pending.code_digest, code_record(client_id="web"))

    # client_credentials: a lone access token.
    lone_family, lone_token = crypto.new_token()
    flow.families.append(lone_family)
    flow.secrets.append(lone_token)
    await store.put_access(lone_family, crypto.digest(lone_token, "access"), access_record(client_id="web", sub=None))

    await store.put_consent("alice", "web", "read write", expires_at=at(3600))
    return flow


async def test_every_key_carries_the_prefix(redis_store: RedisStore, key_prefix: str) -> None:
    before = await all_keys(redis_store)
    await run_full_flow(redis_store)
    created = await all_keys(redis_store) - before
    assert created
    assert all(key.startswith(f"{key_prefix}:") for key in created), sorted(created)


async def test_family_keys_share_one_hash_tag(redis_store: RedisStore, key_prefix: str) -> None:
    flow = await run_full_flow(redis_store)
    keys = await all_keys(redis_store)
    mine = {key for key in keys if key.startswith(f"{key_prefix}:")}
    shared = {f"{key_prefix}:clients", f"{key_prefix}:consent:web:alice"}
    assert shared <= mine
    # What the client and the user hold (owner indexes), each in its own slot: the client's and alice's.
    owners = {key for key in mine if re.fullmatch(rf"{re.escape(key_prefix)}:\{{[uc]:[0-9a-f]{{32}}\}}:g", key)}
    assert owners == {redis_store._keys.client_grants("web"), redis_store._keys.user_grants("alice")}
    shared |= owners

    # An access token is named by its digest's first 22 characters (records.access_name), the rest by the digest.
    layout = re.compile(
        rf"{re.escape(key_prefix)}:\{{([A-Za-z0-9_-]{{22}})\}}:(f|x|a:[A-Za-z0-9_-]{{22}}|[cs]:[A-Za-z0-9_-]{{32}})"
    )
    tagged: dict[str, set[str]] = {}
    for key in mine - shared:
        match = layout.fullmatch(key)
        assert match is not None, f"{key!r} does not follow <prefix>:{{family}}:<kind>[:digest]"
        tagged.setdefault(match.group(1), set()).add(key)

    assert set(tagged) == set(flow.families)
    for family_id, family_keys in tagged.items():
        # Nothing of a family lives outside its hash tag, and everything in it maps to one Cluster slot.
        assert {key for key in keys if family_id in key} == family_keys
        assert len({key_slot(key.encode()) for key in family_keys}) == 1, sorted(family_keys)
    # The exchanged-and-refreshed family: record, both access tokens and their index, spent code and
    # spent refresh marker.
    kinds = sorted(key.split(":")[2] for key in tagged[flow.families[0]])
    assert kinds == ["a", "a", "c", "f", "s", "x"]


async def test_no_credential_is_stored_in_the_clear(redis_store: RedisStore) -> None:
    flow = await run_full_flow(redis_store)
    contents = await dump(redis_store, await all_keys(redis_store))
    assert contents
    haystack = "\n".join(f"{key}\n{value}" for key, value in contents.items())
    for raw in flow.secrets:
        # The whole value, and its secret half (a token's family id is public by design: the hash tag).
        assert raw not in haystack
        assert raw.rpartition(".")[2] not in haystack
    # The stored client record holds a tagged hash that still verifies the secret.
    client = await redis_store.get_client("web")
    assert client is not None
    assert client.secret_hash is not None
    assert client.secret_hash.startswith("sha256$")
    assert crypto.verify_secret(flow.secrets[0], client.secret_hash)


async def test_key_prefix_isolates_stores(redis_url: str, redis_store: RedisStore, key_prefix: str) -> None:
    other = RedisStore.from_url(redis_url, key_prefix=f"{key_prefix}x")
    try:
        await redis_store.create_client(client_record("web"))
        await redis_store.put_consent("alice", "web", "read", expires_at=at(60))
        grant = Grant.mint()
        await redis_store.put_family(
            grant.family_id, family_record(grant.refresh_digest), grant.access_digest, access_record()
        )
        assert await other.list_clients() == []
        assert await other.get_consent("alice", "web") is None
        assert (await other.lookup(grant.family_id, access_digest=grant.access_digest)).family is None
    finally:
        await other.aclose()


# -- Redis unreachable ---------------------------------------------------------------------------

StoreCall = Callable[[RedisStore], Awaitable[object]]

_GRANT = Grant.mint()
CALLS: dict[str, StoreCall] = {
    "ping": lambda s: s.ping(),
    "create_client": lambda s: s.create_client(client_record()),
    "get_client": lambda s: s.get_client("web"),
    "list_clients": lambda s: s.list_clients(),
    "delete_client": lambda s: s.delete_client("web"),
    "put_code": lambda s: s.put_code(_GRANT.family_id, _GRANT.code_digest, code_record()),
    "take_code": lambda s: s.take_code(_GRANT.family_id, _GRANT.code_digest, replay_window=60),
    "put_access": lambda s: s.put_access(_GRANT.family_id, _GRANT.access_digest, access_record()),
    "get_code": lambda s: s.get_code(_GRANT.family_id, _GRANT.code_digest),
    "redeem_code": lambda s: redeem(s, _GRANT),
    "put_family": lambda s: s.put_family(
        _GRANT.family_id, family_record(_GRANT.refresh_digest), _GRANT.access_digest, access_record()
    ),
    "lookup": lambda s: s.lookup(
        _GRANT.family_id, access_digest=_GRANT.access_digest, refresh_digest=_GRANT.refresh_digest
    ),
    "rotate_refresh": lambda s: s.rotate_refresh(
        _GRANT.family_id, _GRANT.refresh_digest, family_record("n" * 32), "m" * 32, access_record()
    ),
    "revoke_family": lambda s: s.revoke_family(_GRANT.family_id, client_id="web"),
    "revoke_access": lambda s: s.revoke_access(_GRANT.family_id, _GRANT.access_digest, client_id="web"),
    "put_consent": lambda s: s.put_consent("alice", "web", "read", expires_at=at(60)),
    "get_consent": lambda s: s.get_consent("alice", "web"),
    "delete_consent": lambda s: s.delete_consent("alice", "web"),
}


async def assert_unavailable(store: RedisStore, call: StoreCall) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await call(store)
    assert type(caught.value) is StoreUnavailable
    assert not isinstance(caught.value, redis_exceptions.RedisError)
    assert "redis unavailable" in str(caught.value)


@pytest.fixture
async def silent_store() -> AsyncIterator[RedisStore]:
    """A store pointed at a server that accepts connections and never answers: every command times out."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with open_redis_store(f"redis://127.0.0.1:{port}", timeout=0.2) as store:
            yield store
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("verb", sorted(CALLS))
async def test_refused_connection_raises_store_unavailable(unreachable_store: RedisStore, verb: str) -> None:
    await assert_unavailable(unreachable_store, CALLS[verb])


@pytest.mark.parametrize("verb", ["ping", "take_code", "lookup", "rotate_refresh", "get_client"])
async def test_silent_server_raises_store_unavailable_in_time(silent_store: RedisStore, verb: str) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await assert_unavailable(silent_store, CALLS[verb])
    # The configured timeout bounds the wait (with slack for retries); it never hangs.
    assert loop.time() - started < 3


class _MovedPool(aioredis.ConnectionPool):
    """A pool as a redis-py release that renamed ``connection_kwargs`` would look from outside redis-py: redis-py's
    own code still finds it (under its new name, as it were); asgi_oauth's reads of the old name fail."""

    def __getattribute__(self, name: str) -> Any:
        if name == "connection_kwargs" and sys._getframe(1).f_globals.get("__name__", "").startswith("asgi_oauth"):
            raise AttributeError(f"'{type(self).__name__}' object has no attribute 'connection_kwargs'")
        return super().__getattribute__(name)


async def test_a_redis_py_release_that_moved_the_fast_path_logs_one_warning_and_keeps_working(
    redis_url: str, key_prefix: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the pipelined connection reads from redis-py gone: one warning naming redis-py's version and the cure,
    then the store serves through redis-py's per-command path (and validates from the store, not from memory)."""
    monkeypatch.setattr(store_redis, "_moved_warned", False)
    caplog.set_level(logging.WARNING, logger="asgi_oauth")
    stores = [
        RedisStore(
            aioredis.Redis.from_pool(_MovedPool.from_url(redis_url)), key_prefix=key_prefix, cache=CacheOptions()
        ),
        RedisStore(
            aioredis.Redis.from_pool(_MovedPool.from_url(redis_url)), key_prefix=key_prefix, cache=CacheOptions()
        ),
    ]
    try:
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "redis-py" in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
        message = warnings[0].getMessage()
        assert redis.__version__ in message and "per-command" in message and "redis>=5.0.1,<9" in message
        for store in stores:
            assert store.validation_cache is None
            client = client_record(client_id=f"{key_prefix}-moved")
            await store.create_client(client)
            assert (await store.get_client(client.client_id)) == client
            await store.delete_client(client.client_id)
    finally:
        for store in stores:
            await store.aclose()


async def test_the_fast_path_is_taken_without_a_warning_on_the_tested_redis_py(
    redis_url: str, key_prefix: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above is not a warning every store logs: on the redis-py the lock installs, none, and the
    pipelined connection and the validation cache are both in use."""
    monkeypatch.setattr(store_redis, "_moved_warned", False)
    caplog.set_level(logging.WARNING, logger="asgi_oauth")
    async with open_redis_store(redis_url, key_prefix=key_prefix, cache=CacheOptions()) as store:
        assert store._pipeline is not None
        assert store.validation_cache is not None
    assert not [r for r in caplog.records if "redis-py" in r.getMessage()]


def _family_with_prefix(prefix: str) -> tuple[str, str]:
    """A token whose family id starts with ``prefix``: tokens that crowd one branch of an owner index."""
    family_id, _ = crypto.new_token()
    family_id = prefix + family_id[len(prefix) :]
    return crypto.new_token(family_id)


async def test_an_owner_index_stays_in_small_buckets_in_one_slot(redis_store: RedisStore) -> None:
    """Every bucket of a big index stays in Redis' compact encoding (at most 128 members and a marker), shares
    the index's Cluster slot, and revoking the owner still ends every grant: 400 tokens of one client, half of
    them in families starting "AB", so that branch splits twice."""
    raw = redis_store.redis
    index = redis_store._keys.client_grants("busy")
    tokens = [crypto.new_token() for _ in range(200)] + [_family_with_prefix("AB") for _ in range(200)]
    for family_id, token in tokens:
        await redis_store.put_access(
            family_id, crypto.digest(token, "access"), access_record(client_id="busy", sub=None)
        )
    buckets = [text(key) async for key in raw.scan_iter(match=index + "*", count=1000)]
    assert index in buckets and index + ":A" in buckets and index + ":AB" in buckets
    for key in buckets:
        assert text(await raw.object("encoding", key)) == "listpack", key
        assert await raw.zcard(key) <= 129, key
        assert await raw.pttl(key) > 0, key
        assert key_slot(key.encode()) == key_slot(index.encode())
    assert await raw.zscore(index, "~") is not None and await raw.zscore(index + ":AB", "~") is not None
    assert await redis_store.revoke_client("busy") == 400
    assert not [key async for key in raw.scan_iter(match=index + "*", count=1000)]
    for family_id, token in tokens:
        assert await redis_store.get_access(family_id, crypto.digest(token, "access")) is None


async def test_access_tokens_named_by_their_whole_digest_before_names_keep_working(
    redis_store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Releases before access-token names keyed and listed each token under its whole digest: such tokens
    validate, are revoked one by one, and end with their family and their owner, beside tokens named now."""
    raw, keys = redis_store.redis, redis_store._keys
    lone, revoked, family = Grant.mint(), Grant.mint(), Grant.mint()
    with monkeypatch.context() as earlier:  # the earlier release: a name was the whole digest
        earlier.setattr(records, "ACCESS_NAME_LENGTH", crypto.DIGEST_LENGTH)
        for grant in (lone, revoked):
            await redis_store.put_access(grant.family_id, grant.access_digest, access_record(sub="old-user"))
        record = family_record(family.refresh_digest, sub="old-user")
        await redis_store.put_family(family.family_id, record, family.access_digest, access_record(sub="old-user"))
    for grant in (lone, revoked, family):
        assert await raw.exists(keys.access_as_before(grant.family_id, grant.access_digest))
        assert not await raw.exists(keys.access(grant.family_id, grant.access_digest))
    new = Grant.mint()
    await redis_store.put_access(new.family_id, new.access_digest, access_record(sub="old-user"))
    assert await raw.exists(keys.access(new.family_id, new.access_digest))

    assert await redis_store.get_access(lone.family_id, lone.access_digest) is not None
    found = await redis_store.lookup(family.family_id, access_digest=family.access_digest)
    assert found.access is not None and found.family is not None
    assert await redis_store.revoke_access(revoked.family_id, revoked.access_digest, client_id="someone") is False
    assert await redis_store.revoke_access(revoked.family_id, revoked.access_digest, client_id="app") is True
    assert await redis_store.get_access(revoked.family_id, revoked.access_digest) is None
    assert await redis_store.revoke_family(family.family_id) is True
    assert (await redis_store.lookup(family.family_id, access_digest=family.access_digest)).access is None
    assert await redis_store.revoke_user("old-user") == 2  # the lone token of each release
    for grant in (lone, new):
        assert await redis_store.get_access(grant.family_id, grant.access_digest) is None


async def test_an_index_written_before_buckets_is_read_and_split(redis_store: RedisStore) -> None:
    """An earlier release kept each owner index as one sorted set, however big: its members are still ended,
    and the next grant listed splits it."""
    raw = redis_store.redis
    index = redis_store._keys.client_grants("old")
    tokens = [crypto.new_token() for _ in range(300)]
    expires = round(at(3600) * 1000)
    for family_id, token in tokens:
        digest = crypto.digest(token, "access")
        await raw.set(redis_store._keys.access(family_id, digest), b"x", px=3_600_000)  # overwritten just below
        await redis_store.put_access(family_id, digest, access_record(client_id="elsewhere", sub=None))
        await raw.zadd(index, {f"{family_id}:a:{access_name(digest)}": expires})  # as the earlier release listed it
    assert await raw.zcard(index) == 300 and await raw.zscore(index, "~") is None
    extra_family, extra = crypto.new_token()
    await redis_store.put_access(extra_family, crypto.digest(extra, "access"), access_record(client_id="old", sub=None))
    assert [text(m) for m in await raw.zrange(index, 0, -1)] == ["~"]  # split: the members moved to its buckets
    assert await redis_store.revoke_client("old") == 301
    for family_id, token in [*tokens, (extra_family, extra)]:
        assert await redis_store.get_access(family_id, crypto.digest(token, "access")) is None
