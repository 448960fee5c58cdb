"""Everything of a user or a client ended in one step: ``revoke_user`` and ``revoke_client``."""

from __future__ import annotations

import asyncio

from ..models import Outcome
from ..store.base import Store
from .records import CLIENT_ID, Grant, access_record, code_record, family_record, redeem


async def _live(store: Store, grant: Grant) -> bool:
    """Whether anything of ``grant`` still works: its first access token, or its family (refresh token)."""
    found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
    return found.access is not None or found.family is not None


async def family_grant(store: Store, *, sub: str | None = "alice", client_id: str = CLIENT_ID) -> Grant:
    """A refresh family with its first access token, as the password grant stores it."""
    grant = Grant.mint()
    family = family_record(grant.refresh_digest, sub=sub, client_id=client_id)
    await store.put_family(grant.family_id, family, grant.access_digest, access_record(sub=sub, client_id=client_id))
    return grant


async def lone_grant(store: Store, *, sub: str | None = "alice", client_id: str = CLIENT_ID) -> Grant:
    """A lone access token: client_credentials (no user), or a grant without refresh tokens."""
    grant = Grant.mint()
    await store.put_access(grant.family_id, grant.access_digest, access_record(sub=sub, client_id=client_id))
    return grant


class OwnerContract:
    """``revoke_user`` and ``revoke_client``: what each ends, what it leaves alone, and what it counts."""

    async def test_revoke_user_ends_every_grant_of_the_user_and_nothing_else(self, store: Store) -> None:
        family = await family_grant(store)
        lone = await lone_grant(store)
        exchanged = Grant.mint()  # an authorization code redeemed for a family
        await store.put_code(exchanged.family_id, exchanged.code_digest, code_record())
        assert await redeem(store, exchanged) is Outcome.DONE
        without_refresh = Grant.mint()  # redeemed by a client without the refresh_token grant
        await store.put_code(without_refresh.family_id, without_refresh.code_digest, code_record())
        assert await redeem(store, without_refresh, refresh=False) is Outcome.DONE
        pending = Grant.mint()  # a code not yet exchanged
        await store.put_code(pending.family_id, pending.code_digest, code_record())

        bobs = await family_grant(store, sub="bob")
        machine = await lone_grant(store, sub=None)
        other_client = await family_grant(store, client_id="other")

        assert await store.revoke_user("alice") == 5  # the code was no grant yet: not counted
        for grant in (family, lone, exchanged, without_refresh):
            assert not await _live(store, grant)
        # The pending code is spent: exchanging it now fails.
        assert await store.get_code(pending.family_id, pending.code_digest) is None
        assert await redeem(store, pending) is Outcome.MISSING
        for grant in (bobs, machine):
            assert await _live(store, grant)
        assert not await _live(store, other_client)  # alice's too, at another client
        assert await store.revoke_user("alice") == 0

    async def test_a_user_revoked_can_be_issued_tokens_again(self, store: Store) -> None:
        await family_grant(store)
        assert await store.revoke_user("alice") == 1
        again = await family_grant(store)
        assert await _live(store, again)
        assert await store.revoke_user("alice") == 1
        assert not await _live(store, again)

    async def test_revoke_user_reaches_a_rotated_family(self, store: Store) -> None:
        grant = await family_grant(store)
        _, refresh_digest = grant.next_refresh()
        _, access_digest = grant.next_access()
        rotated = family_record(refresh_digest, lifetime=2 * 86400.0)  # rotation extends the family
        outcome = await store.rotate_refresh(
            grant.family_id, grant.refresh_digest, rotated, access_digest, access_record()
        )
        assert outcome is Outcome.DONE
        assert await store.revoke_user("alice") == 1
        found = await store.lookup(grant.family_id, access_digest=access_digest)
        assert found.family is None and found.access is None

    async def test_revoke_user_of_nobody_ends_nothing(self, store: Store) -> None:
        grant = await family_grant(store)
        assert await store.revoke_user("nobody") == 0
        assert await store.revoke_user("ALICE") == 0  # subjects are compared exactly
        assert await _live(store, grant)

    async def test_revoke_client_ends_its_machine_and_user_tokens_only(self, store: Store) -> None:
        machine = await lone_grant(store, sub=None)
        users = [await family_grant(store), await family_grant(store, sub="bob"), await lone_grant(store, sub="carol")]
        pending = Grant.mint()
        await store.put_code(pending.family_id, pending.code_digest, code_record())
        others = [await lone_grant(store, sub=None, client_id="other"), await family_grant(store, client_id="other")]

        assert await store.revoke_client(CLIENT_ID) == 4
        for grant in (machine, *users):
            assert not await _live(store, grant)
        assert await store.get_code(pending.family_id, pending.code_digest) is None
        for grant in others:
            assert await _live(store, grant)
        assert await store.revoke_client(CLIENT_ID) == 0
        # The user revocation finds alice's family of the other client only.
        assert await store.revoke_user("alice") == 1

    async def test_revoke_ends_thousands_of_grants_of_one_owner(self, store: Store) -> None:
        """More grants than a Redis index keeps in one bucket (128), many times over: every one is still found."""
        machine = [await lone_grant(store, sub=None) for _ in range(2_100)]
        alices = [await family_grant(store) for _ in range(300)]
        other = await lone_grant(store, sub=None, client_id="other")
        assert await store.revoke_user("alice") == 300
        assert not any([await _live(store, grant) for grant in alices])
        assert await store.revoke_client(CLIENT_ID) == 2_100
        assert not any([await _live(store, grant) for grant in machine])
        assert await _live(store, other)
        assert await store.revoke_client(CLIENT_ID) == 0
        again = await lone_grant(store, sub=None)  # listed anew after the revocation emptied the index
        assert await store.revoke_client(CLIENT_ID) == 1
        assert not await _live(store, again)

    async def test_revoking_races_issuing_without_losing_a_grant(self, store: Store) -> None:
        """Grants issued while a revocation runs are either ended by it or survive it listed, never unlisted."""

        async def issue() -> Grant:
            return await family_grant(store)

        results = await asyncio.gather(*(issue() for _ in range(10)), store.revoke_user("alice"))
        grants = [g for g in results if isinstance(g, Grant)]
        survivors = [g for g in grants if await _live(store, g)]
        assert await store.revoke_user("alice") == len(survivors)
        for grant in grants:
            assert not await _live(store, grant)
