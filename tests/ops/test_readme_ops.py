"""The documentation's Operations blocks, run as printed: the CLI revocation and the event hooks."""

from __future__ import annotations

import json

import httpx

from asgi_oauth import RedisStore, new_client, register_client
from asgi_oauth.testing.records import Grant, access_record, family_record

from ..docs.pages import blocks, doc_section
from ..serving import clean_env, run_shell
from ..test_examples import exec_snippet


async def test_the_revocation_commands(redis_url: str, redis_store: RedisStore, key_prefix: str) -> None:
    (block,) = blocks(doc_section("Revoking everything of a user or a client"), "sh")
    alice, billing = Grant.mint(), Grant.mint()
    await redis_store.put_family(
        alice.family_id, family_record(alice.refresh_digest), alice.access_digest, access_record()
    )
    await redis_store.put_access(billing.family_id, billing.access_digest, access_record(sub=None, client_id="billing"))

    assert "redis://127.0.0.1:6379/0" in block  # the block exports its own URL: point it at the test's Redis
    result = run_shell(
        block.replace("redis://127.0.0.1:6379/0", redis_url), clean_env(ASGI_OAUTH_KEY_PREFIX=key_prefix)
    )
    assert result.returncode == 0, result.stderr
    decoder, text, answers = json.JSONDecoder(), result.stdout.strip(), []
    while text:
        answer, end = decoder.raw_decode(text)
        answers.append(answer)
        text = text[end:].strip()
    assert answers == [{"user": "alice", "revoked": 1}, {"client_id": "billing", "revoked": 1}]
    assert (await redis_store.lookup(alice.family_id, access_digest=alice.access_digest)).access is None
    assert await redis_store.get_access(billing.family_id, billing.access_digest) is None


async def test_the_events_snippet() -> None:
    (snippet,) = blocks(doc_section("Events"), "python")
    namespace = exec_snippet(snippet, {})
    oauth, seen = namespace["oauth"], namespace["seen"]
    client, secret = new_client(name="Job", grant_types=["client_credentials"], scope="read")
    assert secret is not None
    await register_client(oauth.store, client)
    transport = httpx.ASGITransport(app=oauth)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as http:
        issued = await http.post("/token", auth=(client.client_id, secret), data={"grant_type": "client_credentials"})
        assert issued.status_code == 200
    assert await oauth.revoke_client(client.client_id) == 1
    await oauth.aclose()  # waits for the hooks
    assert [(e.kind, e.client_id) for e in seen] == [("issued", client.client_id), ("revoked", client.client_id)]
    assert seen[0].as_dict()["what"] == "client_credentials"
