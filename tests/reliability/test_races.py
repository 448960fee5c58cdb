"""Races on the real stack: ``asgi-oauth serve`` with 2 uvicorn workers on Redis, and an httpx client
firing concurrent requests over many connections (so both workers take part).

What the code guarantees (protocol/grants.py, protocol/revoke.py, the store's Lua scripts):

* **One code, 50 redemptions.** ``redeem_code`` spends the code and stores its tokens in one atomic
  step, so exactly one request gets a 200; every other one is a replay, which deletes the family
  issued from the code, so afterwards no token issued from it is active (RFC 6749 section 4.1.2).
* **One refresh token, 50 uses.** Rotation is a compare-and-set, so exactly one use gets new tokens;
  every loser presented a spent token, which revokes the family (RFC 9700 section 4.14.2): afterwards
  no token of the family is active, the winner's included.
* **Revoke racing refresh.** Once ``/revoke`` of a refresh token has answered 200, no token of its grant
  is active, whichever request Redis saw first: the refresh either failed (``invalid_grant``), or
  succeeded and its new tokens were revoked with the family.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from ..serving import Server, serving
from .stack import DemoClient, http_client, json_error, serve_env

pytestmark = pytest.mark.slow

RACERS = 50
#: Rounds of revoke racing refresh.
ROUNDS = 30
PASSWORD = secrets.token_urlsafe(12)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Server]:
    env = serve_env(
        redis_url,
        key_prefix=f"race{uuid.uuid4().hex[:10]}",
        enable_password_grant="1",
        demo_users=f"alice:{PASSWORD}",
    )
    with serving(tmp_path_factory.mktemp("races"), env, workers=2) as served:
        yield served


@pytest.fixture
async def demo(server: Server) -> AsyncIterator[DemoClient]:
    async with http_client(server.base_url, connections=RACERS + 10) as http:
        client = DemoClient(http, server.client_secret, server.base_url)
        await client.sign_in("alice", PASSWORD)
        yield client


def tally(responses: list[httpx.Response]) -> Counter[str]:
    return Counter(f"{r.status_code} {json_error(r) or 'ok'}" for r in responses)


async def family(demo: DemoClient) -> dict[str, Any]:
    response = await demo.password("alice", PASSWORD)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def inactive(demo: DemoClient, *tokens: str) -> bool:
    return not any(await asyncio.gather(*(demo.active(t) for t in tokens)))


async def test_one_code_redeemed_by_50_concurrent_requests(demo: DemoClient) -> None:
    outcomes: Counter[str] = Counter()
    winners_per_round: list[int] = []
    workers: set[str] = set()
    # At least 3 rounds, and more (up to 12) until both workers took part: each round races over new
    # connections, since one worker can accept a whole burst of them before the other wakes up.
    while len(winners_per_round) < 3 or (len(workers) < 2 and len(winners_per_round) < 12):
        code, verifier = await demo.authorization_code()

        async with http_client(demo.base_url, connections=RACERS) as fresh:
            racers = DemoClient(fresh, demo.secret, demo.base_url)
            responses = list(await asyncio.gather(*(racers.exchange(code, verifier) for _ in range(RACERS))))

        counts = tally(responses)
        outcomes.update(counts)
        winners = [r for r in responses if r.status_code == 200]
        winners_per_round.append(len(winners))
        assert len(winners) == 1, counts
        assert counts["400 invalid_grant"] == RACERS - len(winners), counts
        workers.update(r.headers["x-demo-worker"] for r in responses)
        for won in winners:
            tokens = won.json()
            assert await inactive(demo, tokens["access_token"], tokens["refresh_token"])
            assert (await demo.me(tokens["access_token"])).status_code == 401
            assert json_error(await demo.refresh(tokens["refresh_token"])) == "invalid_grant"
        assert json_error(await demo.exchange(code, verifier)) == "invalid_grant"
    assert len(workers) == 2, "both workers should have taken part"
    rounds = len(winners_per_round)
    print(f"code x{RACERS}, {rounds} rounds: {dict(outcomes)}; winners per round {winners_per_round}")


async def test_one_refresh_token_used_by_50_concurrent_requests(demo: DemoClient) -> None:
    outcomes: Counter[str] = Counter()
    for _ in range(3):
        tokens = await family(demo)

        responses = list(await asyncio.gather(*(demo.refresh(tokens["refresh_token"]) for _ in range(RACERS))))

        counts = tally(responses)
        outcomes.update(counts)
        assert counts == {"200 ok": 1, "400 invalid_grant": RACERS - 1}, counts
        (won,) = [r.json() for r in responses if r.status_code == 200]
        everything = (tokens["access_token"], tokens["refresh_token"], won["access_token"], won["refresh_token"])
        assert await inactive(demo, *everything)
        assert (await demo.me(won["access_token"])).status_code == 401
        assert json_error(await demo.refresh(won["refresh_token"])) == "invalid_grant"
    print(f"refresh x{RACERS}, 3 rounds: {dict(outcomes)}")


async def test_revoke_racing_refresh(demo: DemoClient) -> None:
    rng = random.Random(7)
    outcomes: Counter[str] = Counter()

    async def later(delay: float, request: Any) -> httpx.Response:
        await asyncio.sleep(delay)
        response: httpx.Response = await request
        return response

    for _ in range(ROUNDS):
        tokens = await family(demo)
        # A few milliseconds either way, so both orders (and interleavings) happen.
        refreshed, revoked = await asyncio.gather(
            later(rng.uniform(0, 0.004), demo.refresh(tokens["refresh_token"])),
            later(rng.uniform(0, 0.004), demo.revoke(tokens["refresh_token"])),
        )

        assert revoked.status_code == 200, revoked.text
        assert await inactive(demo, tokens["access_token"], tokens["refresh_token"])
        if refreshed.status_code == 200:
            new = refreshed.json()
            assert await inactive(demo, new["access_token"], new["refresh_token"]), "revoked grant still alive"
            assert (await demo.me(new["access_token"])).status_code == 401
            outcomes["refresh won, then its new tokens were revoked"] += 1
        else:
            assert json_error(refreshed) == "invalid_grant", refreshed.text
            outcomes["revoke won, refresh refused"] += 1
    print(f"revoke vs refresh, {ROUNDS} rounds: {dict(outcomes)}")


async def test_revoking_a_rotated_refresh_token_ends_the_grant(demo: DemoClient) -> None:
    """The ordering the race above can produce, made deterministic: refresh first, then revoke the
    refresh token the client had before. The grant ends; the tokens of the refresh die with it."""
    tokens = await family(demo)
    refreshed = await demo.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()

    assert (await demo.revoke(tokens["refresh_token"])).status_code == 200

    assert await inactive(demo, tokens["access_token"], new["access_token"], new["refresh_token"])
