"""The device flow's store contract on its memory and Redis parts (the suite a third-party backend runs too), on
every store of this directory's fixture: memory, one Redis, a Redis Cluster and Redis through Sentinel."""

from __future__ import annotations

import pytest

from asgi_oauth import MemoryStore, Store
from asgi_oauth.features.device import DeviceStore
from asgi_oauth.features.device.redis import RedisDevices
from asgi_oauth.features.device.store import MemoryDevices
from asgi_oauth.features.device.testing import DeviceContract
from asgi_oauth.store import RedisStore


class TestDeviceStore(DeviceContract):
    @pytest.fixture
    def devices(self, store: Store) -> DeviceStore:
        if isinstance(store, RedisStore):
            return RedisDevices(store.parts())
        assert isinstance(store, MemoryStore)
        return store.part("device", lambda: MemoryDevices(store))
