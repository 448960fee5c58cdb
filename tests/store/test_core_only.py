"""A third-party store implementing only the core Protocols starts a server with nothing else switched on; what
is switched on asks for its own part, by name."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from asgi_oauth import MemoryStore, OAuthServer, OAuthSettings, SettingsError, new_client, register_client
from asgi_oauth.features.device import DeviceAuthorization, DeviceStore
from asgi_oauth.features.oidc import KeyStore, OpenIDConnect
from asgi_oauth.features.par import PushedAuthorizationRequests
from asgi_oauth.store import CoreStore, store_from_settings
from asgi_oauth.testing import CoreStoreContract

#: The verbs of the core Protocols and nothing more.
CORE_VERBS = frozenset(
    name
    for part in CoreStore.__mro__
    if part.__module__ == CoreStore.__module__
    for name in vars(part)
    if not name.startswith("_")
)


class CoreOnly:
    """A backend that implements the core Protocols (here by handing them to a memory store) and no other."""

    def __init__(self) -> None:
        self._inner = MemoryStore()

    def __getattr__(self, name: str) -> object:
        if name in CORE_VERBS:
            return getattr(self._inner, name)
        raise AttributeError(name)


def make_core_only(settings: OAuthSettings) -> CoreOnly:
    return CoreOnly()


def settings(**more: object) -> OAuthSettings:
    return OAuthSettings(store="tests.store.test_core_only:make_core_only", secret_key="k" * 40, **more)  # type: ignore[arg-type]


def test_it_is_a_core_store_and_nothing_more() -> None:
    store = CoreOnly()
    assert isinstance(store, CoreStore)
    assert not isinstance(store, DeviceStore) and not isinstance(store, KeyStore)


async def test_a_core_only_store_starts_a_server_with_no_feature_switched_on() -> None:
    store = store_from_settings(settings())
    client, secret = new_client(name="m2m", grant_types=["client_credentials"], scope="read")
    assert secret is not None
    await register_client(store, client)
    oauth = OAuthServer(settings(), store=store)
    app = Starlette(routes=[Mount("/oauth", app=oauth)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        answer = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, secret)
        )
        assert answer.status_code == 200, answer.text
        token = answer.json()["access_token"]
        found = await http.post("/oauth/introspect", data={"token": token}, auth=(client.client_id, secret))
        assert found.json()["active"] is True


def test_what_is_switched_on_asks_for_its_own_part_by_name() -> None:
    with pytest.raises(SettingsError, match="'device' needs a store implementing DeviceStore, which CoreOnly"):
        OAuthServer(settings(enable_device_authorization=True), store=store_from_settings(settings()))
    with pytest.raises(SettingsError, match="'device' needs a store implementing DeviceStore, which CoreOnly"):
        OAuthServer(settings(), store=store_from_settings(settings()), features=[DeviceAuthorization()])
    with pytest.raises(SettingsError, match="'oidc' needs a store implementing KeyStore, which CoreOnly"):
        OAuthServer(settings(enable_oidc=True), store=store_from_settings(settings()))
    with pytest.raises(SettingsError, match="'oidc' needs a store implementing KeyStore, which CoreOnly"):
        OAuthServer(settings(), store=store_from_settings(settings()), features=[OpenIDConnect()])
    with pytest.raises(SettingsError, match="'par' needs a store implementing PushedRequestStore, which CoreOnly"):
        OAuthServer(settings(), store=store_from_settings(settings()), features=[PushedAuthorizationRequests()])


class TestCoreOnlyContract(CoreStoreContract):
    """The core part of the shipped contract suite is what such a backend runs, and it passes it."""

    @pytest.fixture
    def store(self) -> CoreOnly:
        return CoreOnly()
