"""The Redis store's record layouts and key schema: named fields that Python and the Lua scripts read alike,
and records written before versioning that must keep working after an upgrade."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from asgi_oauth.models import AccessToken, Client, Outcome
from asgi_oauth.store import RedisStore
from asgi_oauth.store.records import (
    ACCESS,
    ACCESS_RECORD,
    CLIENT_RECORD,
    CODE,
    FAMILY,
    LUA_PRELUDE,
    VERSION,
    ArrayRecord,
    Keys,
)
from asgi_oauth.testing.records import Grant, access_record, family_record

from ..conftest import open_redis_store


def test_a_record_is_the_version_then_its_fields_in_order_without_trailing_nulls() -> None:
    encoded = ACCESS.encode({"client_id": "app", "scope": "read", "sub": None, "iat": 5, "exp_ms": 9000})
    assert json.loads(encoded) == [VERSION, "app", "read", None, 5, 9000]
    assert ACCESS.decode(encoded) == {
        "client_id": "app",
        "scope": "read",
        "sub": None,
        "iat": 5,
        "exp_ms": 9000,
        "username": None,
        "resource": None,
        "extra": None,
    }


def test_fields_added_later_read_as_none_from_older_records() -> None:
    before_grace = json.dumps([VERSION, "r" * 32, "app", "read", "alice", 5, 9000, "Alice"])
    decoded = FAMILY.decode(before_grace)
    assert decoded["username"] == "Alice"
    assert decoded["previous_digest"] is None and decoded["rotated_at_ms"] is None


def test_unversioned_records_of_earlier_releases_decode_by_the_same_names() -> None:
    legacy_access = json.dumps(["app", "read", "alice", 5, 9000])
    assert ACCESS.decode(legacy_access)["client_id"] == "app"
    assert ACCESS.decode(legacy_access)["exp_ms"] == 9000
    legacy_code = json.dumps(["app", "https://a/cb", 1, "read", "alice", 9000, "c" * 43, "S256", None])
    assert CODE.decode(legacy_code)["code_challenge_method"] == "S256"


def test_layouts_are_derived_from_the_records_with_the_names_the_scripts_read() -> None:
    assert ACCESS.fields == ("client_id", "scope", "sub", "iat", "exp_ms", "username", "resource", "extra")
    assert FAMILY.fields[-4:] == ("rotated_at_ms", "resource", "auth_time", "extra")
    assert CODE.fields[2] == "redirect_uri_sent"


def test_a_field_without_a_codec_fails_when_the_layout_is_built() -> None:
    @dataclass(frozen=True)
    class Odd:
        client_id: str
        when: complex

    with pytest.raises(TypeError, match=r"Odd\.when: no codec"):
        ArrayRecord("ODD", Odd)


def test_extra_is_one_encoded_field_and_absent_when_empty() -> None:
    plain = AccessToken("app", "read", None, 5, 9.0)
    assert json.loads(ACCESS_RECORD.pack(plain)) == [VERSION, "app", "read", None, 5, 9000]
    bound = AccessToken("app", "read", None, 5, 9.0, extra={"cnf": {"jkt": "abc"}})
    row = json.loads(ACCESS_RECORD.pack(bound))
    assert row[-1] == '{"cnf":{"jkt":"abc"}}'  # a string: the scripts never look inside
    assert ACCESS_RECORD.unpack(ACCESS_RECORD.pack(bound)) == bound
    assert ACCESS_RECORD.unpack(json.dumps([VERSION, "app", "read", None, 5, 9000])).extra == {}


def test_clients_stored_by_an_earlier_release_decode_and_unknown_names_are_ignored() -> None:
    earlier = {
        "client_id": "web",
        "name": "Web",
        "secret_hash": None,
        "redirect_uris": ["https://a/cb"],
        "grant_types": ["authorization_code"],
        "scope": "read",
        "public": True,
        "first_party": False,
        "token_endpoint_auth_method": "none",
        "introspect_any": False,
        "created_at": 5,
    }
    client = CLIENT_RECORD.unpack(json.dumps({**earlier, "from_a_later_release": 1}))
    assert client == Client(
        "web",
        "Web",
        None,
        ("https://a/cb",),
        ("authorization_code",),
        "read",
        public=True,
        token_endpoint_auth_method="none",
        created_at=5,
    )
    assert CLIENT_RECORD.unpack(CLIENT_RECORD.pack(client)) == client
    assert "extra" not in json.loads(CLIENT_RECORD.pack(client))  # earlier releases read what this one writes


def test_the_key_schema_keeps_every_key_of_a_family_in_its_hash_tag() -> None:
    keys = Keys("oauth")
    family = "F" * 22
    for key in (keys.family(family), keys.index(family), keys.access(family, "d"), keys.spent(family, "d")):
        assert key.startswith(f"oauth:{{{family}}}:")
    assert keys.code(family, "d").startswith(f"oauth:{{{family}}}:")
    assert keys.access(family, "d") == keys.access_prefix(family) + "d"
    assert keys.limit("pair:x") == "oauth:{limits}:pair:x"


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.mark.parametrize("versioned", [True, False])
async def test_lua_reads_fields_by_the_names_python_writes(raw: aioredis.Redis, versioned: bool) -> None:
    values = {"refresh_digest": "r" * 32, "client_id": "app", "scope": "read", "sub": None, "iat": 5, "exp_ms": 9}
    record = FAMILY.encode(values)
    if not versioned:
        record = json.dumps(json.loads(record)[1:])
    script = LUA_PRELUDE + (
        "local r = cjson.decode(ARGV[1])\n"
        "return {field(r, FAMILY.refresh_digest), field(r, FAMILY.client_id), field(r, FAMILY.exp_ms),"
        " tostring(field(r, FAMILY.sub)), tostring(field(r, FAMILY.previous_digest))}"
    )
    answer = await raw.eval(script, 0, record)  # type: ignore[misc]
    assert answer == [b"r" * 32, b"app", 9, b"nil", b"nil"]


async def test_tokens_stored_by_an_earlier_release_keep_working(
    raw: aioredis.Redis, redis_url: str, key_prefix: str
) -> None:
    """Records written as unversioned arrays validate, introspect, revoke and rotate as before."""
    grant = Grant.mint()
    keys = Keys(key_prefix)
    access = access_record()
    family = family_record(grant.refresh_digest)
    legacy_access = [access.client_id, access.scope, access.sub, access.iat, round(access.exp * 1000), access.username]
    legacy_family = [family.refresh_digest, family.client_id, family.scope, family.sub, family.iat]
    legacy_family += [round(family.exp * 1000), family.username]
    await raw.set(keys.access_as_before(grant.family_id, grant.access_digest), json.dumps(legacy_access), px=60_000)
    await raw.set(keys.family(grant.family_id), json.dumps(legacy_family), px=60_000)
    await raw.zadd(keys.index(grant.family_id), {grant.access_digest: round(access.exp * 1000)})

    async with open_redis_store(redis_url, key_prefix=key_prefix) as store:
        assert isinstance(store, RedisStore)
        assert await store.get_access(grant.family_id, grant.access_digest) == access
        assert (await store.lookup(grant.family_id)).family == family
        # The Lua owner checks read the old layout too.
        assert await store.revoke_access(grant.family_id, grant.access_digest, client_id="someone-else") is False
        _, new_refresh = grant.next_refresh()
        rotated = await store.rotate_refresh(
            grant.family_id, grant.refresh_digest, family_record(new_refresh), grant.next_access()[1], access_record()
        )
        assert rotated is Outcome.DONE
        assert await store.revoke_family(grant.family_id, client_id=access.client_id) is True
