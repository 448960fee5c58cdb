"""OpenID Connect's store contract (the generated signing-key document) on its memory and Redis parts, on every
store of this directory's fixture: memory, one Redis, a Redis Cluster and Redis through Sentinel."""

from __future__ import annotations

import pytest

from asgi_oauth import MemoryStore, Store
from asgi_oauth.features.oidc.redis import RedisSigningKeys
from asgi_oauth.features.oidc.store import KeyStore, MemorySigningKeys
from asgi_oauth.features.oidc.testing import SigningKeyContract
from asgi_oauth.store import RedisStore


class TestSigningKeyStore(SigningKeyContract):
    @pytest.fixture
    def keys(self, store: Store) -> KeyStore:
        if isinstance(store, RedisStore):
            return RedisSigningKeys(store.parts())
        assert isinstance(store, MemoryStore)
        return MemorySigningKeys()
