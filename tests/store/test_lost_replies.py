"""A reply lost after Redis ran the command: the connection drops between the two, through a real TCP proxy.

What the store's pipelined connection must do then: send again only what a second run
answers as the first did (the redemption and rotation scripts recognise their own earlier run, so the
request succeeds and nothing is revoked), and fail with 503 what must not run twice (a failure counted
twice, a nonce claimed from itself). Through HTTP, a client that got a 503 for a refresh that did happen
retries within the grace period and keeps its grant (tests/web/test_refresh_grace.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from asgi_oauth import RedisStore
from asgi_oauth.models import Bucket, Outcome
from asgi_oauth.store import StoreUnavailable
from asgi_oauth.testing.records import Grant, access_record, client_record, code_record, family_record, redeem

from ..proxy import ReplyDropper, redis_port


@pytest.fixture
async def proxied(redis_url: str, key_prefix: str) -> AsyncIterator[tuple[RedisStore, ReplyDropper]]:
    dropper = ReplyDropper(redis_port(redis_url))
    proxy_port = await dropper.start()
    store = RedisStore.from_url(f"redis://127.0.0.1:{proxy_port}/0", key_prefix=key_prefix, timeout=2)
    try:
        await load_scripts(store)
        yield store, dropper
    finally:
        await store.aclose()
        await dropper.close()


async def load_scripts(store: RedisStore) -> None:
    """Run each script once on keys nothing else uses, so Redis knows them: an armed drop must lose the reply of
    a script that ran, not a NOSCRIPT answer to one that did not."""
    spare = Grant.mint()
    await store.rotate_refresh(spare.family_id, "x" * 32, family_record("y" * 32), "z" * 32, access_record())
    await redeem(store, spare)
    bucket = Bucket("pair:warm-up", limit=1000, window=1)
    await store.record_failure([bucket], known="known:warm-up")
    await store.check_limits([bucket], known="known:warm-up")


async def test_a_rotation_whose_reply_was_lost_is_resent_and_recognised(
    proxied: tuple[RedisStore, ReplyDropper],
) -> None:
    store, dropper = proxied
    grant = Grant.mint()
    await store.put_family(grant.family_id, family_record(grant.refresh_digest), grant.access_digest, access_record())
    _, new_refresh = grant.next_refresh()
    _, new_access = grant.next_access()
    new_family = family_record(new_refresh, previous_digest=grant.refresh_digest)

    dropper.drop_next_reply()
    outcome = await store.rotate_refresh(grant.family_id, grant.refresh_digest, new_family, new_access, access_record())

    assert dropper.dropped == 1  # the first reply really was lost
    assert outcome is Outcome.DONE  # and the resent script saw its own rotation, not a reuse
    found = await store.lookup(grant.family_id, access_digest=new_access, refresh_digest=grant.refresh_digest)
    assert found.family == new_family
    assert found.access is not None
    assert found.refresh_spent is True


async def test_a_redemption_whose_reply_was_lost_is_resent_and_is_no_replay(
    proxied: tuple[RedisStore, ReplyDropper],
) -> None:
    store, dropper = proxied
    grant = Grant.mint()
    await store.put_code(grant.family_id, grant.code_digest, code_record())

    dropper.drop_next_reply()
    outcome = await redeem(store, grant)

    assert dropper.dropped == 1
    assert outcome is Outcome.DONE
    found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
    assert found.access is not None and found.family is not None
    # The code is spent all the same: another exchange of it is a replay, and revokes.
    assert await redeem(store, grant, access_digest=grant.next_access()[1]) is Outcome.REUSED


async def test_a_failure_count_whose_reply_was_lost_is_not_counted_twice(
    proxied: tuple[RedisStore, ReplyDropper],
) -> None:
    store, dropper = proxied
    bucket = Bucket("pair:lost", limit=2, window=60)
    dropper.drop_next_reply()
    with pytest.raises(StoreUnavailable):
        await store.record_failure([bucket], known="known:none")
    assert dropper.dropped == 1
    # Counted once by the run whose reply was lost: one more failure fills the bucket, not zero more.
    assert (await store.check_limits([bucket], known="known:none")).blocked_for == 0
    assert await store.record_failure([bucket], known="known:none") > 0


async def test_claims_and_creations_whose_reply_was_lost_are_sent_again_and_know_their_own_earlier_run(
    proxied: tuple[RedisStore, ReplyDropper],
) -> None:
    """A nonce claimed or a client created by a run whose reply was lost: the resend finds its own value there and
    answers as the first run would have, while anyone else's claim of the same is still refused."""
    store, dropper = proxied
    dropper.drop_next_reply()
    assert await store.claim_once("nonce-1", expires_at=9e9) is True
    assert dropper.dropped == 1
    assert await store.claim_once("nonce-1", expires_at=9e9) is False

    dropper.drop_next_reply()
    assert await store.create_client(client_record("lost-reply")) is True
    assert dropper.dropped == 2
    assert await store.create_client(client_record("lost-reply", name="someone else")) is False


async def test_a_resend_that_cannot_connect_answers_unavailable(proxied: tuple[RedisStore, ReplyDropper]) -> None:
    store, dropper = proxied
    grant = Grant.mint()
    await store.put_family(grant.family_id, family_record(grant.refresh_digest), grant.access_digest, access_record())
    dropper.drop_next_reply(refuse=True)
    with pytest.raises(StoreUnavailable):
        await store.rotate_refresh(
            grant.family_id, grant.refresh_digest, family_record(grant.next_refresh()[1]), "n" * 32, access_record()
        )
    dropper.accept()
    # The rotation happened although nobody heard of it: the presented token is now spent.
    assert (await store.lookup(grant.family_id, refresh_digest=grant.refresh_digest)).refresh_spent is True
