"""The README's examples mounted for real: an extension grant and a JSON endpoint, each one module plus one line.

Through HTTP (a Starlette host, httpx over ASGI) on memory and Redis: the grant issues tokens and the endpoint
answers 201, and both appear in the RFC 8414 metadata and the OpenAPI document without being listed anywhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import jsonschema_rs
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31

from asgi_oauth import Store, register_client
from asgi_oauth.protocol.grants import DEFAULT_GRANTS
from asgi_oauth.web.endpoints import DEFAULT_ENDPOINTS

from ..web.helpers import (
    ISSUER,
    METADATA,
    TOKEN,
    Registered,
    Server,
    assert_error,
    build_server,
    register,
    settings_for,
)
from .example_endpoint import REGISTER
from .example_grant import READ_ONLY

REGISTER_PATH = "/oauth/register"
#: The example replaces the built-in RFC 7591 endpoint at the same path.
ENDPOINTS = [*DEFAULT_ENDPOINTS, REGISTER]


def cast() -> list[Registered]:
    return [
        register(
            "kiosk",
            grant_types=["client_credentials", READ_ONLY.name],
            extension_grants=[READ_ONLY.name],
            scope="read write",
        ),
        register("job", grant_types=["client_credentials"], scope="read"),
        register("rs", grant_types=[], introspect_any=True),
    ]


async def serve(store: Store, **options: Any) -> AsyncIterator[Server]:
    clients = cast()
    for client in clients:
        await register_client(store, client.client)  # stored: a custom grant name survives the store
    server = build_server(store, settings_for(), clients, **options)
    try:
        yield server
    finally:
        await server.http.aclose()


@pytest.fixture
async def extended(store: Store) -> AsyncIterator[Server]:
    async for server in serve(store, grants=[*DEFAULT_GRANTS, READ_ONLY], endpoints=ENDPOINTS):
        yield server


@pytest.fixture
async def plain(store: Store) -> AsyncIterator[Server]:
    async for server in serve(store):
        yield server


# -- the grant ----------------------------------------------------------------------------------


async def test_the_extension_grant_issues_a_token(extended: Server) -> None:
    body = await extended.token_ok("kiosk", grant_type=READ_ONLY.name, reason="stock check")

    assert body["scope"] == "read"
    assert "refresh_token" not in body
    seen = await extended.introspect(body["access_token"])
    assert (seen["active"], seen["client_id"], seen["scope"]) == (True, "kiosk", "read")


async def test_the_extension_grant_checks_its_parameters_and_the_client(extended: Server) -> None:
    assert_error(await extended.token("kiosk", grant_type=READ_ONLY.name), "invalid_request")
    assert_error(await extended.token("job", grant_type=READ_ONLY.name, reason="x"), "unauthorized_client")


async def test_a_server_without_it_refuses_the_grant(plain: Server) -> None:
    response = await plain.token("kiosk", grant_type=READ_ONLY.name, reason="stock check")

    assert_error(response, "unsupported_grant_type")
    assert READ_ONLY.name not in (await plain.http.get(METADATA)).json()["grant_types_supported"]


# -- the endpoint -------------------------------------------------------------------------------


async def test_the_json_endpoint_answers_201_and_its_client_works(extended: Server) -> None:
    headers, _ = extended.auth("rs")
    response = await extended.http.post(REGISTER_PATH, json={"client_name": "Nightly job"}, headers=headers)

    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    made = response.json()
    assert made["client_name"] == "Nightly job"
    tokens = await extended.http.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        auth=(made["client_id"], made["client_secret"]),
    )
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "read"


async def test_the_json_endpoint_refuses_what_it_should(extended: Server) -> None:
    rs, _ = extended.auth("rs")
    job, _ = extended.auth("job")

    assert_error(
        await extended.http.post(REGISTER_PATH, json={"client_name": "x"}, headers=job), "invalid_client_metadata"
    )
    assert_error(
        await extended.http.post(REGISTER_PATH, json={"client_name": " "}, headers=rs), "invalid_client_metadata"
    )
    assert_error(await extended.http.post(REGISTER_PATH, json={"client_name": "x"}), "invalid_client", 401)
    form = await extended.http.post(REGISTER_PATH, data={"client_name": "x"}, headers=rs)
    assert "application/json" in assert_error(form, "invalid_request")["error_description"]
    broken = await extended.http.post(
        REGISTER_PATH, content=b'{"client_name": ', headers={**rs, "content-type": "application/json"}
    )
    assert_error(broken, "invalid_request")
    get = await extended.http.get(REGISTER_PATH)
    assert get.status_code == 405
    assert get.headers["allow"] == "POST"


async def test_a_server_without_it_has_no_such_path(plain: Server) -> None:
    headers, _ = plain.auth("rs")

    response = await plain.http.post(REGISTER_PATH, json={"client_name": "x"}, headers=headers)

    assert response.status_code == 404


# -- both, in the documents ---------------------------------------------------------------------


async def test_metadata_lists_both(extended: Server) -> None:
    body = (await extended.http.get(METADATA)).json()

    assert body["grant_types_supported"] == [
        "authorization_code",
        "client_credentials",
        "refresh_token",
        READ_ONLY.name,
    ]
    assert body["registration_endpoint"] == f"{ISSUER}/register"
    assert body["token_endpoint"] == f"{ISSUER}/token"


async def test_openapi_describes_both(extended: Server) -> None:
    document = (await extended.http.get("/oauth/openapi.json")).json()

    errors = [str(e) for e in jsonschema_rs.Draft202012Validator(OPENAPI_31).iter_errors(document)]
    assert errors == []
    form = document["paths"]["/token"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    fields = form["schema"]["properties"]
    assert fields["grant_type"]["enum"][-1] == READ_ONLY.name
    assert fields["reason"]["description"] == f"{READ_ONLY.name}: why the token is needed"
    assert "201" in document["paths"]["/register"]["post"]["responses"]
    assert "invalid_client_metadata" in document["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
