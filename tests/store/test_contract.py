"""The store contract (asgi_oauth/testing), on every store of this directory's ``store`` fixture: memory, one
Redis, a Redis Cluster and Redis through Sentinel."""

from __future__ import annotations

import re

import pytest

from asgi_oauth import MemoryStore, OAuthSettings, SettingsError, load_settings, store_from_settings
from asgi_oauth.testing import StoreContract


class TestStoreContract(StoreContract):
    pass


class CountingMemoryStore(MemoryStore):
    """A third-party backend, as far as the settings know: any Store a factory returns."""

    made: list[OAuthSettings] = []  # noqa: RUF012 (the factory's record of its calls)


def make_store(settings: OAuthSettings) -> CountingMemoryStore:
    CountingMemoryStore.made.append(settings)
    return CountingMemoryStore()


def not_a_store(settings: OAuthSettings) -> object:
    return object()


def test_any_backend_is_named_in_settings_and_built_by_store_from_settings() -> None:
    settings = load_settings(store="tests.store.test_contract:make_store")
    store = store_from_settings(settings)
    assert isinstance(store, CountingMemoryStore)
    assert CountingMemoryStore.made[-1] is settings


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tests.store.test_contract:missing", "ASGI_OAUTH_STORE=tests.store.test_contract:missing: cannot import it"),
        ("no_such_module_here:make", "ASGI_OAUTH_STORE=no_such_module_here:make: cannot import it"),
        ("tests.store.test_contract:not_a_store", "the factory returned object, which is not a CoreStore"),
    ],
)
def test_a_backend_that_cannot_be_had_is_a_settings_error(path: str, message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        store_from_settings(load_settings(store=path))


@pytest.mark.parametrize("path", ["no-colon", "module:", ":factory", "module:not an identifier"])
def test_a_malformed_backend_path_is_refused_at_start_up(path: str) -> None:
    with pytest.raises(SettingsError, match=re.escape("ASGI_OAUTH_STORE: must name a factory as package.module:")):
        load_settings(store=path)


def test_a_backend_and_a_redis_url_at_once_are_refused() -> None:
    with pytest.raises(SettingsError, match="set either ASGI_OAUTH_STORE or ASGI_OAUTH_REDIS_URL"):
        load_settings(store="tests.store.test_contract:make_store", redis_url="redis://127.0.0.1:6379/0")
