"""Clients, codes, families and access tokens: the atomic verbs and what each leaves behind."""

from __future__ import annotations

import dataclasses
import time

from ..models import AccessToken, AuthorizationCode, Client, CodeReplayed, Outcome, TokenFamily
from ..store.base import CoreStore, Store
from .records import CLIENT_ID, Grant, access_record, at, client_record, code_record, family_record, redeem


async def issue_from_code(store: Store, grant: Grant) -> tuple[TokenFamily, AccessToken]:
    """The authorization_code exchange as the token endpoint does it: read the code, then redeem it."""
    code = code_record()
    await store.put_code(grant.family_id, grant.code_digest, code)
    assert await store.get_code(grant.family_id, grant.code_digest) == code
    access, family = access_record(), family_record(grant.refresh_digest)
    assert await redeem(store, grant, access, family) is Outcome.DONE
    return family, access


class TokenContract:
    """The Store contract (asgi_oauth/store/base.py), checked against every implementation.

    Subclass it with a ``store`` fixture giving a fresh, empty store per test (see :mod:`asgi_oauth.testing`).
    """

    async def test_implements_the_protocol(self, store: Store) -> None:
        assert isinstance(store, CoreStore)
        await store.ping()

    async def test_create_and_get_client(self, store: Store) -> None:
        client = client_record("web")
        assert await store.get_client("web") is None
        assert await store.create_client(client) is True
        assert await store.get_client("web") == client
        assert await store.get_client("other") is None

    async def test_create_client_refuses_a_taken_id_without_overwriting(self, store: Store) -> None:
        first = client_record("web", name="First")
        second = client_record("web", name="Second", scope="admin")
        assert await store.create_client(first) is True
        assert await store.create_client(second) is False
        assert await store.get_client("web") == first
        assert await store.list_clients() == [first]

    async def test_every_client_field_round_trips(self, store: Store) -> None:
        client = Client(
            client_id="c-1.~_!",
            name="Ünïcode “app” ✓",
            secret_hash="scrypt$c2FsdA$aGFzaA",
            redirect_uris=("https://a.example/cb", "com.example.app:/oauth", "http://127.0.0.1/cb"),
            grant_types=("authorization_code", "client_credentials", "refresh_token", "password", "implicit"),
            scope="read:users /accounts.read email",
            public=True,
            first_party=True,
            token_endpoint_auth_method="none",
            introspect_any=True,
            created_at=1_712_345_678,
            dynamic=True,
            unused_expires_at=round(time.time() + 3600.5, 3),
            secret_expires_at=int(time.time()) + 7200,
            extra={"par": {"required": True}, "note": "ünïcode", "n": 3},
        )
        # The sample must differ from every default, or a store that dropped a field would still pass.
        defaults = Client(client_id="x", name="x", secret_hash=None)
        for field in dataclasses.fields(Client):
            assert getattr(client, field.name) != getattr(defaults, field.name), field.name

        assert await store.create_client(client) is True
        assert await store.get_client(client.client_id) == client
        assert await store.list_clients() == [client]

    async def test_public_client_without_secret_round_trips(self, store: Store) -> None:
        client = Client(client_id="spa", name="SPA", secret_hash=None, redirect_uris=("https://spa.example/",))
        assert await store.create_client(client) is True
        got = await store.get_client("spa")
        assert got == client
        assert got is not None
        assert got.secret_hash is None
        assert got.grant_types == ("authorization_code", "refresh_token")

    async def test_list_clients_is_sorted_by_id(self, store: Store) -> None:
        assert await store.list_clients() == []
        # Names sort the other way round, so only sorting by id gives the expected order.
        for client_id, name in [("mango", "A"), ("Apple", "E"), ("banana", "B"), ("apple", "D"), ("0zero", "F")]:
            assert await store.create_client(client_record(client_id, name=name)) is True
        listed = await store.list_clients()
        assert [c.client_id for c in listed] == ["0zero", "Apple", "apple", "banana", "mango"]
        assert all(isinstance(c, Client) for c in listed)

    async def test_delete_client(self, store: Store) -> None:
        await store.create_client(client_record("keep"))
        await store.create_client(client_record("drop"))
        assert await store.delete_client("drop") is True
        assert await store.delete_client("drop") is False
        assert await store.delete_client("never") is False
        assert await store.get_client("drop") is None
        assert [c.client_id for c in await store.list_clients()] == ["keep"]
        # The id is free again.
        assert await store.create_client(client_record("drop")) is True

    async def test_take_code_returns_the_record_once(self, store: Store) -> None:
        grant = Grant.mint()
        code = code_record()
        await store.put_code(grant.family_id, grant.code_digest, code)
        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=60) == code
        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=60) == CodeReplayed()
        # Still a replay on every later attempt, not a fresh code and not "unknown".
        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=60) == CodeReplayed()

    async def test_code_without_optional_fields_round_trips(self, store: Store) -> None:
        grant = Grant.mint()
        code = code_record(
            redirect_uri_sent=False, scope="", code_challenge=None, code_challenge_method=None, username=None
        )
        await store.put_code(grant.family_id, grant.code_digest, code)
        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=60) == code

    async def test_take_unknown_code_returns_none(self, store: Store) -> None:
        grant = Grant.mint()
        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=60) is None
        await store.put_code(grant.family_id, grant.code_digest, code_record())
        other = Grant.mint()
        # Right digest under another family id, and another digest under the right family id.
        assert await store.take_code(other.family_id, grant.code_digest, replay_window=60) is None
        assert await store.take_code(grant.family_id, other.code_digest, replay_window=60) is None
        # Neither probe spent the real code.
        assert isinstance(
            await store.take_code(grant.family_id, grant.code_digest, replay_window=60), AuthorizationCode
        )

    async def test_code_replay_revokes_the_family_issued_from_it(self, store: Store) -> None:
        grant = Grant.mint()
        family, access = await issue_from_code(store, grant)
        before = await store.lookup(grant.family_id, access_digest=grant.access_digest)
        assert before.access == access
        assert before.family == family

        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=60) == CodeReplayed()

        after = await store.lookup(
            grant.family_id, access_digest=grant.access_digest, refresh_digest=grant.refresh_digest
        )
        assert after.access is None
        assert after.family is None
        new_refresh_digest = grant.next_refresh()[1]
        new_access_digest = grant.next_access()[1]
        rotated = await store.rotate_refresh(
            grant.family_id,
            grant.refresh_digest,
            family_record(new_refresh_digest),
            new_access_digest,
            access_record(),
        )
        assert rotated is Outcome.MISSING

    async def test_code_replay_leaves_other_families_alone(self, store: Store) -> None:
        victim, bystander = Grant.mint(), Grant.mint()
        await issue_from_code(store, victim)
        _, bystander_access = await issue_from_code(store, bystander)
        assert await store.take_code(victim.family_id, victim.code_digest, replay_window=60) == CodeReplayed()
        found = await store.lookup(bystander.family_id, access_digest=bystander.access_digest)
        assert found.access == bystander_access
        assert found.family is not None

    async def test_get_code_reads_without_spending(self, store: Store) -> None:
        grant = Grant.mint()
        code = code_record()
        assert await store.get_code(grant.family_id, grant.code_digest) is None
        await store.put_code(grant.family_id, grant.code_digest, code)
        assert await store.get_code(grant.family_id, grant.code_digest) == code
        assert await store.get_code(grant.family_id, grant.code_digest) == code
        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=60) == code
        assert await store.get_code(grant.family_id, grant.code_digest) is None  # spent

    async def test_redeem_spends_the_code_and_stores_the_tokens(self, store: Store) -> None:
        grant = Grant.mint()
        await store.put_code(grant.family_id, grant.code_digest, code_record())
        access = access_record()
        assert await redeem(store, grant, access) is Outcome.DONE
        found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
        assert found.access == access
        assert found.family is not None and found.family.refresh_digest == grant.refresh_digest
        assert await store.get_code(grant.family_id, grant.code_digest) is None
        # Redeeming again (another exchange: other tokens) is a replay: refused, and what the first stored is revoked.
        assert await redeem(store, grant, access_digest=grant.next_access()[1]) is Outcome.REUSED
        found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
        assert found.access is None
        assert found.family is None
        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=60) == CodeReplayed()

    async def test_redeem_without_a_refresh_token_still_lets_a_replay_revoke_the_access_token(
        self, store: Store
    ) -> None:
        grant = Grant.mint()
        await store.put_code(grant.family_id, grant.code_digest, code_record())
        access = access_record()
        assert await redeem(store, grant, access, refresh=False) is Outcome.DONE
        found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
        assert found.access == access
        assert found.family is None
        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=60) == CodeReplayed()
        assert (await store.lookup(grant.family_id, access_digest=grant.access_digest)).access is None

    async def test_redeem_refused_for_a_burnt_code_and_counts_as_a_replay(self, store: Store) -> None:
        grant = Grant.mint()
        await store.put_code(grant.family_id, grant.code_digest, code_record())
        assert isinstance(
            await store.take_code(grant.family_id, grant.code_digest, replay_window=60), AuthorizationCode
        )

        # A lone-style access record: if the store wrongly wrote it, lookup would show it even without a family.
        assert await redeem(store, grant, access_record()) is Outcome.REUSED
        found = await store.lookup(
            grant.family_id, access_digest=grant.access_digest, refresh_digest=grant.refresh_digest
        )
        assert found.access is None
        assert found.family is None
        assert found.refresh_spent is False
        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=60) == CodeReplayed()

    async def test_redeem_refused_for_an_unknown_code(self, store: Store) -> None:
        grant = Grant.mint()
        assert await redeem(store, grant) is Outcome.MISSING
        assert (await store.lookup(grant.family_id, access_digest=grant.access_digest)).access is None
        assert await store.take_code(grant.family_id, grant.code_digest, replay_window=60) is None

    async def test_put_access_and_lookup(self, store: Store) -> None:
        grant = Grant.mint()
        token = access_record(sub=None, username=None, scope="")
        await store.put_access(grant.family_id, grant.access_digest, token)
        found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
        assert found.access == token
        assert found.family is None
        assert found.refresh_spent is False
        # Another digest in the same family, and the same digest in another family, are unknown.
        assert (await store.lookup(grant.family_id, access_digest=grant.next_access()[1])).access is None
        assert (await store.lookup(Grant.mint().family_id, access_digest=grant.access_digest)).access is None

    async def test_lone_access_token_survives_without_a_family(self, store: Store) -> None:
        grant = Grant.mint()
        token = access_record()
        await store.put_access(grant.family_id, grant.access_digest, token)
        assert await store.revoke_family(grant.family_id) is False
        assert (await store.lookup(grant.family_id, access_digest=grant.access_digest)).access == token

    async def test_get_access_answers_for_lone_and_family_tokens(self, store: Store) -> None:
        grant = Grant.mint()
        token = access_record()
        await store.put_family(grant.family_id, family_record(grant.refresh_digest), grant.access_digest, token)
        assert await store.get_access(grant.family_id, grant.access_digest) == token
        _, lone_digest = grant.next_access()
        await store.put_access(grant.family_id, lone_digest, token)
        assert await store.get_access(grant.family_id, lone_digest) == token
        assert await store.get_access(grant.family_id, "x" * 32) is None
        await store.revoke_family(grant.family_id)
        # The family's own access token goes with it; one stored beside it (not through the family) stays.
        assert await store.get_access(grant.family_id, grant.access_digest) is None
        assert await store.get_access(grant.family_id, lone_digest) == token

    async def test_every_access_token_of_a_rotated_family_is_revoked_with_it(self, store: Store) -> None:
        grant = Grant.mint()
        await store.put_family(
            grant.family_id, family_record(grant.refresh_digest), grant.access_digest, access_record()
        )
        _, second = grant.next_access()
        new_refresh = "n" * 32
        assert (
            await store.rotate_refresh(
                grant.family_id, grant.refresh_digest, family_record(new_refresh), second, access_record()
            )
            is Outcome.DONE
        )
        assert await store.get_access(grant.family_id, grant.access_digest) is not None
        assert await store.revoke_family(grant.family_id) is True
        assert await store.get_access(grant.family_id, grant.access_digest) is None
        assert await store.get_access(grant.family_id, second) is None

    async def test_put_family_without_code(self, store: Store) -> None:
        grant = Grant.mint()
        family = family_record(grant.refresh_digest, sub=None, username=None)
        access = access_record(sub=None, username=None)
        await store.put_family(grant.family_id, family, grant.access_digest, access)
        found = await store.lookup(
            grant.family_id, access_digest=grant.access_digest, refresh_digest=grant.refresh_digest
        )
        assert found.access == access
        assert found.family == family
        assert found.refresh_spent is False
        # The family is reported for a lookup by refresh digest alone, or with nothing but the id.
        assert (await store.lookup(grant.family_id, refresh_digest=grant.refresh_digest)).family == family
        assert (await store.lookup(grant.family_id)).family == family

    async def test_revoking_the_family_hides_its_access_tokens(self, store: Store) -> None:
        grant = Grant.mint()
        await store.put_family(
            grant.family_id, family_record(grant.refresh_digest), grant.access_digest, access_record()
        )
        _, lone_digest = grant.next_access()
        lone = access_record()
        await store.put_access(grant.family_id, lone_digest, lone)

        assert await store.revoke_family(grant.family_id) is True
        assert await store.revoke_family(grant.family_id) is False

        found = await store.lookup(
            grant.family_id, access_digest=grant.access_digest, refresh_digest=grant.refresh_digest
        )
        assert found.access is None
        assert found.family is None
        assert found.refresh_spent is False
        assert (await store.lookup(grant.family_id, access_digest=lone_digest)).access == lone

    async def test_rotate_refresh(self, store: Store) -> None:
        grant = Grant.mint()
        old_family, old_access = await issue_from_code(store, grant)
        _, new_refresh_digest = grant.next_refresh()
        _, new_access_digest = grant.next_access()
        new_family = family_record(new_refresh_digest, scope="read")
        new_access = access_record(scope="read")

        rotated = await store.rotate_refresh(
            grant.family_id, grant.refresh_digest, new_family, new_access_digest, new_access
        )
        assert rotated is Outcome.DONE
        assert old_family != new_family

        by_old = await store.lookup(grant.family_id, refresh_digest=grant.refresh_digest)
        assert by_old.refresh_spent is True
        assert by_old.family == new_family
        assert by_old.family is not None
        assert by_old.family.refresh_digest == new_refresh_digest

        by_new = await store.lookup(grant.family_id, access_digest=new_access_digest, refresh_digest=new_refresh_digest)
        assert by_new.access == new_access
        assert by_new.family == new_family
        assert by_new.refresh_spent is False
        # The earlier access token of a living family keeps validating until its own expiry.
        assert (await store.lookup(grant.family_id, access_digest=grant.access_digest)).access == old_access

    async def test_rotate_refresh_chain(self, store: Store) -> None:
        grant = Grant.mint()
        await issue_from_code(store, grant)
        digests = [grant.refresh_digest]
        for _ in range(3):
            _, new_refresh = grant.next_refresh()
            _, new_access = grant.next_access()
            rotated = await store.rotate_refresh(
                grant.family_id, digests[-1], family_record(new_refresh), new_access, access_record()
            )
            assert rotated is Outcome.DONE
            digests.append(new_refresh)
        for spent in digests[:-1]:
            assert (await store.lookup(grant.family_id, refresh_digest=spent)).refresh_spent is True
        current = await store.lookup(grant.family_id, refresh_digest=digests[-1])
        assert current.refresh_spent is False
        assert current.family is not None
        assert current.family.refresh_digest == digests[-1]

    async def test_rotate_with_a_spent_refresh_token_revokes_the_family(self, store: Store) -> None:
        grant = Grant.mint()
        await issue_from_code(store, grant)
        _, second_refresh = grant.next_refresh()
        _, second_access = grant.next_access()
        rotated = await store.rotate_refresh(
            grant.family_id, grant.refresh_digest, family_record(second_refresh), second_access, access_record()
        )
        assert rotated is Outcome.DONE

        # The first refresh token again: reuse.
        _, third_refresh = grant.next_refresh()
        _, third_access = grant.next_access()
        reused = await store.rotate_refresh(
            grant.family_id, grant.refresh_digest, family_record(third_refresh), third_access, access_record()
        )
        assert reused is Outcome.REUSED

        found = await store.lookup(grant.family_id, access_digest=second_access, refresh_digest=second_refresh)
        assert found.family is None
        assert found.access is None
        assert (await store.lookup(grant.family_id, access_digest=third_access)).access is None
        assert (await store.lookup(grant.family_id, access_digest=grant.access_digest)).access is None
        # Even the legitimate holder of the current refresh token is out now.
        _, fourth_refresh = grant.next_refresh()
        _, fourth_access = grant.next_access()
        after = await store.rotate_refresh(
            grant.family_id, second_refresh, family_record(fourth_refresh), fourth_access, access_record()
        )
        assert after is Outcome.MISSING

    async def test_rotate_with_an_unknown_refresh_digest_revokes_the_family(self, store: Store) -> None:
        grant = Grant.mint()
        await issue_from_code(store, grant)
        _, stranger = grant.next_refresh()
        _, new_access = grant.next_access()
        reused = await store.rotate_refresh(
            grant.family_id, stranger, family_record(grant.next_refresh()[1]), new_access, access_record()
        )
        assert reused is Outcome.REUSED
        assert (await store.lookup(grant.family_id)).family is None
        assert (await store.lookup(grant.family_id, access_digest=new_access)).access is None

    async def test_rotate_on_a_missing_family(self, store: Store) -> None:
        grant = Grant.mint()
        _, new_refresh = grant.next_refresh()
        _, new_access = grant.next_access()
        rotated = await store.rotate_refresh(
            grant.family_id, grant.refresh_digest, family_record(new_refresh), new_access, access_record()
        )
        assert rotated is Outcome.MISSING
        found = await store.lookup(grant.family_id, access_digest=new_access, refresh_digest=new_refresh)
        assert found.family is None
        assert found.access is None

    async def test_revoke_family_honours_the_owner(self, store: Store) -> None:
        grant = Grant.mint()
        family, access = await issue_from_code(store, grant)
        assert await store.revoke_family(grant.family_id, client_id="intruder") is False
        found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
        assert found.family == family
        assert found.access == access

        assert await store.revoke_family(grant.family_id, client_id=CLIENT_ID) is True
        assert (await store.lookup(grant.family_id)).family is None
        assert await store.revoke_family(grant.family_id, client_id=CLIENT_ID) is False

    async def test_revoke_access_honours_the_owner(self, store: Store) -> None:
        grant = Grant.mint()
        token = access_record(client_id="owner")
        await store.put_access(grant.family_id, grant.access_digest, token)
        assert await store.revoke_access(grant.family_id, grant.access_digest, client_id="intruder") is False
        assert (await store.lookup(grant.family_id, access_digest=grant.access_digest)).access == token

        assert await store.revoke_access(grant.family_id, grant.access_digest, client_id="owner") is True
        assert (await store.lookup(grant.family_id, access_digest=grant.access_digest)).access is None
        assert await store.revoke_access(grant.family_id, grant.access_digest, client_id="owner") is False

    async def test_revoke_access_leaves_the_family(self, store: Store) -> None:
        grant = Grant.mint()
        family, _ = await issue_from_code(store, grant)
        _, other_digest = grant.next_access()
        other = access_record()
        await store.put_access(grant.family_id, other_digest, other)

        assert await store.revoke_access(grant.family_id, grant.access_digest, client_id=CLIENT_ID) is True
        assert (await store.lookup(grant.family_id, access_digest=grant.access_digest)).access is None
        found = await store.lookup(grant.family_id, access_digest=other_digest)
        assert found.access == other
        assert found.family == family

    async def test_consent_put_get_delete(self, store: Store) -> None:
        assert await store.get_consent("alice", "web") is None
        await store.put_consent("alice", "web", "read write", expires_at=at(3600))
        assert await store.get_consent("alice", "web") == "read write"
        # Keyed by both user and client.
        assert await store.get_consent("bob", "web") is None
        assert await store.get_consent("alice", "cli") is None

        await store.put_consent("alice", "web", "read", expires_at=at(3600))
        assert await store.get_consent("alice", "web") == "read"

        assert await store.delete_consent("alice", "web") is True
        assert await store.get_consent("alice", "web") is None
        assert await store.delete_consent("alice", "web") is False

    async def test_consent_subjects_with_separators_do_not_collide(self, store: Store) -> None:
        expires_at = at(3600)
        await store.put_consent("alice:x", "web", "one", expires_at=expires_at)
        await store.put_consent("alice", "web", "two", expires_at=expires_at)
        await store.put_consent("ålice ✓", "web", "three", expires_at=expires_at)
        assert await store.get_consent("alice:x", "web") == "one"
        assert await store.get_consent("alice", "web") == "two"
        assert await store.get_consent("ålice ✓", "web") == "three"

    async def test_the_same_redemption_run_twice_stores_once_and_is_no_replay(self, store: Store) -> None:
        grant = Grant.mint()
        await store.put_code(grant.family_id, grant.code_digest, code_record())
        access, family = access_record(), family_record(grant.refresh_digest)
        assert await redeem(store, grant, access, family) is Outcome.DONE
        assert await redeem(store, grant, access, family) is Outcome.DONE
        found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
        assert found.access == access and found.family == family
        # A different exchange of the same code is still a replay, and revokes.
        assert await redeem(store, grant, access_digest=grant.next_access()[1]) is Outcome.REUSED
        assert (await store.lookup(grant.family_id, access_digest=grant.access_digest)).access is None

    async def test_the_same_rotation_run_twice_rotates_once_and_is_no_reuse(self, store: Store) -> None:
        grant = Grant.mint()
        await issue_from_code(store, grant)
        _, new_refresh = grant.next_refresh()
        _, new_access = grant.next_access()
        new_family = family_record(new_refresh, previous_digest=grant.refresh_digest, rotated_at=at(0))
        for _ in range(2):
            outcome = await store.rotate_refresh(
                grant.family_id, grant.refresh_digest, new_family, new_access, access_record()
            )
            assert outcome is Outcome.DONE
        found = await store.lookup(grant.family_id, access_digest=new_access, refresh_digest=grant.refresh_digest)
        assert found.family == new_family
        assert found.access is not None and found.refresh_spent is True

    async def test_a_rotation_replacing_a_token_the_client_never_saw(self, store: Store) -> None:
        """The grace-period retry as the refresh grant makes it: the expected current token is the unseen one."""
        grant = Grant.mint()
        await issue_from_code(store, grant)
        _, lost = grant.next_refresh()
        lost_family = family_record(lost, previous_digest=grant.refresh_digest, rotated_at=at(0))
        assert (
            await store.rotate_refresh(
                grant.family_id, grant.refresh_digest, lost_family, *grant.next_access()[1:], access_record()
            )
            is Outcome.DONE
        )
        _, retried = grant.next_refresh()
        retried_family = family_record(retried, previous_digest=grant.refresh_digest, rotated_at=lost_family.rotated_at)
        assert (
            await store.rotate_refresh(grant.family_id, lost, retried_family, grant.next_access()[1], access_record())
            is Outcome.DONE
        )
        assert (await store.lookup(grant.family_id, refresh_digest=lost)).refresh_spent is True
        assert (await store.lookup(grant.family_id)).family == retried_family

    async def test_every_token_field_round_trips(self, store: Store) -> None:
        """Each record comes back whole, every field set: audience, rotation, PKCE, user name, features' extra."""
        grant = Grant.mint()
        resource = "https://api.example/mcp"
        extra = {"feature": {"bound": "ünïcode", "n": 1}}
        code = code_record(resource=resource, nonce="n-1", auth_time=1_712_345_678, extra=extra)
        await store.put_code(grant.family_id, grant.code_digest, code)
        assert await store.get_code(grant.family_id, grant.code_digest) == code
        access = access_record(resource=resource, extra=extra)
        family = family_record(
            grant.refresh_digest,
            resource=resource,
            previous_digest="p" * 32,
            rotated_at=at(0),
            auth_time=1_712_345_678,
            extra=extra,
        )
        for record in (code, access, family):  # a field left at its default would pass even if dropped
            unset = [f.name for f in dataclasses.fields(record) if getattr(record, f.name) in (None, {})]
            assert unset == [], f"{type(record).__name__} sample leaves {unset} unset"
        assert await redeem(store, grant, access, family) is Outcome.DONE
        found = await store.lookup(grant.family_id, access_digest=grant.access_digest)
        assert found.access == access
        assert found.family == family
        _, lone_digest = grant.next_access()
        lone = access_record(resource=resource, sub=None, username=None)
        await store.put_access(grant.family_id, lone_digest, lone)
        assert await store.get_access(grant.family_id, lone_digest) == lone
