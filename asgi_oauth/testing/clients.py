"""Dynamically registered clients (RFC 7591): the cap, expiry of clients never used, and keeping used ones."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from .. import crypto
from ..models import Client
from ..store.base import Store

LIFETIME = 0.3
PAST_EXPIRY = 0.5
#: Time to keep a client in before it would expire unused: an add and a keep, whatever else the machine runs.
KEEP_WINDOW = 2.0


def dynamic_client(*, unused_for: float = 3600.0, secret_for: float = 0.0, **overrides: object) -> Client:
    """A dynamic client as registration builds it: never used yet, so it expires after ``unused_for`` seconds."""
    now = time.time()
    fields: dict[str, object] = {
        "client_id": crypto.new_client_id(),
        "name": "dynamic",
        "secret_hash": None,
        "redirect_uris": ("http://127.0.0.1/cb",),
        "public": True,
        "token_endpoint_auth_method": "none",
        "created_at": int(now),
        "dynamic": True,
        "unused_expires_at": round(now + unused_for, 3),
        "secret_expires_at": int(now + secret_for) if secret_for else 0,
    }
    fields.update(overrides)
    return Client(**fields)  # type: ignore[arg-type]


class DynamicClientContract:
    """The verbs behind ``POST /register``. Subclass it with a ``store`` fixture (see :mod:`asgi_oauth.testing`)."""

    async def test_added_client_is_read_back_and_counted(self, store: Store) -> None:
        client = dynamic_client()
        assert await store.add_dynamic_client(client, limit=10) == "added"
        assert await store.get_client(client.client_id) == client
        assert await store.count_dynamic_clients() == 1
        assert [c.client_id for c in await store.list_clients()] == [client.client_id]

    async def test_a_taken_id_is_refused_and_the_first_client_kept(self, store: Store) -> None:
        first = dynamic_client(client_id="same")
        assert await store.create_client(replace(first, dynamic=False, unused_expires_at=0.0))
        assert await store.add_dynamic_client(first, limit=10) == "taken"
        assert await store.count_dynamic_clients() == 0
        found = await store.get_client("same")
        assert found is not None and found.dynamic is False

    async def test_the_cap_refuses_new_dynamic_clients_only(self, store: Store) -> None:
        ordinary = Client(client_id="ordinary", name="o", secret_hash=None, public=True)
        assert await store.create_client(ordinary)
        for _ in range(3):
            assert await store.add_dynamic_client(dynamic_client(), limit=3) == "added"
        assert await store.add_dynamic_client(dynamic_client(), limit=3) == "full"
        assert await store.count_dynamic_clients() == 3
        # Other clients are not counted, and may still be created while the cap is reached.
        assert await store.get_client("ordinary") == ordinary
        assert await store.create_client(Client(client_id="another", name="a", secret_hash=None, public=True))

    async def test_concurrent_registrations_never_pass_the_cap(self, store: Store) -> None:
        outcomes = await asyncio.gather(*(store.add_dynamic_client(dynamic_client(), limit=5) for _ in range(20)))
        assert outcomes.count("added") == 5
        assert outcomes.count("full") == 15
        assert await store.count_dynamic_clients() == 5

    async def test_deleting_a_dynamic_client_frees_its_place_under_the_cap(self, store: Store) -> None:
        client = dynamic_client()
        assert await store.add_dynamic_client(client, limit=1) == "added"
        assert await store.add_dynamic_client(dynamic_client(), limit=1) == "full"
        assert await store.delete_client(client.client_id) is True
        assert await store.get_client(client.client_id) is None
        assert await store.count_dynamic_clients() == 0
        assert await store.add_dynamic_client(dynamic_client(), limit=1) == "added"

    async def test_a_client_never_used_expires_and_frees_its_place(self, store: Store) -> None:
        unused = dynamic_client(unused_for=LIFETIME)
        assert await store.add_dynamic_client(unused, limit=1) == "added"
        await asyncio.sleep(PAST_EXPIRY)
        assert await store.get_client(unused.client_id) is None
        assert await store.list_clients() == []
        assert await store.keep_client(replace(unused, unused_expires_at=0.0)) is False
        # The next registration removes it, so it no longer counts against the cap.
        assert await store.add_dynamic_client(dynamic_client(), limit=1) == "added"
        assert await store.count_dynamic_clients() == 1
        assert await store.get_client(unused.client_id) is None

    async def test_a_kept_client_stays_past_its_unused_deadline(self, store: Store) -> None:
        # Kept well before its deadline even on a loaded machine, then checked once the deadline has passed.
        client = dynamic_client(unused_for=KEEP_WINDOW)
        assert await store.add_dynamic_client(client, limit=10) == "added"
        used = replace(client, unused_expires_at=0.0)
        assert await store.keep_client(used) is True
        await asyncio.sleep(max(0.0, client.unused_expires_at - time.time()) + PAST_EXPIRY - LIFETIME)
        assert await store.add_dynamic_client(dynamic_client(), limit=10) == "added"  # runs the sweep
        assert await store.get_client(client.client_id) == used
        assert await store.count_dynamic_clients() == 2

    async def test_a_client_goes_when_its_secret_expires_even_once_used(self, store: Store) -> None:
        client = dynamic_client(secret_for=2, public=False, secret_hash="sha256:x")
        assert await store.add_dynamic_client(client, limit=10) == "added"
        assert await store.keep_client(replace(client, unused_expires_at=0.0)) is True
        await asyncio.sleep(2.1)
        assert await store.get_client(client.client_id) is None
        assert await store.add_dynamic_client(dynamic_client(), limit=10) == "added"
        assert await store.count_dynamic_clients() == 1

    async def test_keeping_an_unknown_client_changes_nothing(self, store: Store) -> None:
        assert await store.keep_client(dynamic_client(unused_expires_at=0.0)) is False
        assert await store.list_clients() == []

    async def test_keeping_never_overwrites_a_client_created_in_its_place(self, store: Store) -> None:
        """A worker may still hold a deleted dynamic client's record in its cache when it marks it used."""
        old = dynamic_client(client_id="reused")
        assert await store.add_dynamic_client(old, limit=10) == "added"
        assert await store.delete_client("reused") is True
        ordinary = Client(client_id="reused", name="new owner", secret_hash=None, public=True)
        assert await store.create_client(ordinary)
        assert await store.keep_client(replace(old, unused_expires_at=0.0)) is False
        assert await store.get_client("reused") == ordinary

    async def test_a_document_client_is_kept_until_it_expires_apart_from_registered_ones(self, store: Store) -> None:
        url = "https://app.example/client.json"
        client = Client(url, "App", None, ("http://127.0.0.1/cb",), scope="read", public=True)
        client = replace(client, token_endpoint_auth_method="none")
        assert await store.get_document_client(url) is None
        await store.put_document_client(client, expires_at=time.time() + 0.3)
        assert await store.get_document_client(url) == client
        assert await store.get_client(url) is None  # not a registered client
        assert url not in [c.client_id for c in await store.list_clients()]
        await asyncio.sleep(0.4)
        assert await store.get_document_client(url) is None
