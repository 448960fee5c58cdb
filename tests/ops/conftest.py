"""The operations tests run the real app on a real Redis (the ``store`` of tests/web is memory or Redis)."""

from __future__ import annotations

import pytest

from asgi_oauth import RedisStore

from ..web.conftest import make_server as make_server  # the same host-app factory as tests/web


@pytest.fixture
def store(redis_store: RedisStore) -> RedisStore:
    return redis_store
