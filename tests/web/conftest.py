"""Fixtures for the HTTP tests: a factory for a real host app with the server mounted, on either store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import httpx
import pytest
from starlette.routing import BaseRoute

from asgi_oauth import Store, register_client
from asgi_oauth.protocol.context import PasswordVerifier

from .helpers import Registered, Server, build_server, default_clients, settings_for, verify_password


class MakeServer(Protocol):
    def __call__(
        self,
        *,
        stored: Iterable[Registered] | None = None,
        declared: Iterable[Registered] = (),
        store: Store = ...,
        password_verifier: PasswordVerifier | None = verify_password,
        routes: Sequence[BaseRoute] = (),
        oauth_options: Mapping[str, Any] | None = None,
        **settings: Any,
    ) -> Awaitable[Server]: ...


@pytest.fixture
async def make_server(store: Store) -> AsyncIterator[MakeServer]:
    """Build a server on the test's store (memory or Redis) with clients registered in that store.

    ``stored`` defaults to :func:`default_clients` (made once per test, so several servers on one store
    share them, like workers); ``declared`` clients are passed in code instead. Settings are the
    defaults but for the issuer and signing key, plus ``**settings``; ``oauth_options`` are more
    arguments for :class:`~asgi_oauth.OAuthServer`.
    """
    opened: list[httpx.AsyncClient] = []
    defaults = default_clients()
    registered: set[tuple[int, str]] = set()

    async def factory(
        *,
        stored: Iterable[Registered] | None = None,
        declared: Iterable[Registered] = (),
        store: Store = store,
        password_verifier: PasswordVerifier | None = verify_password,
        routes: Sequence[BaseRoute] = (),
        oauth_options: Mapping[str, Any] | None = None,
        **settings: Any,
    ) -> Server:
        stored = defaults if stored is None else list(stored)
        for client in stored:
            if (id(store), client.client_id) not in registered:
                await register_client(store, client.client)
                registered.add((id(store), client.client_id))
        built = build_server(
            store,
            settings_for(**settings),
            [*stored],
            declared,
            password_verifier=password_verifier,
            routes=routes,
            **(oauth_options or {}),
        )
        opened.append(built.http)
        return built

    try:
        yield factory
    finally:
        for http in opened:
            await http.aclose()


@pytest.fixture
async def server(make_server: MakeServer) -> Server:
    """The default cast of clients, with the password grant switched on (it is off by default)."""
    return await make_server(enable_password_grant=True)
