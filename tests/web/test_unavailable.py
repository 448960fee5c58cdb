"""Redis unreachable: 503 ``temporarily_unavailable`` JSON, never a 500, a silent 401 or an unstored token."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from asgi_oauth import RedisStore, crypto

from .helpers import INTROSPECT, REVOKE, Server, assert_error, build_server, register, settings_for


@pytest.fixture
async def down(unreachable_store: RedisStore) -> AsyncIterator[Server]:
    """A server whose store is a Redis nobody listens on; its clients are declared in code."""
    clients = [
        register("m2m", grant_types=["client_credentials"], scope="read"),
        register("app", grant_types=["password", "refresh_token"], scope="read"),
        register("rs", grant_types=[], introspect_any=True),
    ]
    server = build_server(unreachable_store, settings_for(enable_password_grant=True), declared=clients)
    try:
        yield server
    finally:
        await server.http.aclose()


def assert_unavailable(response: httpx.Response) -> None:
    assert_error(response, "temporarily_unavailable", 503)
    assert "access_token" not in response.text
    assert "active" not in response.text


async def test_client_credentials_issues_nothing(down: Server) -> None:
    started = time.monotonic()

    response = await down.token("m2m", grant_type="client_credentials")

    assert_unavailable(response)
    assert time.monotonic() - started < 5


async def test_password_grant_issues_nothing(down: Server) -> None:
    assert_unavailable(await down.token("app", grant_type="password", username="alice", password="wonderland"))


async def test_refresh_issues_nothing(down: Server) -> None:
    _, refresh = crypto.new_token()

    assert_unavailable(await down.refresh(refresh))


async def test_introspection_is_503_not_inactive(down: Server) -> None:
    _, token = crypto.new_token()

    assert_unavailable(await down.post(INTROSPECT, {"token": token}, client="rs"))


async def test_revocation_is_503_not_a_silent_200(down: Server) -> None:
    _, token = crypto.new_token()

    response = await down.post(REVOKE, {"token": token}, client="m2m")

    assert_unavailable(response)


async def test_clients_kept_in_the_store_are_503_not_401(unreachable_store: RedisStore) -> None:
    # A client that is not declared in code must be looked up in the (unreachable) store.
    server = build_server(unreachable_store, settings_for(), [register("stored", grant_types=["client_credentials"])])
    try:
        response = await server.token("stored", grant_type="client_credentials")
        unknown = await server.http.post(
            INTROSPECT, data={"token": "x", "client_id": "someone", "client_secret": "something"}
        )
    finally:
        await server.http.aclose()

    assert_unavailable(response)
    assert_unavailable(unknown)


async def test_request_errors_still_win_over_the_store(down: Server) -> None:
    # Nothing about these needs the store, so they are answered as usual.
    assert_error(await down.token("m2m", grant_type="client_credentials", scope="write"), "invalid_scope")
    assert_error(await down.token("m2m", grant_type="magic"), "unsupported_grant_type")
    assert_error(await down.http.get("/oauth/token"), "invalid_request", 405)
    assert (await down.introspect("malformed"))["active"] is False


async def test_secrets_stay_out_of_the_logs(down: Server, caplog: pytest.LogCaptureFixture) -> None:
    _, refresh = crypto.new_token()
    secret = down.clients["app"].secret or ""
    caplog.set_level(logging.DEBUG)

    assert_unavailable(await down.refresh(refresh))

    assert caplog.records, "the outage should be logged"
    assert refresh not in caplog.text
    assert refresh.split(".")[1] not in caplog.text
    assert secret not in caplog.text
