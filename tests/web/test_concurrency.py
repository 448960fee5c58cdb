"""Racing requests through the app: one refresh token, many concurrent uses, exactly one winner.

The store rotates atomically and treats every loser as a reuse of a spent token (RFC 9700 section
4.14.2), so after a race the whole family is revoked, the winner's new tokens included.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from asgi_oauth import RedisStore, Store

from .helpers import Server, assert_error, build_server

RACERS = 20


@pytest.fixture
async def worker2(server: Server, store: Store, redis_url: str, key_prefix: str) -> AsyncIterator[Server]:
    """A second server on the same data, as another worker process would be.

    On Redis it has its own connection pool; the memory store can only be shared in-process.
    """
    second_store: Store = store
    if isinstance(store, RedisStore):
        second_store = RedisStore.from_url(redis_url, key_prefix=key_prefix)
    other = build_server(second_store, server.oauth.settings, server.clients.values())
    try:
        yield other
    finally:
        await other.http.aclose()
        if second_store is not store:
            await second_store.aclose()


def split(responses: list[httpx.Response]) -> tuple[list[httpx.Response], list[httpx.Response]]:
    winners = [r for r in responses if r.status_code == 200]
    losers = [r for r in responses if r.status_code != 200]
    for loser in losers:
        assert_error(loser, "invalid_grant")
    return winners, losers


async def assert_family_revoked(server: Server, *tokens: str) -> None:
    for token in tokens:
        assert await server.introspect(token) == {"active": False}


async def test_concurrent_refreshes_have_exactly_one_winner(server: Server) -> None:
    tokens = await server.password_tokens()

    responses = await asyncio.gather(*(server.refresh(tokens["refresh_token"]) for _ in range(RACERS)))

    winners, losers = split(list(responses))
    assert len(winners) == 1
    assert len(losers) == RACERS - 1
    won = winners[0].json()
    assert won["refresh_token"] != tokens["refresh_token"]
    # The losers presented a token that was spent by then: reuse, so the family is gone.
    await assert_family_revoked(
        server, tokens["access_token"], tokens["refresh_token"], won["access_token"], won["refresh_token"]
    )
    assert_error(await server.refresh(won["refresh_token"]), "invalid_grant")
    assert_error(await server.refresh(tokens["refresh_token"]), "invalid_grant")


async def test_concurrent_refreshes_across_two_workers(server: Server, worker2: Server) -> None:
    tokens = await server.password_tokens()
    assert await worker2.active(tokens["access_token"])

    responses = await asyncio.gather(
        *(w.refresh(tokens["refresh_token"]) for _ in range(RACERS // 2) for w in (server, worker2))
    )

    winners, _ = split(list(responses))
    assert len(winners) == 1
    won = winners[0].json()
    for worker in (server, worker2):
        await assert_family_revoked(worker, tokens["access_token"], won["access_token"], won["refresh_token"])


async def test_a_token_from_one_worker_is_introspected_and_revoked_through_another(
    server: Server, worker2: Server
) -> None:
    tokens = await server.password_tokens()

    introspected = await worker2.introspect(tokens["access_token"])
    assert (introspected["active"], introspected["sub"]) == (True, "u-alice")
    refreshed = await worker2.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert (await worker2.revoke(refreshed.json()["refresh_token"], "app")).status_code == 200

    await assert_family_revoked(server, tokens["access_token"], refreshed.json()["access_token"])


async def test_concurrent_refreshes_of_different_grants_all_succeed(server: Server) -> None:
    grants = [await server.password_tokens() for _ in range(RACERS)]

    responses = await asyncio.gather(*(server.refresh(g["refresh_token"]) for g in grants))

    assert [r.status_code for r in responses] == [200] * RACERS
    refreshed = [r.json() for r in responses]
    assert len({r["refresh_token"] for r in refreshed}) == RACERS
    for body in refreshed:
        assert await server.active(body["access_token"])
        assert await server.active(body["refresh_token"])


async def test_concurrent_client_credentials_requests(server: Server) -> None:
    responses = await asyncio.gather(*(server.token("m2m", grant_type="client_credentials") for _ in range(RACERS)))

    assert [r.status_code for r in responses] == [200] * RACERS
    tokens = {r.json()["access_token"] for r in responses}
    assert len(tokens) == RACERS
    for token in tokens:
        assert await server.active(token)


async def test_refresh_racing_its_own_revocation_ends_consistent(server: Server) -> None:
    for _ in range(5):
        tokens = await server.password_tokens()

        refreshed, revoked = await asyncio.gather(
            server.refresh(tokens["refresh_token"]), server.revoke(tokens["refresh_token"], "app")
        )

        assert revoked.status_code == 200
        if refreshed.status_code == 200:
            # Either order is fine, but the family is whole: its new tokens live or die together.
            new = refreshed.json()
            assert await server.active(new["access_token"]) == await server.active(new["refresh_token"])
        else:
            assert_error(refreshed, "invalid_grant")
            assert not await server.active(tokens["access_token"])
            assert not await server.active(tokens["refresh_token"])
