"""Two ``asgi-oauth serve`` processes on one Redis, the cache on (the default): whatever one of them revokes,
the other refuses on its very next request, even with its subscription killed or Redis frozen."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import redis

from ..proxy import DelayingProxy, proxy_thread, redis_port
from ..reliability.stack import DemoClient, redis_server, serve_env
from ..serving import Server, run_cli, serving

TRIALS = 25


@contextmanager
def two_servers(tmp_path: Path, redis_url: str, **settings: str) -> Iterator[tuple[Server, Server]]:
    """Workers A and B: separate processes on separate ports, one issuer, one store."""
    env = serve_env(redis_url, key_prefix="revocation", **settings)
    with ExitStack() as stack:
        a = stack.enter_context(serving(tmp_path / "a", env))
        b = stack.enter_context(serving(tmp_path / "b", env))
        yield a, b


@asynccontextmanager
async def demo_clients(server_a: Server, server_b: Server) -> AsyncIterator[tuple[DemoClient, DemoClient]]:
    """The demo client talking to A and to B (A printed its secret; B found the client already there)."""
    async with (
        httpx.AsyncClient(base_url=server_a.base_url) as ha,
        httpx.AsyncClient(base_url=server_b.base_url) as hb,
    ):
        yield (
            DemoClient(ha, server_a.client_secret, server_a.base_url),
            DemoClient(hb, server_a.client_secret, server_b.base_url),
        )


@contextmanager
def announcements(url: str) -> Iterator[Callable[[], bytes]]:
    """This test's own subscription to the revocation channel; the callable waits (bounded) for the next
    announcement. Redis writes an announcement to every subscriber in one pass, so once this subscription has
    it, every server's socket has it too: waiting for it allows the channel's latency, and nothing more."""
    listener = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
    listener.subscribe("revocation:revoked")

    def next_announcement() -> bytes:
        message = next(m for _ in range(100) if (m := listener.get_message(timeout=0.1)) is not None)
        data: bytes = message["data"]
        return data

    try:
        yield next_announcement
    finally:
        listener.close()


async def subscribed(admin: redis.Redis, servers: int) -> None:
    """Wait (bounded) until ``servers`` subscriptions listen on the revocation channel again."""
    for _ in range(1000):
        ((_, listening),) = admin.pubsub_numsub("revocation:revoked")
        if listening >= servers:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the servers never subscribed again")


async def cached_token(a: DemoClient, b: DemoClient) -> str:
    """A token issued by A that B has validated, so B holds it in memory."""
    issued = await a.client_credentials()
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    assert (await b.me(token)).status_code == 200
    assert (await b.me(token)).status_code == 200
    return str(token)


async def test_revoked_through_one_worker_refused_by_the_other_at_once(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as store, two_servers(tmp_path, store.url) as (server_a, server_b):
        async with demo_clients(server_a, server_b) as (a, b):
            answers = []
            with announcements(store.url) as announced:
                for _ in range(TRIALS):
                    token = await cached_token(a, b)
                    assert (await a.revoke(token)).status_code == 200
                    assert announced().startswith(b"access:")  # the channel's latency, no timer
                    answers.append((await b.me(token)).status_code)
                    assert not await b.active(token)
            assert answers == [401] * TRIALS


async def test_a_killed_subscription_accepts_no_revoked_token(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as store, two_servers(tmp_path, store.url) as (server_a, server_b):
        admin = redis.Redis.from_url(store.url)
        async with demo_clients(server_a, server_b) as (a, b):
            answers = []
            for _ in range(TRIALS):
                token = await cached_token(a, b)  # (the first request a server validates starts its subscription)
                await subscribed(admin, 2)
                assert admin.execute_command("CLIENT KILL TYPE pubsub") == 2  # both servers' subscriptions
                assert (await a.revoke(token)).status_code == 200  # announced to nobody
                answers.append((await b.me(token)).status_code)
            assert answers == [401] * TRIALS
        admin.close()


async def test_a_frozen_redis_accepts_no_revoked_token(tmp_path: Path) -> None:
    """SIGSTOP right after the revocation's announcement went out: B answers 401 (it read the announcement)
    or 503 (it has not, and cannot read the store), never 200. And a token B holds in memory is no longer
    served once the lease lapses."""
    with (
        redis_server(tmp_path / "redis") as store,
        two_servers(tmp_path, store.url, redis_timeout="0.5") as (server_a, server_b),
    ):
        async with demo_clients(server_a, server_b) as (a, b):
            answers = []
            with announcements(store.url) as announced:
                for _ in range(10):
                    token = await cached_token(a, b)
                    assert (await a.revoke(token)).status_code == 200
                    assert announced().startswith(b"access:")  # the channel's latency, no timer
                    store.freeze()
                    try:
                        answers.append((await b.me(token)).status_code)
                    finally:
                        store.thaw()
            assert 200 not in answers, answers

            kept = await cached_token(a, b)
            store.freeze()
            try:
                statuses = []
                deadline = time.monotonic() + 10
                while 503 not in statuses:  # within the lease from memory, then the store's timeout
                    assert time.monotonic() < deadline, f"still served from memory: {Counter(statuses)}"
                    statuses.append((await b.me(kept)).status_code)
                    assert statuses[-1] in (200, 503)
            finally:
                store.thaw()
            assert (await b.me(kept)).status_code == 200


def test_a_deleted_client_is_refused_by_every_worker_at_once(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as store, two_servers(tmp_path, store.url) as (server_a, server_b):
        env = serve_env(store.url, key_prefix="revocation")
        created = run_cli(
            "clients", "create", "--name", "Batch job", "--grant-type", "client_credentials", "--scope", "read", env=env
        )
        assert created.returncode == 0, created.stderr
        client = json.loads(created.stdout)
        auth = (client["client_id"], client["client_secret"])
        form = {"grant_type": "client_credentials", "scope": "read"}
        for server in (server_a, server_b):  # each worker now holds the client's record
            assert httpx.post(f"{server.issuer}/token", data=form, auth=auth).status_code == 200
        deleted = run_cli("clients", "delete", client["client_id"], env=env)
        assert deleted.returncode == 0, deleted.stderr
        for server in (server_a, server_b):
            refused = httpx.post(f"{server.issuer}/token", data=form, auth=auth)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"] == "invalid_client"


# -- the gap between a revocation's reply and its announcement, widened on purpose --------------------------

#: How late the proxy delivers what Redis sends to revocation subscriptions: far longer than a client takes to
#: hear "revoked" and ask again, so without a guarantee by design the old answer would come from memory.
DELAY = 0.5


async def answered_from_memory(client: DemoClient, token: str, proxy: DelayingProxy) -> None:
    """Wait (bounded) until ``client``'s server answers ``token`` without sending Redis a command."""
    deadline = time.monotonic() + 30
    while True:
        before = proxy.commands
        assert (await client.me(token)).status_code == 200
        if proxy.commands == before:
            return
        assert time.monotonic() < deadline, "the server never answered from memory"
        await asyncio.sleep(0.05)


#: A lease the delayed heartbeats still renew (a heartbeat every half second, answered half a second late).
DELAYED = {"validation_cache_lease": "2", "enable_password_grant": "1"}


async def test_no_worker_of_the_machine_accepts_a_token_once_its_revocation_answered(tmp_path: Path) -> None:
    """A revokes; Redis's announcement reaches both subscriptions half a second later; B, then A itself, are asked
    at once and refuse anyway: an access token revoked alone, and one whose family ended with its refresh token."""
    with (
        redis_server(tmp_path / "redis") as store,
        proxy_thread(DelayingProxy(redis_port(store.url), DELAY, marker=b"-revocations")) as proxy,
        two_servers(tmp_path, proxy.url, **DELAYED) as (server_a, server_b),
    ):
        async with demo_clients(server_a, server_b) as (a, b):
            answers = []
            for _ in range(3):
                for issued in (await a.client_credentials(), await a.password("alice", "wonderland")):
                    assert issued.status_code == 200, issued.text
                    token = issued.json()["access_token"]
                    await answered_from_memory(a, token, proxy)
                    await answered_from_memory(b, token, proxy)
                    revoked = issued.json().get("refresh_token", token)  # a family ends with its refresh token
                    assert (await a.revoke(revoked)).status_code == 200
                    answers += [(await b.me(token)).status_code, (await a.me(token)).status_code]
            assert answers == [401] * len(answers)
