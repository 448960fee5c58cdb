"""Everything of a user or a client revoked in one step: through the server's Python call and the CLI, on a
real Redis, with the announcements a per-worker cache consumes observed by a real subscriber."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from asgi_oauth import RedisStore
from asgi_oauth.store.records import access_name
from asgi_oauth.testing.records import Grant, access_record, code_record, family_record

from ..serving import clean_env, run_cli
from ..store.test_revocation_channel import announced
from ..web.conftest import MakeServer
from ..web.helpers import Server


@pytest.fixture
async def channel(redis_url: str, key_prefix: str) -> AsyncIterator[aioredis.client.PubSub]:
    client = aioredis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(f"{key_prefix}:revoked")
    await pubsub.get_message(timeout=1)  # the subscription's confirmation
    try:
        yield pubsub
    finally:
        await pubsub.aclose()
        await client.aclose()


async def alice_and_bob(server: Server) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Two password grants of alice at two clients, and one of bob."""
    alices = [await server.password_tokens("app"), await server.password_tokens("app-post")]
    bob = await server.password_tokens("app", username="bob")
    return alices, bob


async def test_revoke_user_ends_every_token_of_the_user_through_the_server(
    make_server: MakeServer, channel: aioredis.client.PubSub
) -> None:
    server = await make_server(enable_password_grant=True)
    alices, bob = await alice_and_bob(server)
    machine = await server.token_ok("m2m", grant_type="client_credentials", scope="read")
    refreshed = (await server.refresh(alices[0]["refresh_token"])).json()  # a rotation keeps it listed
    await announced(channel)

    assert await server.oauth.revoke_user("u-alice") == 2
    for tokens in (*alices, refreshed):
        assert not await server.active(tokens["access_token"])
        assert not await server.active(tokens["refresh_token"])
    assert (await server.refresh(refreshed["refresh_token"])).json()["error"] == "invalid_grant"
    assert await server.active(bob["access_token"]) and await server.active(machine["access_token"])

    messages = await announced(channel)
    assert messages[-1] == "user:u-alice"  # the owner last, after each family it ended
    families = sorted(m.removeprefix("family:") for m in messages[:-1])
    assert families == sorted(t["access_token"].partition(".")[0] for t in alices)


async def test_revoke_client_ends_its_machine_and_user_tokens(
    make_server: MakeServer, channel: aioredis.client.PubSub
) -> None:
    server = await make_server(enable_password_grant=True)
    alices, bob = await alice_and_bob(server)
    machine = await server.token_ok("m2m", grant_type="client_credentials", scope="read")
    other_machine = await server.token_ok("m2m-post", grant_type="client_credentials", scope="read")
    await announced(channel)

    assert await server.oauth.revoke_client("app") == 2  # alice's and bob's grants at "app"
    assert await server.oauth.revoke_client("m2m") == 1
    for tokens in (alices[0], bob, machine):
        assert not await server.active(tokens["access_token"])
    assert await server.active(alices[1]["access_token"]) and await server.active(other_machine["access_token"])
    # The clients stay registered and get tokens again.
    assert await server.active((await server.password_tokens("app"))["access_token"])

    messages = await announced(channel)
    lone = f"access:{machine['access_token'].partition('.')[0]}:"
    assert messages[2] == "client:app" and messages[3].startswith(lone) and messages[4] == "client:m2m"
    assert sorted(messages[:2]) == sorted(f"family:{t['access_token'].partition('.')[0]}" for t in (alices[0], bob))


@pytest.mark.parametrize("deployment", ["redis", "cluster"])
async def test_announcements_on_one_server_and_on_a_cluster(
    request: pytest.FixtureRequest, deployment: str, key_prefix: str
) -> None:
    """On a Cluster the revocation goes family by family, each announced from its own slot, then the owner; the
    messages come from several nodes, so a subscriber gets them all but not necessarily the owner last."""
    from ..conftest import open_redis_store

    url: str = request.getfixturevalue("redis_url" if deployment == "redis" else "redis_cluster_url")
    # A Cluster's PUBLISH reaches subscribers on every node: listen on the first one named.
    host, _, port = url.partition("://")[2].split(",")[0].split("/")[0].rpartition(":")
    plain = aioredis.Redis(host=host, port=int(port))
    pubsub = plain.pubsub()
    async with open_redis_store(url, key_prefix=key_prefix) as store:
        await pubsub.subscribe(f"{key_prefix}:revoked")
        await pubsub.get_message(timeout=1)
        try:
            grants = [Grant.mint() for _ in range(3)]
            for grant in grants[:2]:
                family = family_record(grant.refresh_digest)
                await store.put_family(grant.family_id, family, grant.access_digest, access_record())
            await store.put_access(grants[2].family_id, grants[2].access_digest, access_record())
            pending = Grant.mint()
            await store.put_code(pending.family_id, pending.code_digest, code_record())
            assert await store.revoke_user("alice") == 3
            assert await store.get_code(pending.family_id, pending.code_digest) is None
            messages = await announced(pubsub)
        finally:
            await pubsub.aclose()
            await plain.aclose()
    lone = grants[2]
    ended = {f"family:{g.family_id}" for g in grants[:2]}
    ended.add(f"access:{lone.family_id}:{access_name(lone.access_digest)}")
    assert sorted(messages) == sorted([*ended, "user:alice"])
    if deployment == "redis":  # one script: the owner last; a Cluster's nodes relay in no common order
        assert messages[-1] == "user:alice"


async def test_cli_revokes_a_user_and_a_client(redis_url: str, redis_store: RedisStore, key_prefix: str) -> None:
    env = clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_KEY_PREFIX=key_prefix)
    alice, carol = Grant.mint(), Grant.mint()
    await redis_store.put_family(
        alice.family_id, family_record(alice.refresh_digest), alice.access_digest, access_record()
    )
    await redis_store.put_access(carol.family_id, carol.access_digest, access_record(sub="carol", client_id="job"))

    revoked = run_cli("tokens", "revoke", "--user", "alice", env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout) == {"user": "alice", "revoked": 1}
    assert (await redis_store.lookup(alice.family_id, access_digest=alice.access_digest)).family is None
    assert await redis_store.get_access(carol.family_id, carol.access_digest) is not None

    revoked = run_cli("tokens", "revoke", "--client", "job", env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout) == {"client_id": "job", "revoked": 1}
    assert await redis_store.get_access(carol.family_id, carol.access_digest) is None
    again = run_cli("tokens", "revoke", "--client", "job", env=env)
    assert json.loads(again.stdout) == {"client_id": "job", "revoked": 0}


def test_cli_refuses_a_revocation_without_an_owner_or_a_store(redis_url: str) -> None:
    with_redis = clean_env(ASGI_OAUTH_REDIS_URL=redis_url)
    for args, env, fragment in [
        (("tokens", "revoke"), with_redis, "one of the arguments --user --client"),
        (("tokens", "revoke", "--user", "a", "--client", "b"), with_redis, "not allowed"),
        (("tokens", "revoke", "--user", "alice"), clean_env(), "tokens commands need ASGI_OAUTH_REDIS_URL"),
    ]:
        result = run_cli(*args, env=env)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert len(result.stderr.splitlines()) == 1 and fragment in result.stderr, result.stderr


async def test_cli_says_when_redis_is_unreachable() -> None:
    from ..serving import assert_one_line_error, free_port

    env = clean_env(ASGI_OAUTH_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", ASGI_OAUTH_REDIS_TIMEOUT="0.5")
    assert_one_line_error(run_cli("tokens", "revoke", "--user", "alice", env=env), "cannot reach Redis")
