"""The device flow's store contract: grants stored, found by user code, polled, decided and redeemed once.

Subclass :class:`DeviceContract` with a ``store`` fixture (the core store, as for
:class:`~asgi_oauth.testing.CoreStoreContract`) and a ``devices`` fixture giving the :class:`DeviceStore` kept
beside it (a backend keeping device authorizations itself gives the store again); the memory and Redis parts pass
it (``tests/store/test_device_contract.py``).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from ... import crypto
from ...models import Outcome
from ...store.base import CoreStore
from ...testing.records import CLIENT_ID, Grant, access_record, at, family_record
from .store import DeviceGrant, DeviceStore

__all__ = ["DeviceContract"]

RACERS = 50


def device_record(*, lifetime: float = 600.0, **overrides: Any) -> DeviceGrant:
    fields: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "scope": "read write",
        "exp": at(lifetime),
        "interval": 5,
        "resource": "https://api.example/mcp",
    }
    fields.update(overrides)
    return DeviceGrant(**fields)


def user_code_digest() -> str:
    """A stored user code, as the server digests one (any unique digest-shaped value will do here)."""
    return crypto.digest(crypto.new_client_secret(), "code")


async def _put(devices: DeviceStore, grant: Grant, record: DeviceGrant, user_code: str | None = None) -> str:
    user_code = user_code or user_code_digest()
    assert await devices.put_device(grant.family_id, grant.code_digest, user_code, record, keep_until=record.exp + 60)
    return user_code


class DeviceContract:
    """The device authorization verbs, and how they meet the core store's tokens and owner indexes."""

    pytestmark = pytest.mark.asyncio

    async def test_implements_the_protocol(self, devices: DeviceStore) -> None:
        assert isinstance(devices, DeviceStore)

    async def test_a_device_grant_is_found_by_its_user_code(self, devices: DeviceStore) -> None:
        grant, record = Grant.mint(), device_record()
        user_code = await _put(devices, grant, record)
        found = await devices.find_device(user_code)
        assert found is not None
        assert (found.family_id, found.device_digest, found.grant) == (grant.family_id, grant.code_digest, record)
        assert await devices.find_device(user_code_digest()) is None

    async def test_a_taken_user_code_stores_nothing(self, devices: DeviceStore) -> None:
        first, second = Grant.mint(), Grant.mint()
        user_code = await _put(devices, first, device_record())
        other = device_record(client_id="other")
        assert not await devices.put_device(second.family_id, second.code_digest, user_code, other, keep_until=at(60))
        found = await devices.find_device(user_code)
        assert found is not None and found.grant.client_id == CLIENT_ID
        assert (
            await devices.poll_device(second.family_id, second.code_digest, client_id="other", step=5, leeway=0) is None
        )

    async def test_polls_are_recorded_and_one_too_soon_raises_the_interval_for_good(self, devices: DeviceStore) -> None:
        grant = Grant.mint()
        user_code = await _put(devices, grant, device_record(interval=5))
        first = await devices.poll_device(grant.family_id, grant.code_digest, client_id=CLIENT_ID, step=5, leeway=0.5)
        assert first is not None and not first.too_soon and first.grant.interval == 5
        assert first.grant.polled_at is not None
        second = await devices.poll_device(grant.family_id, grant.code_digest, client_id=CLIENT_ID, step=5, leeway=0.5)
        assert second is not None and second.too_soon and second.grant.interval == 10
        third = await devices.poll_device(grant.family_id, grant.code_digest, client_id=CLIENT_ID, step=5, leeway=0.5)
        assert third is not None and third.too_soon and third.grant.interval == 15
        found = await devices.find_device(user_code)
        assert found is not None and found.grant.interval == 15 and found.grant.status == "pending"

    async def test_a_poll_after_the_interval_is_not_too_soon(self, devices: DeviceStore) -> None:
        grant = Grant.mint()
        await _put(devices, grant, device_record(interval=1))
        await devices.poll_device(grant.family_id, grant.code_digest, client_id=CLIENT_ID, step=5, leeway=0.5)
        await asyncio.sleep(0.6)  # the interval less the leeway has passed
        later = await devices.poll_device(grant.family_id, grant.code_digest, client_id=CLIENT_ID, step=5, leeway=0.5)
        assert later is not None and not later.too_soon and later.grant.interval == 1

    async def test_another_clients_poll_changes_nothing(self, devices: DeviceStore) -> None:
        grant = Grant.mint()
        await _put(devices, grant, device_record())
        for _ in range(3):
            polled = await devices.poll_device(
                grant.family_id, grant.code_digest, client_id="intruder", step=5, leeway=0
            )
            assert polled is not None and polled.grant.client_id == CLIENT_ID and not polled.too_soon
        own = await devices.poll_device(grant.family_id, grant.code_digest, client_id=CLIENT_ID, step=5, leeway=0)
        assert own is not None and not own.too_soon and own.grant.interval == 5

    async def test_an_unknown_device_code_polls_as_none(self, devices: DeviceStore) -> None:
        grant = Grant.mint()
        assert (
            await devices.poll_device(grant.family_id, grant.code_digest, client_id=CLIENT_ID, step=5, leeway=0) is None
        )
        assert not await devices.decide_device(grant.family_id, grant.code_digest, approve=True, sub="a", username=None)
        access, family = access_record(), family_record(grant.refresh_digest)
        outcome = await devices.redeem_device(grant.family_id, grant.code_digest, grant.access_digest, access, family)
        assert outcome is Outcome.MISSING

    async def test_approval_names_the_user_and_is_final(self, devices: DeviceStore) -> None:
        grant = Grant.mint()
        user_code = await _put(devices, grant, device_record())
        decide = devices.decide_device
        assert await decide(grant.family_id, grant.code_digest, approve=True, sub="alice", username="Alice")
        # The same decision again (a resent command) is no failure; another decision is refused.
        assert await decide(grant.family_id, grant.code_digest, approve=True, sub="alice", username="Alice")
        assert not await decide(grant.family_id, grant.code_digest, approve=False, sub="alice", username="Alice")
        assert not await decide(grant.family_id, grant.code_digest, approve=True, sub="mallory", username=None)
        polled = await devices.poll_device(grant.family_id, grant.code_digest, client_id=CLIENT_ID, step=5, leeway=0)
        assert polled is not None
        assert (polled.grant.status, polled.grant.sub, polled.grant.username) == ("approved", "alice", "Alice")
        found = await devices.find_device(user_code)
        assert found is not None and found.grant.status == "approved"

    async def test_denial_is_final(self, devices: DeviceStore, store: CoreStore) -> None:
        grant = Grant.mint()
        await _put(devices, grant, device_record())
        assert await devices.decide_device(grant.family_id, grant.code_digest, approve=False, sub="bob", username=None)
        assert not await devices.decide_device(
            grant.family_id, grant.code_digest, approve=True, sub="bob", username=None
        )
        polled = await devices.poll_device(grant.family_id, grant.code_digest, client_id=CLIENT_ID, step=5, leeway=0)
        assert polled is not None and polled.grant.status == "denied" and polled.grant.sub == "bob"
        access, family = access_record(), family_record(grant.refresh_digest)
        outcome = await devices.redeem_device(grant.family_id, grant.code_digest, grant.access_digest, access, family)
        assert outcome is Outcome.MISSING
        assert (await store.lookup(grant.family_id, access_digest=grant.access_digest)).access is None

    async def test_an_expired_grant_is_kept_but_can_no_longer_be_decided(self, devices: DeviceStore) -> None:
        grant = Grant.mint()
        record = device_record(lifetime=0.3)
        await _put(devices, grant, record)
        await asyncio.sleep(0.4)
        assert not await devices.decide_device(grant.family_id, grant.code_digest, approve=True, sub="a", username=None)
        polled = await devices.poll_device(grant.family_id, grant.code_digest, client_id=CLIENT_ID, step=5, leeway=0)
        assert polled is not None and polled.grant == record  # kept to answer expired_token; the poll not counted

    async def test_redeeming_issues_once_and_stores_the_tokens(self, devices: DeviceStore, store: CoreStore) -> None:
        grant = Grant.mint()
        await _put(devices, grant, device_record())
        access, family = access_record(), family_record(grant.refresh_digest)
        redeem = devices.redeem_device
        assert await redeem(grant.family_id, grant.code_digest, grant.access_digest, access, family) is Outcome.MISSING
        await devices.decide_device(grant.family_id, grant.code_digest, approve=True, sub="alice", username="Alice")
        assert await redeem(grant.family_id, grant.code_digest, grant.access_digest, access, family) is Outcome.DONE
        # The same redemption resent is no second issue; another one is.
        assert await redeem(grant.family_id, grant.code_digest, grant.access_digest, access, family) is Outcome.DONE
        other = grant.next_access()[1]
        assert await redeem(grant.family_id, grant.code_digest, other, access, family) is Outcome.REUSED
        found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
        assert found.access == access and found.family == family
        assert (await store.lookup(grant.family_id, access_digest=other)).access is None
        polled = await devices.poll_device(grant.family_id, grant.code_digest, client_id=CLIENT_ID, step=5, leeway=0)
        assert polled is not None and polled.grant.status == "issued"
        # The tokens are a family like any other: revoking it ends them.
        assert await store.revoke_family(grant.family_id)
        assert (await store.lookup(grant.family_id, access_digest=grant.access_digest)).access is None

    async def test_redeeming_without_a_refresh_token(self, devices: DeviceStore, store: CoreStore) -> None:
        grant = Grant.mint()
        await _put(devices, grant, device_record(resource=None))
        await devices.decide_device(grant.family_id, grant.code_digest, approve=True, sub="alice", username=None)
        access = access_record(username=None)
        outcome = await devices.redeem_device(grant.family_id, grant.code_digest, grant.access_digest, access, None)
        assert outcome is Outcome.DONE
        found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
        assert found.access == access and found.family is None

    async def test_concurrent_redemptions_have_one_winner(self, devices: DeviceStore, store: CoreStore) -> None:
        grant = Grant.mint()
        await _put(devices, grant, device_record())
        await devices.decide_device(grant.family_id, grant.code_digest, approve=True, sub="alice", username=None)
        digests = [grant.next_access()[1] for _ in range(RACERS)]
        family = family_record(grant.refresh_digest)
        results = await asyncio.gather(
            *(devices.redeem_device(grant.family_id, grant.code_digest, d, access_record(), family) for d in digests)
        )
        assert results.count(Outcome.DONE) == 1
        assert results.count(Outcome.REUSED) == RACERS - 1
        winner = digests[results.index(Outcome.DONE)]
        for digest in digests:
            found = await store.get_access(grant.family_id, digest)
            assert (found is not None) == (digest == winner)

    async def test_concurrent_polls_are_each_counted(self, devices: DeviceStore) -> None:
        grant = Grant.mint()
        await _put(devices, grant, device_record(interval=5))
        polls = await asyncio.gather(
            *(
                devices.poll_device(grant.family_id, grant.code_digest, client_id=CLIENT_ID, step=5, leeway=0)
                for _ in range(10)
            )
        )
        assert sum(1 for p in polls if p is not None and p.too_soon) == 9
        last = await devices.poll_device(grant.family_id, grant.code_digest, client_id=CLIENT_ID, step=5, leeway=0)
        assert last is not None and last.grant.interval == 5 + 5 * 10

    async def test_every_device_field_round_trips(self, devices: DeviceStore) -> None:
        grant = Grant.mint()
        record = device_record(client_id="c-1.~_!", scope="read:users /accounts.read", interval=7)
        user_code = await _put(devices, grant, record)
        await devices.decide_device(grant.family_id, grant.code_digest, approve=True, sub="ålice ✓", username="Ålice")
        found = await devices.find_device(user_code)
        assert found is not None
        assert found.grant == replace(record, status="approved", sub="ålice ✓", username="Ålice")

    async def test_what_a_device_grant_issued_ends_with_its_user_and_its_client(
        self, devices: DeviceStore, store: CoreStore
    ) -> None:
        for revoke in ("user", "client"):
            grant = Grant.mint()
            await _put(devices, grant, device_record())
            await devices.decide_device(grant.family_id, grant.code_digest, approve=True, sub="alice", username=None)
            access, family = access_record(), family_record(grant.refresh_digest)
            redeem = devices.redeem_device
            assert await redeem(grant.family_id, grant.code_digest, grant.access_digest, access, family) is Outcome.DONE
            ended = await (store.revoke_user("alice") if revoke == "user" else store.revoke_client(CLIENT_ID))
            assert ended == 1, revoke
            found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
            assert found.access is None and found.family is None, revoke

    async def test_an_approval_not_yet_redeemed_ends_with_its_user_and_its_client(
        self, devices: DeviceStore, store: CoreStore
    ) -> None:
        """Between the user's approval and the device's next poll nothing is issued yet; revoking the user or
        the client then must still stop the device from getting tokens."""
        for revoke in ("user", "client"):
            grant = Grant.mint()
            await _put(devices, grant, device_record())
            await devices.decide_device(grant.family_id, grant.code_digest, approve=True, sub="alice", username=None)
            ended = await (store.revoke_user("alice") if revoke == "user" else store.revoke_client(CLIENT_ID))
            assert ended == 0, revoke  # nothing had been issued
            access, family = access_record(), family_record(grant.refresh_digest)
            redeem = devices.redeem_device
            outcome = await redeem(grant.family_id, grant.code_digest, grant.access_digest, access, family)
            assert outcome is Outcome.MISSING, revoke
            assert (
                await devices.poll_device(grant.family_id, grant.code_digest, client_id=CLIENT_ID, step=5, leeway=0)
                is None
            )
            assert (await store.lookup(grant.family_id, access_digest=grant.access_digest)).access is None
