"""What the endpoints leave in Redis: after real traffic, a dump holds no usable credential (SPEC section 2)."""

from __future__ import annotations

from asgi_oauth import RedisStore, register_client

from .helpers import REVOKE, build_server, default_clients, settings_for


async def dump(store: RedisStore, prefix: str) -> bytes:
    r = store.redis
    parts: list[bytes] = []
    async for key in r.scan_iter(match=f"{prefix}:*"):
        parts.append(key)
        kind = await r.type(key)
        if kind == b"string":
            parts.append(await r.get(key))
        elif kind == b"hash":
            for field, value in (await r.hgetall(key)).items():
                parts += [field, value]
        elif kind == b"zset":  # a family's access-token digests, rate-limit windows
            parts += await r.zrange(key, 0, -1)
        else:
            raise AssertionError(f"unexpected key type {kind!r} for {key!r}")
    return b"\n".join(parts)


async def test_a_redis_dump_holds_no_usable_credentials(redis_store: RedisStore, key_prefix: str) -> None:
    clients = default_clients()
    for registered in clients:
        await register_client(redis_store, registered.client)
    server = build_server(redis_store, settings_for(enable_password_grant=True), clients)
    try:
        m2m = await server.token_ok("m2m", grant_type="client_credentials")
        first = await server.password_tokens()
        second = (await server.refresh(first["refresh_token"])).json()
        other = await server.password_tokens("app-post")
        assert (await server.post(REVOKE, {"token": other["access_token"]}, client="app-post")).status_code == 200
    finally:
        await server.http.aclose()

    data = await dump(redis_store, key_prefix)

    assert b"app-post" in data  # the dump is real: it holds the client registrations...
    assert data.count(b":a:") >= 3  # ...and the access token records
    tokens = [m2m["access_token"], first["access_token"], first["refresh_token"], second["access_token"]]
    tokens += [second["refresh_token"], other["access_token"], other["refresh_token"]]
    for token in tokens:
        secret = token.partition(".")[2]
        assert len(secret) == 43
        assert secret.encode() not in data
    client_secrets = [r.secret for r in clients if r.secret is not None]
    assert len(client_secrets) == len(clients) - 1  # all but the public client
    for secret in client_secrets:
        assert secret.encode() not in data
