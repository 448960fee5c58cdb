"""The registries: which entries the settings switch on, what they refuse, and that one list drives everything."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from asgi_oauth import ClientError, MemoryStore, OAuthServer, Store, User, new_client
from asgi_oauth.protocol import authorize
from asgi_oauth.protocol.authorize import DEFAULT_RESPONSE_TYPES, ResponseTypeSpec, enabled_response_types
from asgi_oauth.protocol.context import Context
from asgi_oauth.protocol.grants import DEFAULT_GRANTS, GrantSpec, client_credentials, enabled_grants
from asgi_oauth.protocol.metadata import metadata
from asgi_oauth.protocol.params import Params
from asgi_oauth.web.endpoints import DEFAULT_ENDPOINTS, EndpointSpec, revocation_endpoint
from asgi_oauth.web.openapi import grant_params

from ..web.helpers import ISSUER, settings_for, verify_password
from .conftest import ALICE, REDIRECT, Protocol, build


def server(**options: Any) -> OAuthServer:
    return OAuthServer(settings_for(), store=MemoryStore(), **options)


# -- grants -------------------------------------------------------------------------------------


def test_password_grant_follows_its_setting() -> None:
    assert list(enabled_grants(settings_for())) == ["authorization_code", "client_credentials", "refresh_token"]
    assert "password" in enabled_grants(settings_for(enable_password_grant=True))


def test_a_grant_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        enabled_grants(settings_for(), [*DEFAULT_GRANTS, GrantSpec("client_credentials", client_credentials)])


def test_a_name_listed_twice_is_refused_even_when_one_of_the_two_is_switched_off() -> None:
    """Which of the two was meant cannot be guessed: the password grant is off by default, and still taken."""
    with pytest.raises(ValueError, match="grant type 'password' is registered twice"):
        enabled_grants(settings_for(), [*DEFAULT_GRANTS, GrantSpec("password", client_credentials)])
    implicit_off = ResponseTypeSpec("token", "implicit", authorize.respond_token)
    with pytest.raises(ValueError, match="response type 'token' is registered twice"):
        enabled_response_types(settings_for(), [*DEFAULT_RESPONSE_TYPES, implicit_off])


@pytest.mark.parametrize("name", ["", "two words", 'quo"te', "tab\there"])
def test_grant_names_follow_rfc_6749(name: str) -> None:
    with pytest.raises(ValueError, match="grant type"):
        GrantSpec(name, client_credentials)


def test_clients_may_name_extension_grants_the_server_was_given() -> None:
    extension = "urn:example:grant-type:read-only"

    client, _ = new_client(name="k", grant_types=[extension, "client_credentials"], extension_grants=[extension])

    assert client.grant_types == ("client_credentials", extension)  # built-ins first, then extensions
    with pytest.raises(ClientError, match="unknown grant type"):
        new_client(name="k", grant_types=[extension])


def test_removing_a_grant_removes_it_everywhere() -> None:
    oauth = server(grants=[g for g in DEFAULT_GRANTS if g.name != "refresh_token"])

    assert oauth.metadata["grant_types_supported"] == ["authorization_code", "client_credentials"]
    fields = oauth.openapi["paths"]["/token"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    properties = fields["schema"]["properties"]
    assert properties["grant_type"]["enum"] == ["authorization_code", "client_credentials"]
    assert "refresh_token" not in properties
    assert properties["scope"]["description"] == "client_credentials: a subset"


def test_shared_parameters_name_every_grant_taking_them() -> None:
    params = grant_params(enabled_grants(settings_for(enable_password_grant=True)).values())

    assert params["scope"]["description"] == "client_credentials, password, refresh_token: a subset"
    assert params["code"]["description"] == "authorization_code: single use"


def test_grants_must_agree_on_a_shared_parameter() -> None:
    odd = GrantSpec("urn:example:odd", client_credentials, params={"scope": {"type": "integer"}})

    with pytest.raises(ValueError, match="scope"):
        server(grants=[*DEFAULT_GRANTS, odd])


# -- response types -----------------------------------------------------------------------------


def test_implicit_follows_its_setting() -> None:
    assert list(enabled_response_types(settings_for())) == ["code"]
    types = enabled_response_types(settings_for(enable_implicit_grant=True))
    assert list(types) == ["code", "token"]
    document = metadata(
        ISSUER, urls={}, endpoints=[], grant_types=["authorization_code"], response_types=types.values()
    )
    assert document["grant_types_supported"] == ["authorization_code", "implicit"]
    assert document["response_modes_supported"] == ["query", "fragment"]


@pytest.mark.parametrize("name", ["", "code  token", "code-token", " code"])
def test_response_type_names_follow_rfc_6749(name: str) -> None:
    with pytest.raises(ValueError, match="response type"):
        ResponseTypeSpec(name, "authorization_code", authorize.respond_code)


async def respond_nothing(ctx: Context, req: authorize.AuthorizationRequest, user: User) -> Mapping[str, str | None]:
    return {}


#: OAuth 2.0 Multiple Response Type Encoding Practices, section 4: "none" issues nothing, only state comes back.
NONE = ResponseTypeSpec("none", "authorization_code", respond_nothing)


async def test_a_custom_response_type_is_dispatched(proto: Protocol) -> None:
    types = enabled_response_types(proto.ctx.settings, [*DEFAULT_RESPONSE_TYPES, NONE])
    query = Params({"response_type": "none", "client_id": "web", "state": "s1"})

    redirect = await authorize.approve(proto.ctx, await authorize.validate(proto.ctx, query, types), ALICE)

    assert redirect.url.startswith(REDIRECT + "?")
    assert dict(parse_qsl(urlsplit(redirect.url).query)) == {"state": "s1", "iss": ISSUER}


async def test_an_unknown_response_type_goes_back_to_the_client(proto: Protocol) -> None:
    types = enabled_response_types(proto.ctx.settings)
    query = Params({"response_type": "none", "client_id": "web", "state": "s1"})

    with pytest.raises(authorize.RedirectError) as refused:
        await authorize.validate(proto.ctx, query, types)

    back = dict(parse_qsl(urlsplit(refused.value.redirect.url).query))
    assert back["error"] == "unsupported_response_type"
    assert back["error_description"] == "response_type must be code"


async def test_implicit_answers_in_the_fragment(store: Store) -> None:
    proto = build(store, enable_implicit_grant=True)
    types = enabled_response_types(proto.ctx.settings)
    query = Params({"response_type": "token", "client_id": "spa", "scope": ""})

    redirect = await authorize.approve(proto.ctx, await authorize.validate(proto.ctx, query, types), ALICE)

    parts = urlsplit(redirect.url)
    assert parts.query == ""
    assert dict(parse_qsl(parts.fragment))["token_type"] == "Bearer"


def test_metadata_lists_a_custom_response_type() -> None:
    oauth = server(response_types=[*DEFAULT_RESPONSE_TYPES, NONE])

    assert oauth.metadata["response_types_supported"] == ["code", "none"]
    query = {p["name"]: p["schema"] for p in oauth.openapi["paths"]["/authorize"]["get"]["parameters"]}
    assert query["response_type"]["enum"] == ["code", "none"]


# -- endpoints ----------------------------------------------------------------------------------


def test_endpoint_specs_are_checked() -> None:
    with pytest.raises(ValueError, match="start with /"):
        EndpointSpec("revoke", revocation_endpoint)
    with pytest.raises(ValueError, match="handler or an app"):
        EndpointSpec("/nothing")
    with pytest.raises(ValueError, match="twice"):
        server(endpoints=[*DEFAULT_ENDPOINTS, EndpointSpec("/revoke", revocation_endpoint)])


async def test_removing_an_endpoint_removes_it_everywhere() -> None:
    oauth = server(
        endpoints=[e for e in DEFAULT_ENDPOINTS if e.path != "/introspect"], password_verifier=verify_password
    )

    assert "introspection_endpoint" not in oauth.metadata
    assert "introspection_endpoint_auth_methods_supported" not in oauth.metadata
    assert "/introspect" not in oauth.openapi["paths"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=oauth), base_url="https://a.test") as http:
        assert (await http.post("/introspect", data={"token": "x"})).status_code == 404
        assert (await http.post("/revoke", data={"token": "x"})).status_code == 401  # the others still answer


async def test_an_endpoint_switched_off_by_settings_is_not_served() -> None:
    plain_only = EndpointSpec(
        "/also-revoke", revocation_endpoint, url_key="x_endpoint", enabled=lambda settings: settings.allow_plain_pkce
    )
    endpoints = [*DEFAULT_ENDPOINTS, plain_only]
    off = server(endpoints=endpoints)
    on = OAuthServer(settings_for(allow_plain_pkce=True), store=MemoryStore(), endpoints=endpoints)

    assert "x_endpoint" not in off.metadata
    assert on.metadata["x_endpoint"] == f"{ISSUER}/also-revoke"
    for oauth, status in [(off, 404), (on, 401)]:  # served: it asks for client authentication
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=oauth), base_url="https://a.test") as http:
            assert (await http.post("/also-revoke", data={"token": "x"})).status_code == status
