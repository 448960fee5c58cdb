"""PAR's store contract on its memory and Redis parts (the same suite a third-party backend runs)."""

from __future__ import annotations

import pytest

from asgi_oauth import Store
from asgi_oauth.features.par.redis import RedisPushedRequests
from asgi_oauth.features.par.store import MemoryPushedRequests, PushedRequestStore
from asgi_oauth.features.par.testing import PushedRequestContract
from asgi_oauth.store import RedisStore


class TestPushedRequests(PushedRequestContract):
    @pytest.fixture
    def requests(self, store: Store) -> PushedRequestStore:
        if isinstance(store, RedisStore):
            return RedisPushedRequests(store.redis, key_prefix=store.key_prefix)
        return MemoryPushedRequests()
