"""Schemathesis against the server's own /openapi.json: no server errors, and answers as documented.

The schema is loaded from the running ASGI app (``schemathesis.openapi.from_asgi``), so what is tested is
what the server publishes. The host app is built the way a deployment builds it: the server mounted at
``/oauth``, clients registered and the store closed in the host's lifespan. Schemathesis runs every
request (and that lifespan) on its own event loop thread, which is why the store is created here rather
than taken from the async ``store`` fixture: a Redis connection belongs to the loop that opened it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette
from starlette.routing import Mount

from asgi_oauth import MemoryStore, RedisStore, Store, register_client

from ..web.helpers import Registered, basic
from ..web.test_cimd import Documents
from .conftest import SCALE
from .harness import BASE_URL, EXAMPLES, FULL, MOUNTS, REQUESTS, fuzz_clients, fuzz_server

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass
class Host:
    app: Starlette
    clients: dict[str, Registered]


def host(store: Store) -> Host:
    clients = fuzz_clients()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for registered in clients:
            await register_client(store, registered.client)
        yield
        await store.aclose()

    # The /full mount's features, so every operation there is published and fuzzed (registration, userinfo, jwks).
    oauth = fuzz_server(store, Documents(), f"{BASE_URL}/oauth", {**MOUNTS[FULL], "metrics": False})
    app = Starlette(routes=[Mount("/oauth", app=oauth)], lifespan=lifespan)
    return Host(app, {c.client_id: c for c in clients})


#: Loaded once, over HTTP, from an app like the ones under test (the document depends on settings, not store).
schema = schemathesis.openapi.from_asgi("/oauth/openapi.json", host(MemoryStore()).app)


@pytest.fixture(params=["memory", "redis"])
def served(request: pytest.FixtureRequest, redis_url: str, key_prefix: str) -> Host:
    """The app each case is sent to; schemathesis ends its lifespan (closing the store) at teardown."""
    if request.param == "memory":
        return host(MemoryStore())
    return host(RedisStore.from_url(redis_url, key_prefix=key_prefix))


def budget(examples: int) -> settings:
    return settings(
        max_examples=max(1, round(examples * SCALE)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
    )


def run(case: schemathesis.Case[Any], served: Host, request: pytest.FixtureRequest, headers: dict[str, str]) -> None:
    EXAMPLES[request.node.nodeid] += 1
    REQUESTS[request.node.nodeid] += 1
    response = case.call_and_validate(checks=CHECKS, app=served.app, headers=headers)
    event(f"{case.operation.label} {response.status_code}")


@budget(25)
@schema.parametrize()
def test_published_operations(case: schemathesis.Case[Any], served: Host, request: pytest.FixtureRequest) -> None:
    """Every operation through all of schemathesis's phases (examples, coverage, fuzzing), credentials as generated."""
    run(case, served, request, {})


@budget(25)
@schema.parametrize()
@schema.given(client=st.sampled_from(["m2m", "app", "rs"]))
def test_published_operations_authenticated(
    case: schemathesis.Case[Any], client: str, served: Host, request: pytest.FixtureRequest
) -> None:
    """The same with a real client's HTTP Basic credentials, so the cases get past client authentication."""
    if isinstance(case.body, dict):
        case.body.pop("client_secret", None)
        case.body.pop("client_id", None)
    run(case, served, request, {"Authorization": basic(client, served.clients[client].secret or "")})
