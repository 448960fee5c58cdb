"""PAR's store contract, for a backend that keeps pushed requests itself (implements :class:`PushedRequestStore`).

Subclass :class:`PushedRequestContract` with a ``requests`` fixture yielding a fresh, empty store per test (needs
pytest and pytest-asyncio); the memory and Redis parts pass it (``tests/par/test_store.py``).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from .store import PushedRequest, PushedRequestStore

__all__ = ["PushedRequestContract"]


def _request(client_id: str = "web", lifetime: float = 60.0) -> PushedRequest:
    params = {"client_id": client_id, "response_type": "code", "scope": "read ünïcode"}
    return PushedRequest(client_id, params, round(time.time() + lifetime, 3))


class PushedRequestContract:
    pytestmark = pytest.mark.asyncio

    async def test_implements_the_protocol(self, requests: PushedRequestStore) -> None:
        assert isinstance(requests, PushedRequestStore)

    async def test_a_request_is_found_by_its_client_until_taken_once(self, requests: PushedRequestStore) -> None:
        request = _request()
        assert await requests.push_request("d1", request, limit=10, window=60) is True
        assert await requests.get_request("web", "d1") == request
        assert await requests.get_request("web", "d1") == request  # reading does not spend it
        assert await requests.get_request("other", "d1") is None  # another client's: not found
        assert await requests.take_request("other", "d1") is None
        assert await requests.take_request("web", "d1") == request
        assert await requests.take_request("web", "d1") is None
        assert await requests.get_request("web", "d1") is None

    async def test_concurrent_takes_give_it_to_one(self, requests: PushedRequestStore) -> None:
        await requests.push_request("d1", _request(), limit=10, window=60)
        taken = await asyncio.gather(*(requests.take_request("web", "d1") for _ in range(10)))
        assert sum(t is not None for t in taken) == 1

    async def test_a_request_expires(self, requests: PushedRequestStore) -> None:
        await requests.push_request("d1", _request(lifetime=0.2), limit=10, window=60)
        await asyncio.sleep(0.3)
        assert await requests.get_request("web", "d1") is None
        assert await requests.take_request("web", "d1") is None

    async def test_pushes_are_limited_per_client(self, requests: PushedRequestStore) -> None:
        kept = [await requests.push_request(f"d{i}", _request(), limit=3, window=60) for i in range(5)]
        assert kept == [True, True, True, False, False]
        assert await requests.get_request("web", "d3") is None  # a refused push keeps nothing
        assert await requests.push_request("o1", _request("other"), limit=3, window=60) is True
