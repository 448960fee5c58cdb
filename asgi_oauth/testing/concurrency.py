"""Concurrent callers of one verb: exactly one wins where one must."""

from __future__ import annotations

import asyncio

from ..models import AuthorizationCode, CodeReplayed, Outcome
from ..store.base import Store
from .records import Grant, access_record, code_record, family_record, redeem

RACERS = 50


class ConcurrencyContract:
    """The verbs that must not race, hammered concurrently: exactly one winner, and a consistent end state.

    Subclass it with a ``store`` fixture giving a fresh, empty store per test (see :mod:`asgi_oauth.testing`).
    """

    async def test_concurrent_code_exchange_has_one_winner(self, store: Store) -> None:
        grant = Grant.mint()
        code = code_record()
        await store.put_code(grant.family_id, grant.code_digest, code)

        results = await asyncio.gather(
            *(store.take_code(grant.family_id, grant.code_digest, replay_window=60) for _ in range(RACERS))
        )

        winners = [r for r in results if isinstance(r, AuthorizationCode)]
        assert winners == [code]
        assert results.count(CodeReplayed()) == RACERS - 1
        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=60) == CodeReplayed()

    async def test_concurrent_refresh_has_one_winner_and_revokes_the_family(self, store: Store) -> None:
        grant = Grant.mint()
        await store.put_family(
            grant.family_id, family_record(grant.refresh_digest), grant.access_digest, access_record()
        )
        attempts = [(grant.next_refresh()[1], grant.next_access()[1]) for _ in range(RACERS)]

        results = await asyncio.gather(
            *(
                store.rotate_refresh(
                    grant.family_id, grant.refresh_digest, family_record(refresh), access, access_record()
                )
                for refresh, access in attempts
            )
        )

        assert results.count(Outcome.DONE) == 1
        # The first loser finds the token spent and revokes; the rest find no family left.
        assert Outcome.REUSED in results
        assert set(results) == {Outcome.DONE, Outcome.REUSED, Outcome.MISSING}
        # The losers presented a token the winner had already spent: reuse, so nothing of the family lives.
        old = await store.lookup(
            grant.family_id, access_digest=grant.access_digest, refresh_digest=grant.refresh_digest
        )
        assert old.family is None
        assert old.access is None
        assert old.refresh_spent is True
        for refresh, access in attempts:
            found = await store.lookup(grant.family_id, access_digest=access, refresh_digest=refresh)
            assert found.access is None
            assert found.family is None
            assert found.refresh_spent is False
        winner_refresh = attempts[results.index(Outcome.DONE)][0]
        after = await store.rotate_refresh(
            grant.family_id,
            winner_refresh,
            family_record(grant.next_refresh()[1]),
            grant.next_access()[1],
            access_record(),
        )
        assert after is Outcome.MISSING

    async def test_concurrent_redemptions_have_one_winner_whose_tokens_the_replays_revoke(self, store: Store) -> None:
        grant = Grant.mint()
        await store.put_code(grant.family_id, grant.code_digest, code_record())

        # Each racer is its own exchange, with its own tokens (the same one sent twice is no race: see the contract).
        results = await asyncio.gather(
            *(redeem(store, grant, access_digest=grant.next_access()[1]) for _ in range(RACERS))
        )

        assert results.count(Outcome.DONE) == 1
        assert results.count(Outcome.REUSED) == RACERS - 1
        found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
        assert found.family is None
        assert found.access is None

    async def test_redemption_racing_a_replay_never_leaves_a_live_family(self, store: Store) -> None:
        """Whichever lands first, a replayed code must not end up with tokens that validate."""
        for _ in range(20):
            grant = Grant.mint()
            await store.put_code(grant.family_id, grant.code_digest, code_record())

            stored, taken = await asyncio.gather(
                redeem(store, grant), store.take_code(grant.family_id, grant.code_digest, replay_window=60)
            )

            # Exactly one of the two spent the code; the other found it spent.
            assert (stored is Outcome.DONE) is not isinstance(taken, AuthorizationCode)
            found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
            assert found.family is None
            assert found.access is None

    async def test_concurrent_revocations_report_one_success(self, store: Store) -> None:
        grant = Grant.mint()
        await store.put_family(
            grant.family_id, family_record(grant.refresh_digest), grant.access_digest, access_record()
        )
        results = await asyncio.gather(*(store.revoke_family(grant.family_id) for _ in range(RACERS)))
        assert results.count(True) == 1
        assert (await store.lookup(grant.family_id)).family is None
