"""Lifetimes: what the store keeps, and for how long, with real time passing."""

from __future__ import annotations

import asyncio

from ..models import AuthorizationCode, CodeReplayed, Outcome
from ..store.base import Store
from .records import Grant, access_record, at, code_record, family_record, redeem

LIFETIME = 0.2


PAST_EXPIRY = 0.3


class ExpiryContract:
    """Records really disappear at their expiry time: real clocks, real sleeps, no time mocking.

    Subclass it with a ``store`` fixture giving a fresh, empty store per test (see :mod:`asgi_oauth.testing`).
    """

    async def test_access_token_expires(self, store: Store) -> None:
        grant = Grant.mint()
        token = access_record(lifetime=LIFETIME)
        await store.put_access(grant.family_id, grant.access_digest, token)
        assert (await store.lookup(grant.family_id, access_digest=grant.access_digest)).access == token
        await asyncio.sleep(PAST_EXPIRY)
        assert (await store.lookup(grant.family_id, access_digest=grant.access_digest)).access is None
        assert await store.revoke_access(grant.family_id, grant.access_digest, client_id=token.client_id) is False

    async def test_family_expires_with_its_access_tokens(self, store: Store) -> None:
        # Settings keep an access token's lifetime within its family's (refresh >= access lifetime).
        grant = Grant.mint()
        family = family_record(grant.refresh_digest, lifetime=LIFETIME)
        access = access_record(lifetime=LIFETIME / 2)
        await store.put_family(grant.family_id, family, grant.access_digest, access)
        found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
        assert found.family == family
        assert found.access == access

        await asyncio.sleep(PAST_EXPIRY)

        found = await store.lookup(
            grant.family_id, access_digest=grant.access_digest, refresh_digest=grant.refresh_digest
        )
        assert found.family is None
        assert found.access is None
        assert found.refresh_spent is False
        rotated = await store.rotate_refresh(
            grant.family_id,
            grant.refresh_digest,
            family_record(grant.next_refresh()[1]),
            grant.next_access()[1],
            access_record(),
        )
        assert rotated is Outcome.MISSING

    async def test_access_token_expires_before_its_family(self, store: Store) -> None:
        grant = Grant.mint()
        family = family_record(grant.refresh_digest)
        await store.put_family(grant.family_id, family, grant.access_digest, access_record(lifetime=LIFETIME))
        await asyncio.sleep(PAST_EXPIRY)
        found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
        assert found.access is None
        assert found.family == family

    async def test_code_expires(self, store: Store) -> None:
        grant = Grant.mint()
        await store.put_code(grant.family_id, grant.code_digest, code_record(lifetime=LIFETIME))
        await asyncio.sleep(PAST_EXPIRY)
        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=60) is None

    async def test_code_is_usable_until_it_expires(self, store: Store) -> None:
        grant = Grant.mint()
        code = code_record(lifetime=PAST_EXPIRY + 0.5)
        await store.put_code(grant.family_id, grant.code_digest, code)
        await asyncio.sleep(PAST_EXPIRY)
        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=60) == code

    async def test_spent_code_marker_lasts_the_replay_window(self, store: Store) -> None:
        grant = Grant.mint()
        await store.put_code(grant.family_id, grant.code_digest, code_record())
        taken = await store.take_code(grant.family_id, grant.code_digest, replay_window=LIFETIME)
        assert isinstance(taken, AuthorizationCode)
        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=LIFETIME) == CodeReplayed()
        await asyncio.sleep(PAST_EXPIRY)
        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=LIFETIME) is None
        # With the marker gone the code cannot be redeemed late either.
        assert await redeem(store, grant) is Outcome.MISSING

    async def test_spent_refresh_marker_expires_with_the_token_it_marks(self, store: Store) -> None:
        grant = Grant.mint()
        await store.put_family(
            grant.family_id,
            family_record(grant.refresh_digest, lifetime=LIFETIME),
            grant.access_digest,
            access_record(),
        )
        _, new_refresh = grant.next_refresh()
        _, new_access = grant.next_access()
        new_family = family_record(new_refresh, lifetime=3600)
        rotated = await store.rotate_refresh(
            grant.family_id, grant.refresh_digest, new_family, new_access, access_record()
        )
        assert rotated is Outcome.DONE
        assert (await store.lookup(grant.family_id, refresh_digest=grant.refresh_digest)).refresh_spent is True

        await asyncio.sleep(PAST_EXPIRY)

        found = await store.lookup(grant.family_id, access_digest=new_access, refresh_digest=grant.refresh_digest)
        assert found.refresh_spent is False
        # The rotated family lives on with its own, longer lifetime.
        assert found.family == new_family
        assert found.access is not None

    async def test_consent_expires(self, store: Store) -> None:
        await store.put_consent("alice", "web", "read", expires_at=at(LIFETIME))
        assert await store.get_consent("alice", "web") == "read"
        await asyncio.sleep(PAST_EXPIRY)
        assert await store.get_consent("alice", "web") is None
        assert await store.delete_consent("alice", "web") is False
