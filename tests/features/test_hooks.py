"""Every hook of :mod:`asgi_oauth.features`, exercised by one small feature through the real app."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import pytest

from asgi_oauth import MemoryStore, OAuthServer
from asgi_oauth.errors import InvalidClient
from asgi_oauth.features import (
    ClientAuthMethod,
    Context,
    EndpointRequest,
    EndpointResponse,
    EndpointSpec,
    Feature,
    Incoming,
    TokenResponse,
    load_features,
)
from asgi_oauth.models import AccessToken, Client, TokenFamily, User
from asgi_oauth.settings import OAuthSettings, SettingsError

from ..web.conftest import MakeServer
from ..web.helpers import METADATA, settings_for

HEADER = "x-example-key"


async def _by_header(ctx: Context, request: Incoming) -> Client:
    assert isinstance(request, EndpointRequest)
    if request.header(HEADER) != "let-me-in":
        raise InvalidClient("wrong key", realm=ctx.settings.realm)
    client = await ctx.clients.get("m2m")
    assert client is not None
    return client


async def _hello(server: OAuthServer, request: EndpointRequest) -> EndpointResponse:
    return EndpointResponse(200, {"hello": request.params.get("name")})


class Stamp(Feature):
    """Stamps each token with a tag, shows it in token responses and introspection, and adds what it can."""

    name = "stamp"

    def endpoints(self) -> Sequence[EndpointSpec]:
        return (EndpointSpec("/hello", _hello, url_key="hello_endpoint"),)

    def metadata(self) -> Mapping[str, Any]:
        return {"stamp_supported": True}

    async def token_extra(self, ctx: Context, client: Client, scope: str, user: User | None) -> Mapping[str, Any]:
        return {"stamp": {"tag": f"for-{client.client_id}"}}

    async def token_fields(self, ctx: Context, client: Client, response: TokenResponse) -> Mapping[str, Any]:
        return {"stamped": response.body()["token_type"]}

    def introspection_fields(self, record: AccessToken | TokenFamily) -> Mapping[str, Any]:
        return {"tag": record.extra["stamp"]["tag"]}

    def client_auth_methods(self) -> Sequence[ClientAuthMethod]:
        return (ClientAuthMethod("example_header", lambda r: r.header(HEADER) is not None, _by_header),)  # type: ignore[attr-defined]


async def test_every_hook_is_called_through_the_real_app(make_server: MakeServer) -> None:
    server = await make_server(oauth_options={"features": [Stamp()]})
    body = await server.token_ok("m2m", grant_type="client_credentials", scope="read")
    assert body["stamped"] == "Bearer"
    assert (await server.introspect(body["access_token"]))["tag"] == "for-m2m"
    metadata = (await server.http.get(METADATA)).json()
    assert metadata["stamp_supported"] is True
    assert metadata["hello_endpoint"].endswith("/hello")
    assert "example_header" in metadata["token_endpoint_auth_methods_supported"]
    hello = await server.http.post("/oauth/hello", data={"name": "you"})
    assert hello.json() == {"hello": "you"}
    by_header = await server.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers={HEADER: "let-me-in"}
    )
    assert by_header.status_code == 200, by_header.text
    refused = await server.http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers={HEADER: "no"})
    assert refused.status_code == 401


async def test_without_features_nothing_is_added(make_server: MakeServer) -> None:
    server = await make_server()
    body = await server.token_ok("m2m", grant_type="client_credentials", scope="read")
    assert "stamped" not in body
    assert (await server.http.post("/oauth/hello")).status_code == 404


@runtime_checkable
class Notebook(Protocol):
    async def write_note(self, note: str) -> None: ...


class NeedsNotes(Feature):
    name = "notes"
    store = Notebook


def test_a_store_lacking_a_features_protocol_fails_at_start_up_naming_both() -> None:
    with pytest.raises(SettingsError, match="'notes' needs a store implementing Notebook, which MemoryStore"):
        OAuthServer(settings_for(), store=MemoryStore(), features=[NeedsNotes()])


def test_features_are_named_in_the_settings_and_unknown_names_refused() -> None:
    with pytest.raises(SettingsError, match="ASGI_OAUTH_FEATURES: unknown feature 'nope'"):
        load_features(OAuthSettings(features="nope"), None)  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="stamp switched on twice"):
        load_features(OAuthSettings(), [Stamp(), Stamp()])
    assert load_features(OAuthSettings(features="nope"), []) == ()  # type: ignore[arg-type]


def test_a_switched_on_features_settings_section_is_not_reported_as_unknown() -> None:
    from asgi_oauth.environment import unknown_variables

    environ = {"ASGI_OAUTH_FEATURES": "stamp", "ASGI_OAUTH_STAMP_COLOUR": "red", "ASGI_OAUTH_STAMPS": "x"}
    assert unknown_variables(environ) == ["ASGI_OAUTH_STAMPS"]
    assert unknown_variables({"ASGI_OAUTH_STAMP_COLOUR": "red"}) == ["ASGI_OAUTH_STAMP_COLOUR"]


def test_the_built_in_features_sections_are_known_variables() -> None:
    from asgi_oauth.environment import unknown_variables

    environ = {
        "ASGI_OAUTH_DEVICE_POLL_INTERVAL": "2",
        "ASGI_OAUTH_PAR_REQUIRED": "true",
        "ASGI_OAUTH_ID_TOKEN_LIFETIME": "60",
        "ASGI_OAUTH_DEVICE_POLL_INTERVALL": "x",
    }
    assert unknown_variables(environ) == ["ASGI_OAUTH_DEVICE_POLL_INTERVALL"]


def test_a_built_in_features_variable_set_while_it_is_off_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASGI_OAUTH_JWT_ACCESS_TOKEN_CLIENTS", "*")
    with pytest.raises(SettingsError, match="ASGI_OAUTH_JWT_ACCESS_TOKEN_CLIENTS: the oidc feature is off"):
        load_features(OAuthSettings(), None)
    monkeypatch.setenv("ASGI_OAUTH_DEVICE_POLL_INTERVAL", "2")
    monkeypatch.delenv("ASGI_OAUTH_JWT_ACCESS_TOKEN_CLIENTS")
    with pytest.raises(SettingsError, match="ASGI_OAUTH_DEVICE_POLL_INTERVAL: the device feature is off"):
        load_features(OAuthSettings(), None)
    assert [f.name for f in load_features(OAuthSettings(features="device"), None)] == ["device"]  # type: ignore[arg-type]


def test_the_device_flows_old_switch_and_its_name_switch_on_one_feature() -> None:
    for settings in (OAuthSettings(enable_device_authorization=True), OAuthSettings(features="device")):  # type: ignore[arg-type]
        assert [feature.name for feature in load_features(settings, None)] == ["device"]
    both = OAuthSettings(enable_device_authorization=True, features="device,par")  # type: ignore[arg-type]
    assert [feature.name for feature in load_features(both, None)] == ["device", "par"]
    assert [feature.name for feature in load_features(OAuthSettings(enable_device_authorization=True), [])] == [
        "device"
    ]


async def test_what_a_feature_keeps_with_a_grant_survives_its_refreshes(make_server: MakeServer) -> None:
    """token_extra is asked once, when the grant is made; every rotation carries it to the new family and to the
    new access token, so a feature's data (a binding, a tag) is not lost to the first refresh."""
    server = await make_server(enable_password_grant=True, oauth_options={"features": [Stamp()]})
    first = await server.password_tokens(scope="read")
    assert (await server.introspect(first["access_token"]))["tag"] == "for-app"
    second = await server.refresh(first["refresh_token"])
    assert second.status_code == 200, second.text
    refreshed = second.json()
    assert (await server.introspect(refreshed["access_token"]))["tag"] == "for-app"
    assert (await server.introspect(refreshed["refresh_token"]))["tag"] == "for-app"
    third = await server.refresh(refreshed["refresh_token"])
    assert (await server.introspect(third.json()["access_token"]))["tag"] == "for-app"
