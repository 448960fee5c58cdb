"""A refresh whose answer the client never got, through the real app on a real Redis behind a reply-losing proxy.

The rotation ran in Redis, its reply was lost and the resend could not connect, so the client got a 503 and
still holds the refresh token the rotation replaced. With ``REFRESH_TOKEN_GRACE_PERIOD`` it retries and keeps
its grant; without one (the default), or too late, presenting that token is reuse and ends the grant.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asgi_oauth import RedisStore

from ..proxy import ReplyDropper, redis_port
from .conftest import MakeServer
from .helpers import Server, assert_error


@pytest.fixture
async def dropper(redis_url: str) -> AsyncIterator[ReplyDropper]:
    proxy = ReplyDropper(redis_port(redis_url))
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


@pytest.fixture
async def proxied_store(dropper: ReplyDropper, key_prefix: str) -> AsyncIterator[RedisStore]:
    store = RedisStore.from_url(f"redis://127.0.0.1:{dropper.port}/0", key_prefix=key_prefix, timeout=2)
    try:
        yield store
    finally:
        await store.aclose()


async def lost_refresh(server: Server, dropper: ReplyDropper) -> tuple[dict[str, Any], str]:
    """Tokens from the password grant, then a refresh that happened in Redis but answered the client 503."""
    tokens = await server.password_tokens()
    # Once, so Redis knows the rotation script: the lost reply below is the one of a rotation that ran.
    assert (await server.refresh((await server.password_tokens())["refresh_token"])).status_code == 200
    dropper.drop_next_reply(after=b"EVALSHA", refuse=True)
    lost = await server.refresh(tokens["refresh_token"])
    dropper.accept()
    assert dropper.dropped == 1
    assert_error(lost, "temporarily_unavailable", 503)
    return tokens, tokens["refresh_token"]


async def test_a_retry_within_the_grace_period_gets_tokens_and_the_grant_survives(
    make_server: MakeServer, proxied_store: RedisStore, dropper: ReplyDropper
) -> None:
    server = await make_server(store=proxied_store, enable_password_grant=True, refresh_token_grace_period=30)
    tokens, held = await lost_refresh(server, dropper)

    retried = await server.refresh(held)
    assert retried.status_code == 200, retried.text
    fresh = retried.json()
    assert await server.active(fresh["access_token"])
    assert await server.active(tokens["access_token"])  # the grant lives: nothing of it was revoked
    # The new refresh token rotates as usual, and the one the client held is now spent for good.
    assert (await server.refresh(fresh["refresh_token"])).status_code == 200
    reused = await server.refresh(held)
    assert_error(reused, "invalid_grant")
    assert reused.json()["error_description"] == "refresh token was already used; its grant is revoked"
    assert not await server.active(fresh["access_token"])


async def test_without_a_grace_period_the_retry_is_reuse_and_ends_the_grant(
    make_server: MakeServer, proxied_store: RedisStore, dropper: ReplyDropper
) -> None:
    server = await make_server(store=proxied_store, enable_password_grant=True)
    tokens, held = await lost_refresh(server, dropper)

    retried = await server.refresh(held)
    assert_error(retried, "invalid_grant")
    assert retried.json()["error_description"] == "refresh token was already used; its grant is revoked"
    assert not await server.active(tokens["access_token"])


async def test_a_retry_after_the_grace_period_is_reuse(
    make_server: MakeServer, proxied_store: RedisStore, dropper: ReplyDropper
) -> None:
    server = await make_server(store=proxied_store, enable_password_grant=True, refresh_token_grace_period=0.3)
    tokens, held = await lost_refresh(server, dropper)
    await asyncio.sleep(0.5)

    assert_error(await server.refresh(held), "invalid_grant")
    assert not await server.active(tokens["access_token"])


async def test_the_grace_period_counts_from_the_first_rotation_however_often_it_is_retried(
    make_server: MakeServer, proxied_store: RedisStore, dropper: ReplyDropper
) -> None:
    server = await make_server(store=proxied_store, enable_password_grant=True, refresh_token_grace_period=0.6)
    tokens, held = await lost_refresh(server, dropper)
    await asyncio.sleep(0.4)
    assert (await server.refresh(held)).status_code == 200  # a retry inside the window
    await asyncio.sleep(0.4)  # 0.8 s after the first rotation: a retry here would extend it if it restarted
    assert_error(await server.refresh(held), "invalid_grant")
    assert not await server.active(tokens["access_token"])
