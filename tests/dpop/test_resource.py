"""DPoP at a protected resource (RFC 9449 section 7): the middleware, validating from memory, accepts a DPoP-bound
token only with a fresh proof for the request made with the token's key, on both stores; every refusal is a 401
with a ``DPoP`` challenge, never a 5xx, and nothing is accepted."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asgi_oauth import BearerTokenMiddleware, LocalValidator, RemoteValidator, Store, protect
from asgi_oauth.dpop import jkt_of
from asgi_oauth.dpop.proof import access_token_hash, thumbprint
from asgi_oauth.dpop.resource import ResourceDPoP
from asgi_oauth.features.dpop import DPoP, DPoPSettings

from ..web.conftest import MakeServer
from ..web.helpers import BASE_URL, INTROSPECT, TOKEN, Server
from .proofs import ProofKey

API = f"{BASE_URL}/api/me"
TOKEN_URL = f"{BASE_URL}{TOKEN}"


async def me(request: Request) -> JSONResponse:
    return JSONResponse({"client_id": request.state.token.client_id})


async def resource(make_server: MakeServer, store: Store, *, dpop: ResourceDPoP | None = None) -> Server:
    server = await make_server(oauth_options={"features": [DPoP()]}, routes=[Route("/api/me", me)])
    accepting = ResourceDPoP() if dpop is None else dpop
    server.app.add_middleware(
        BearerTokenMiddleware, validator=LocalValidator(store), rules=[protect("/api")], dpop=accepting
    )
    return server


async def bound_token(server: Server, key: ProofKey) -> str:
    auth_headers, auth_params = server.auth("m2m")
    form = {"grant_type": "client_credentials", "scope": "read", **auth_params}
    answer = await server.http.post(TOKEN, data=form, headers={**auth_headers, "DPoP": key.proof("POST", TOKEN_URL)})
    assert answer.status_code == 200 and answer.json()["token_type"] == "DPoP", answer.text
    token: str = answer.json()["access_token"]
    return token


async def call(server: Server, token: str, *proofs: str, scheme: str = "DPoP", method: str = "GET") -> httpx.Response:
    headers = [("Authorization", f"{scheme} {token}"), *(("DPoP", proof) for proof in proofs)]
    return await server.http.request(method, API, headers=headers)


def refused(response: httpx.Response, error: str, words: str = "") -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("DPoP ") and f'error="{error}"' in challenge and "algs=" in challenge, challenge
    assert words in response.json().get("error_description", ""), response.json()


async def test_a_bound_token_with_a_fresh_proof_gets_in(make_server: MakeServer, store: Store) -> None:
    server = await resource(make_server, store)
    key = ProofKey.new("ES256")
    token = await bound_token(server, key)
    for _ in range(3):  # from memory after the first: each with its own proof
        answer = await call(server, token, key.proof("GET", API, ath=access_token_hash(token)))
        assert answer.status_code == 200 and answer.json() == {"client_id": "m2m"}, answer.text


async def test_what_an_attacker_presents_is_refused(make_server: MakeServer, store: Store) -> None:
    server = await resource(make_server, store)
    key, thief = ProofKey.new("ES256"), ProofKey.new("ES256")
    token = await bound_token(server, key)
    ath = access_token_hash(token)
    replayed = key.proof("GET", API, ath=ath)
    assert (await call(server, token, replayed)).status_code == 200
    other_token = await bound_token(server, key)
    cases: list[tuple[tuple[str, ...], dict[str, Any], str, str]] = [
        ((replayed,), {}, "invalid_dpop_proof", "used before"),
        ((thief.proof("GET", API, ath=ath),), {}, "invalid_dpop_proof", "another key"),  # a stolen token
        ((key.proof("POST", API, ath=ath),), {}, "invalid_dpop_proof", "htm"),
        ((key.proof("GET", f"{BASE_URL}/api/other", ath=ath),), {}, "invalid_dpop_proof", "htu"),
        ((key.proof("GET", API),), {}, "invalid_dpop_proof", "ath"),
        ((key.proof("GET", API, ath=access_token_hash(other_token)),), {}, "invalid_dpop_proof", "ath"),
        ((key.proof("GET", API, ath=ath, iat=1),), {}, "invalid_dpop_proof", "seconds old"),
        ((key.proof("GET", API, ath=ath, extra_header={"jwk": {**key.jwk, "d": "AAAA"}}),), {}, "invalid_dpop_proof",
         ""),
        (("x" * 50_000,), {}, "invalid_dpop_proof", ""),
        ((), {}, "invalid_dpop_proof", "exactly one"),
        ((key.proof("GET", API, ath=ath),), {"scheme": "Bearer"}, "invalid_token", "DPoP scheme"),
    ]  # fmt: skip
    for proofs, options, error, words in cases:
        refused(await call(server, token, *proofs, **options), error, words)
    unbound = await server.token_ok("m2m", grant_type="client_credentials", scope="read")
    refused(await call(server, unbound["access_token"], key.proof("GET", API)), "invalid_token", "not bound")
    assert (await call(server, unbound["access_token"], scheme="Bearer")).status_code == 200
    # Revoked: refused at once, though the token was validated from memory a moment ago.
    assert (await call(server, token, key.proof("GET", API, ath=ath))).status_code == 200
    assert (await server.revoke(token, client="m2m")).status_code == 200
    assert (await call(server, token, key.proof("GET", API, ath=ath))).status_code == 401


async def test_each_request_checks_its_proof_once(
    make_server: MakeServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token answered from memory has its proof judged on the middleware's synchronous path, a refusal included:
    a bad proof costs one signature check, as a good one does, never two (a replayed one would otherwise double
    the work an attacker can cause with bytes that cost nothing to resend)."""
    from asgi_oauth.dpop import proof as proofs

    server = await resource(make_server, store)
    key = ProofKey.new("ES256")
    token = await bound_token(server, key)
    ath = access_token_hash(token)
    assert (await call(server, token, key.proof("GET", API, ath=ath))).status_code == 200  # now remembered
    checked: list[str] = []
    verify = proofs.verify_proof

    def counted(proof: str, **options: Any) -> Any:
        checked.append(proof)
        return verify(proof, **options)

    monkeypatch.setattr(proofs, "verify_proof", counted)
    good, wrong_url = key.proof("GET", API, ath=ath), key.proof("GET", f"{BASE_URL}/api/other", ath=ath)
    assert (await call(server, token, good)).status_code == 200
    refused(await call(server, token, good), "invalid_dpop_proof", "used before")
    refused(await call(server, token, wrong_url), "invalid_dpop_proof", "htu")
    assert checked == [good, good, wrong_url]


async def test_a_resource_without_dpop_refuses_bound_tokens(make_server: MakeServer, store: Store) -> None:
    """A bound token as a bearer token is refused; the DPoP scheme is one this resource does not know, so the
    request carries no token it reads (RFC 6750's 401 with a Bearer challenge and no error), as before DPoP."""
    server = await make_server(oauth_options={"features": [DPoP()]}, routes=[Route("/api/me", me)])
    server.app.add_middleware(BearerTokenMiddleware, validator=LocalValidator(store), rules=[protect("/api")])
    key = ProofKey.new("ES256")
    token = await bound_token(server, key)
    assert (await call(server, token, scheme="Bearer")).status_code == 401
    answer = await call(server, token, key.proof("GET", API, ath=access_token_hash(token)))
    assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer "), answer.text
    assert "error=" not in answer.headers["www-authenticate"]
    bare = await server.http.get(API, headers={"Authorization": "dpop"})  # the scheme alone: still no token
    assert bare.status_code == 401 and "error=" not in bare.headers["www-authenticate"], bare.text


@pytest.mark.parametrize("replay", ["store"])
async def test_replays_across_workers_are_refused_with_the_store(
    make_server: MakeServer, store: Store, replay: str
) -> None:
    def shared() -> ResourceDPoP:
        return ResourceDPoP(replay="store", claim_once=lambda name, at: store.claim_once(name, expires_at=at))

    first, second = await resource(make_server, store, dpop=shared()), await resource(make_server, store, dpop=shared())
    key = ProofKey.new("ES256")
    token = await bound_token(first, key)
    proof = key.proof("GET", API, ath=access_token_hash(token))
    assert (await call(first, token, proof)).status_code == 200
    refused(await call(second, token, proof), "invalid_dpop_proof", "used before")


async def test_a_resource_validating_by_introspection_keeps_the_binding(make_server: MakeServer) -> None:
    """RFC 9449 section 6.2: introspection says ``token_type`` DPoP and ``cnf.jkt``; a resource server validating
    remotely then refuses the token as a bearer token as one validating locally does."""
    server = await make_server(oauth_options={"features": [DPoP()]}, routes=[Route("/api/me", me)])
    rs = server.clients["rs"]
    assert rs.secret is not None
    validator = RemoteValidator(f"{BASE_URL}{INTROSPECT}", "rs", rs.secret, http=server.http)
    server.app.add_middleware(BearerTokenMiddleware, validator=validator, rules=[protect("/api")], dpop=ResourceDPoP())
    key = ProofKey.new("ES256")
    token = await bound_token(server, key)
    seen = await server.introspect(token)
    assert seen["token_type"] == "DPoP" and seen["cnf"] == {"jkt": thumbprint(key.jwk)}
    refused(await call(server, token, scheme="Bearer"), "invalid_token", "DPoP scheme")
    assert (await call(server, token, key.proof("GET", API, ath=access_token_hash(token)))).status_code == 200


async def test_a_resource_asks_for_its_nonce_and_accepts_it(make_server: MakeServer, store: Store) -> None:
    """RFC 9449 section 9: with nonces on, a proof without the nonce is 401 ``use_dpop_nonce`` with a
    ``DPoP-Nonce`` header, and the retry with it gets in (the token endpoint's nonce is the same)."""
    feature = DPoP(DPoPSettings(nonces=True))
    server = await make_server(oauth_options={"features": [feature]}, routes=[Route("/api/me", me)])
    server.app.add_middleware(
        BearerTokenMiddleware, validator=LocalValidator(store), rules=[protect("/api")], dpop=feature.resource()
    )
    key = ProofKey.new("ES256")
    auth_headers, auth_params = server.auth("m2m")
    form = {"grant_type": "client_credentials", "scope": "read", **auth_params}
    asked = await server.http.post(TOKEN, data=form, headers={**auth_headers, "DPoP": key.proof("POST", TOKEN_URL)})
    nonce = asked.headers["DPoP-Nonce"]
    proof = key.proof("POST", TOKEN_URL, nonce=nonce)
    token = (await server.http.post(TOKEN, data=form, headers={**auth_headers, "DPoP": proof})).json()["access_token"]
    ath = access_token_hash(token)
    first = await call(server, token, key.proof("GET", API, ath=ath))
    refused(first, "use_dpop_nonce")
    assert first.headers["DPoP-Nonce"] == nonce
    assert (await call(server, token, key.proof("GET", API, ath=ath, nonce=nonce))).status_code == 200


async def test_a_resource_validating_jwts_by_their_key_set_keeps_the_binding() -> None:
    """RFC 9449 section 6.1: a JWT access token's ``cnf.jkt`` binds it for ``JWKSValidator`` as for the others."""
    from asgi_oauth.jwks import _access_token

    claims = {"client_id": "m2m", "sub": "m2m", "scope": "read", "iat": 1, "exp": 2, "cnf": {"jkt": "j" * 43}}
    bound = _access_token(claims)
    assert bound is not None and jkt_of(bound.extra) == "j" * 43
    plain = _access_token({**claims, "cnf": None})
    assert plain is not None and jkt_of(plain.extra) is None
