"""Failed client authentications and password-grant sign-ins are limited per client, user and sender."""

from __future__ import annotations

from asgi_oauth import Store, register_client

from .conftest import MakeServer
from .helpers import TOKEN, assert_error, basic, register


async def test_client_auth_failures_turn_into_429_with_retry_after(make_server: MakeServer) -> None:
    server = await make_server(rate_limit_failures=3, rate_limit_window=30)
    wrong = {"Authorization": basic("m2m", "wrong-secret")}
    for _ in range(2):
        response = await server.http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=wrong)
        assert_error(response, "invalid_client", 401)
    limited = await server.http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=wrong)
    body = assert_error(limited, "temporarily_unavailable", 429)
    assert "too many failed attempts" in body["error_description"]
    assert 1 <= int(limited.headers["retry-after"]) <= 30
    # A generated 256-bit secret cannot be guessed, so the right one still works (no extra round trip).
    assert (await server.token("m2m", grant_type="client_credentials")).status_code == 200


async def test_a_person_chosen_secret_is_checked_before_it_is_verified(make_server: MakeServer, store: Store) -> None:
    chosen = register("chosen", grant_types=["client_credentials"], scope="read", client_secret="hunter2-hunter2")
    await register_client(store, chosen.client)
    server = await make_server(rate_limit_failures=2, rate_limit_window=30)
    for _ in range(2):
        await server.http.post(
            TOKEN, data={"grant_type": "client_credentials"}, headers={"Authorization": basic("chosen", "guess")}
        )
    right = await server.http.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers={"Authorization": basic("chosen", "hunter2-hunter2")}
    )
    assert_error(right, "temporarily_unavailable", 429)


async def test_password_failures_are_limited_per_user(make_server: MakeServer) -> None:
    server = await make_server(enable_password_grant=True, rate_limit_failures=2, rate_limit_window=30)
    for expected in (400, 429):
        response = await server.token("app", grant_type="password", username="alice", password="nope")
        assert response.status_code == expected, response.text
    blocked = await server.token("app", grant_type="password", username="alice", password="wonderland")
    assert_error(blocked, "temporarily_unavailable", 429)
    # Another user is not affected by alice's failures (the sender is: ASGITransport's client address).
    other = await make_server(enable_password_grant=True, rate_limit_failures=5, rate_limit_window=30)
    assert (await other.password_tokens(username="bob")).get("access_token")


async def test_limits_can_be_switched_off(make_server: MakeServer) -> None:
    server = await make_server(rate_limit_failures=0)
    wrong = {"Authorization": basic("m2m", "wrong-secret")}
    for _ in range(15):
        response = await server.http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=wrong)
        assert_error(response, "invalid_client", 401)
