"""The MCP adapters (the ``mcp`` SDK's token verifier and FastMCP's provider) check no DPoP proof, since their
bearer authentication has no place for one: they refuse a DPoP-bound token, whoever presents it, so a stolen
bound token opens nothing there."""

from __future__ import annotations

import httpx

from asgi_oauth import LocalValidator, MemoryStore, PasswordSignIn, crypto
from asgi_oauth.dpop import bound_to
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


async def test_the_sdk_app_takes_dpop_bound_tokens_with_their_proofs() -> None:
    """``authorized_app`` (the ``mcp`` SDK's server behind this one) runs this package's middleware in front of the
    SDK: with the dpop feature on, a tool is called with a DPoP-bound token and a proof, and the tool sees whose
    token it is; the same token as a bearer token opens nothing (the MCP DPoP profile, SEP-1932, is RFC 9449 as it
    is: no claim of its own, no digest of the body)."""
    from mcp.server.auth.middleware.auth_context import get_access_token
    from mcp.server.mcpserver import MCPServer

    from asgi_oauth import new_client
    from asgi_oauth.dpop.proof import access_token_hash
    from asgi_oauth.features.dpop import DPoP
    from asgi_oauth.mcp import authorized_app

    from .proofs import ProofKey

    async def nobody(username: str, password: str) -> None:
        return None

    mcp = MCPServer("dpop")

    @mcp.tool()
    async def whoami() -> str:
        token = get_access_token()
        return token.client_id if token is not None else "nobody"

    base = "https://mcp.example.test"
    machine, secret = new_client(client_id="agent", name="agent", grant_types=["client_credentials"], scope="mcp")
    assert secret is not None
    app = authorized_app(
        mcp, base, sign_in=PasswordSignIn(nobody), store=MemoryStore(), features=[DPoP()], clients=[machine]
    )
    key = ProofKey.new("ES256")
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}
    accept = {"Accept": "application/json, text/event-stream"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as http,
    ):
        issued = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "mcp", "resource": f"{base}/mcp"},
            auth=("agent", secret),
            headers={"DPoP": key.proof("POST", f"{base}/oauth/token")},
        )
        assert issued.status_code == 200 and issued.json()["token_type"] == "DPoP", issued.text
        token = issued.json()["access_token"]
        proof = key.proof("POST", f"{base}/mcp", ath=access_token_hash(token))
        answer = await http.post("/mcp", json=call, headers={**accept, "Authorization": f"DPoP {token}", "DPoP": proof})
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["content"][0]["text"] == "agent"
        as_bearer = await http.post("/mcp", json=call, headers={**accept, "Authorization": f"Bearer {token}"})
        assert as_bearer.status_code == 401 and as_bearer.headers["www-authenticate"].startswith("DPoP ")
