"""Failed client authentications and password-grant sign-ins, limited per (principal, address), per address and
per principal, through the real app on both stores; other senders come in on other client addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from asgi_oauth import Store, register_client

from .conftest import MakeServer
from .helpers import BASE_URL, TOKEN, Server, assert_error, basic, register

CHOSEN_SECRET = "hunter2-hunter2"


@dataclass
class Place:
    """Requests to ``server`` that arrive from one client address."""

    server: Server
    http: httpx.AsyncClient

    async def cc(self, client_id: str, secret: str) -> httpx.Response:
        headers = {"Authorization": basic(client_id, secret)}
        return await self.http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=headers)

    async def password(self, username: str, secret: str) -> httpx.Response:
        form = {"grant_type": "password", "username": username, "password": secret}
        app = {"Authorization": basic("app", self.server.clients["app"].secret or "")}
        return await self.http.post(TOKEN, data=form, headers=app)


@asynccontextmanager
async def at(server: Server, address: str) -> AsyncIterator[Place]:
    transport = httpx.ASGITransport(app=server.app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield Place(server, http)


@pytest.fixture
async def limited(make_server: MakeServer, store: Store) -> Server:
    """Small numbers so each window fills quickly: pair 2, address 4, principal 4."""
    chosen = register("chosen", grant_types=["client_credentials"], scope="read", client_secret=CHOSEN_SECRET)
    await register_client(store, chosen.client)
    return await make_server(
        enable_password_grant=True,
        rate_limit_failures=2,
        rate_limit_address_failures=4,
        rate_limit_principal_failures=4,
        rate_limit_window=30,
        rate_limit_principal_window=60,
    )


def assert_throttled(response: httpx.Response, window: int = 60) -> None:
    body = assert_error(response, "temporarily_unavailable", 429)
    assert "too many failed attempts" in body["error_description"]
    assert 1 <= int(response.headers["retry-after"]) <= window


async def test_client_auth_failures_turn_into_429_with_retry_after(make_server: MakeServer) -> None:
    server = await make_server(rate_limit_failures=3, rate_limit_window=30)
    wrong = {"Authorization": basic("m2m", "wrong-secret")}
    for _ in range(3):  # three failures allowed, each answered as one; the fourth attempt is refused
        response = await server.http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=wrong)
        assert_error(response, "invalid_client", 401)
    limited = await server.http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=wrong)
    assert_throttled(limited, 30)
    # A generated 256-bit secret cannot be guessed, so the right one still works (no extra round trip).
    assert (await server.token("m2m", grant_type="client_credentials")).status_code == 200


async def test_a_person_chosen_secret_is_checked_before_it_is_verified_at_the_guessing_address(limited: Server) -> None:
    async with at(limited, "127.0.0.2") as attacker, at(limited, "127.0.0.3") as owner:
        assert_error(await attacker.cc("chosen", "guess-1"), "invalid_client", 401)
        assert_error(await attacker.cc("chosen", "guess-2"), "invalid_client", 401)
        assert_throttled(await attacker.cc("chosen", "guess-3"))
        # The guessing address is refused even with the right secret: it is not verified at all.
        assert_throttled(await attacker.cc("chosen", CHOSEN_SECRET))
        # The client itself, elsewhere, is not.
        assert (await owner.cc("chosen", CHOSEN_SECRET)).status_code == 200


async def test_password_failures_lock_the_pair_not_the_user_nor_the_address(limited: Server) -> None:
    async with at(limited, "127.0.0.2") as attacker, at(limited, "127.0.0.3") as alice:
        assert_error(await attacker.password("alice", "nope"), "invalid_grant")
        assert_error(await attacker.password("alice", "nope"), "invalid_grant")
        assert_throttled(await attacker.password("alice", "nope"))
        assert_throttled(await attacker.password("alice", "wonderland"))
        # alice from her own address, and bob behind the guessing address, sign in.
        assert (await alice.password("alice", "wonderland")).status_code == 200
        assert (await attacker.password("bob", "builder")).status_code == 200


async def test_guessing_from_many_addresses_refuses_only_unproven_places(limited: Server) -> None:
    async with at(limited, "127.0.0.9") as home:
        assert (await home.password("alice", "wonderland")).status_code == 200  # alice's address is now known
    # Five addresses, one guess each: under every pair and address limit, but alice's principal count fills
    # with the fourth, so the fifth is refused.
    for n in range(2, 7):
        async with at(limited, f"127.0.1.{n}") as attacker:
            response = await attacker.password("alice", "nope")
        assert response.status_code == (429 if n == 6 else 400), response.text
    async with at(limited, "127.0.0.10") as new_place, at(limited, "127.0.0.9") as known_place:
        assert_throttled(await new_place.password("alice", "wonderland"))
        assert (await known_place.password("alice", "wonderland")).status_code == 200
        assert (await new_place.password("bob", "builder")).status_code == 200


async def test_a_clients_known_address_keeps_working_under_distributed_guessing(limited: Server) -> None:
    async with at(limited, "127.0.0.7") as owner:
        assert (await owner.cc("chosen", CHOSEN_SECRET)).status_code == 200
        for n in range(2, 6):
            async with at(limited, f"127.0.2.{n}") as attacker:
                await attacker.cc("chosen", "guess")
        async with at(limited, "127.0.0.8") as elsewhere:
            assert_throttled(await elsewhere.cc("chosen", CHOSEN_SECRET))
        assert (await owner.cc("chosen", CHOSEN_SECRET)).status_code == 200


async def test_credential_stuffing_from_one_address_refuses_it_but_not_the_users_known_there(limited: Server) -> None:
    async with at(limited, "127.0.0.4") as shared:
        assert (await shared.password("bob", "builder")).status_code == 200  # bob signed in here before
        for name in ("mallory", "trent", "victor", "walter"):
            assert_error(await shared.password(name, "guess"), "invalid_grant")
        assert_throttled(await shared.password("peggy", "guess"))
        # The address is refused for those never seen there, not for bob.
        assert_throttled(await shared.password("alice", "wonderland"))
        assert (await shared.password("bob", "builder")).status_code == 200
    async with at(limited, "127.0.0.5") as elsewhere:
        assert (await elsewhere.password("alice", "wonderland")).status_code == 200


async def test_limits_can_be_switched_off(make_server: MakeServer) -> None:
    server = await make_server(rate_limit_failures=0)
    wrong = {"Authorization": basic("m2m", "wrong-secret")}
    for _ in range(15):
        response = await server.http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=wrong)
        assert_error(response, "invalid_client", 401)
