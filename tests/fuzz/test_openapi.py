"""The published OpenAPI document: valid OpenAPI 3.1, served as built, and true to what is switched on."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import jsonschema_rs
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31  # the OpenAPI Initiative's schema, as bundled

from asgi_oauth import MemoryStore, OAuthServer

from ..web.helpers import settings_for, verify_password

#: (enable_password_grant, enable_implicit_grant, allow_plain_pkce)
TOGGLES = list(itertools.product([False, True], repeat=3))


def server(password: bool, implicit: bool, plain: bool) -> OAuthServer:
    settings = settings_for(enable_password_grant=password, enable_implicit_grant=implicit, allow_plain_pkce=plain)
    return OAuthServer(settings, store=MemoryStore(), password_verifier=verify_password)


def form_fields(operation: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"][
        "properties"
    ]
    return fields


@pytest.mark.parametrize("toggles", TOGGLES, ids=repr)
def test_document_is_valid_openapi_3_1(toggles: tuple[bool, bool, bool]) -> None:
    errors = [str(e) for e in jsonschema_rs.Draft202012Validator(OPENAPI_31).iter_errors(server(*toggles).openapi)]

    assert errors == []


@pytest.mark.parametrize("toggles", TOGGLES, ids=repr)
def test_closed_sets_follow_the_metadata(toggles: tuple[bool, bool, bool]) -> None:
    oauth = server(*toggles)
    paths, metadata = oauth.openapi["paths"], oauth.metadata

    token = form_fields(paths["/token"]["post"])
    assert token["grant_type"]["enum"] == [g for g in metadata["grant_types_supported"] if g != "implicit"]
    assert ("password" in token) == toggles[0]
    query = {p["name"]: p["schema"] for p in paths["/authorize"]["get"]["parameters"]}
    assert query["response_type"]["enum"] == metadata["response_types_supported"]
    assert query["code_challenge_method"]["enum"] == metadata["code_challenge_methods_supported"]
    assert form_fields(paths["/authorize"]["post"])["response_type"] == query["response_type"]
    assert oauth.openapi["servers"] == [{"url": metadata["issuer"]}]


async def test_served_as_built_and_every_documented_operation_exists() -> None:
    oauth = server(True, True, True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=oauth), base_url="https://a.test") as http:
        served = await http.get("/openapi.json")
        assert served.status_code == 200
        assert served.json() == oauth.openapi
        for path, operations in oauth.openapi["paths"].items():
            for method in operations:
                response = await http.request(method.upper(), path)
                assert response.status_code != 404, (method, path)
                assert str(response.status_code) in operations[method]["responses"], (method, path, response.text)
