"""Support for the remote-validation tests, which run ``asgi-oauth serve`` with :func:`tests.serving.serving`:
its signing key, and its clients registered in Redis beforehand."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from asgi_oauth import register_client

from ..conftest import open_redis_store
from .helpers import Cred

SECRET_KEY = "remote-test-signing-key-0123456789abcdefghij"
T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a loop of its own in another thread (sync fixtures, any loop state)."""
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)
    if errors:
        raise errors[0]
    assert result, "the coroutine did not finish"
    return result[0]


def register_in_redis(redis_url: str, key_prefix: str, clients: Iterable[Cred]) -> None:
    async def register() -> None:
        async with open_redis_store(redis_url, key_prefix=key_prefix) as store:
            for cred in clients:
                await register_client(store, cred.client)

    run_async(register())
