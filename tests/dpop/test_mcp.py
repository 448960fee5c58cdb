"""The MCP adapters (the ``mcp`` SDK's token verifier and FastMCP's provider) check no DPoP proof, since their
bearer authentication has no place for one: they refuse a DPoP-bound token, whoever presents it, so a stolen
bound token opens nothing there."""

from __future__ import annotations

from asgi_oauth import LocalValidator, MemoryStore, PasswordSignIn, crypto
from asgi_oauth.features.dpop.resource import bound_to
from asgi_oauth.mcp.adapter import TokenVerifier
from asgi_oauth.testing.records import access_record


async def stored(store: MemoryStore, **extra: object) -> str:
    family_id, token = crypto.new_token()
    record = access_record(resource="https://mcp.example.com/mcp", extra=dict(extra))
    await store.put_access(family_id, crypto.digest(token, "access"), record)
    return token


async def test_the_sdk_verifier_refuses_a_bound_token_and_takes_a_bearer_one() -> None:
    store = MemoryStore()
    verifier = TokenVerifier(LocalValidator(store))
    bound = await stored(store, **bound_to("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"))
    assert await verifier.verify_token(bound) is None
    plain = await stored(store)
    found = await verifier.verify_token(plain)
    assert found is not None and found.client_id == access_record().client_id


async def test_the_fastmcp_provider_refuses_a_bound_token_and_takes_a_bearer_one() -> None:
    from asgi_oauth.mcp.fastmcp import AuthorizationServer

    async def nobody(username: str, password: str) -> None:
        return None

    store = MemoryStore()
    provider = AuthorizationServer("https://mcp.example.com", sign_in=PasswordSignIn(nobody), store=store)
    verifier = provider.token_verifier
    bound = await stored(store, **bound_to("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"))
    assert await verifier.verify_token(bound) is None
    found = await verifier.verify_token(await stored(store))
    assert found is not None and found.client_id == access_record().client_id
