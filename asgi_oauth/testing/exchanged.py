"""Tokens exchanged for other tokens (RFC 8693): ``put_exchanged``, and every way of ending the subject token
ending them too."""

from __future__ import annotations

from .. import crypto
from ..store.base import Store
from .owners import family_grant, lone_grant
from .records import Grant, access_record


async def _exchange(store: Store, subject: Grant, subject_digest: str | None = None) -> tuple[str, bool]:
    """A token of another client exchanged for ``subject``'s access token (or ``subject_digest``), as the token
    exchange grant stores it: ``(its digest, whether it was stored)``."""
    _, token = crypto.new_token(subject.family_id)
    digest = crypto.digest(token, "access")
    record = access_record(client_id="mcp-server", lifetime=600.0)
    stored = await store.put_exchanged(
        subject.family_id, digest, record, subject_digest=subject_digest or subject.access_digest
    )
    return digest, stored


async def _lives(store: Store, family_id: str, digest: str) -> bool:
    return await store.get_access(family_id, digest) is not None


class ExchangeContract:
    """``put_exchanged``: stored only while the subject token lives; ended with it, however it ends."""

    async def test_an_exchanged_token_is_stored_only_while_its_subject_lives(self, store: Store) -> None:
        subject = await lone_grant(store)
        digest, stored = await _exchange(store, subject)
        found = await store.get_access(subject.family_id, digest)
        assert stored and found is not None and found.client_id == "mcp-server"
        never = Grant.mint()  # a subject that was never stored
        orphan, stored = await _exchange(store, never)
        assert not stored and not await _lives(store, never.family_id, orphan)
        assert await store.revoke_access(subject.family_id, subject.access_digest, client_id="app")
        late, stored = await _exchange(store, subject)  # lost the race with the revocation: nothing stored
        assert not stored and not await _lives(store, subject.family_id, late)

    async def test_revoking_the_subject_token_ends_what_was_exchanged_for_it_and_for_that(self, store: Store) -> None:
        subject = await family_grant(store)
        _, sibling_digest = subject.next_access()
        await store.put_access(subject.family_id, sibling_digest, access_record())
        first, _ = await _exchange(store, subject)
        second, stored = await _exchange(store, subject, first)  # exchanged again, by its own client
        assert stored
        assert not await store.revoke_access(subject.family_id, first, client_id="app")  # not app's token
        assert await store.revoke_access(subject.family_id, subject.access_digest, client_id="app")
        for digest in (subject.access_digest, first, second):
            assert not await _lives(store, subject.family_id, digest)
        # Nothing else of the grant ends: its other access token and its refresh token live on.
        assert await _lives(store, subject.family_id, sibling_digest)
        assert (await store.lookup(subject.family_id)).family is not None

    async def test_revoking_an_exchanged_token_leaves_its_subject_alone(self, store: Store) -> None:
        subject = await lone_grant(store)
        exchanged, _ = await _exchange(store, subject)
        assert await store.revoke_access(subject.family_id, exchanged, client_id="mcp-server")
        assert await _lives(store, subject.family_id, subject.access_digest)
        assert not await _lives(store, subject.family_id, exchanged)

    async def test_revoking_the_subject_family_ends_what_was_exchanged(self, store: Store) -> None:
        subject = await family_grant(store)
        first, _ = await _exchange(store, subject)
        second, _ = await _exchange(store, subject, first)
        assert await store.revoke_family(subject.family_id)
        for digest in (first, second):
            assert not await _lives(store, subject.family_id, digest)

    async def test_revoking_the_subject_client_or_user_ends_what_was_exchanged(self, store: Store) -> None:
        machine = await lone_grant(store, sub=None)  # client_credentials: the exchanged token is another client's
        of_machine, _ = await _exchange(store, machine)
        of_family, _ = await _exchange(store, family := await family_grant(store, sub="bob"))
        assert await store.revoke_client("app") == 2
        assert not await _lives(store, machine.family_id, of_machine)
        assert not await _lives(store, family.family_id, of_family)
