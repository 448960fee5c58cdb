"""DPoP at the token endpoint through the real app on both stores (RFC 9449 sections 5, 8 and 10): tokens bound
to the proof's key, every refusal an attacker meets as the RFC's error, never a 5xx."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from asgi_oauth import Store, new_client, register_client
from asgi_oauth.dpop.proof import thumbprint
from asgi_oauth.features.dpop import DPoP, DPoPSettings

from ..oidc.conftest import CALLBACK, MakeProvider, redirect_params
from ..web.conftest import MakeServer
from ..web.helpers import BASE_URL, METADATA, TOKEN, Registered, Server, default_clients, pkce_pair
from .proofs import ProofKey

TOKEN_URL = f"{BASE_URL}{TOKEN}"


def cast() -> list[Registered]:
    bound, secret = new_client(
        client_id="bound-m2m", name="bound", grant_types=["client_credentials"], scope="read",
        extra={"dpop_bound_access_tokens": True},
    )  # fmt: skip
    return [*default_clients(), Registered(bound, secret)]


CLIENTS = cast()  # made once: several servers on one store (workers) share the clients and their secrets


async def with_dpop(make_server: MakeServer, **settings: Any) -> Server:
    return await make_server(stored=CLIENTS, oauth_options={"features": [DPoP(DPoPSettings(**settings))]})


async def token(server: Server, client: str, *proofs: str, **params: str) -> httpx.Response:
    headers = [("DPoP", proof) for proof in proofs]
    auth_headers, auth_params = server.auth(client)
    form = {"grant_type": "client_credentials", **params, **auth_params}
    return await server.http.post(TOKEN, data=form, headers=[*auth_headers.items(), *headers])


def refused(response: httpx.Response, error: str, words: str = "") -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error and "access_token" not in body, body
    assert words in body.get("error_description", ""), body
    return body


async def test_a_proof_binds_the_token_to_its_key(make_server: MakeServer) -> None:
    server = await with_dpop(make_server)
    key = ProofKey.new("ES256")
    answer = await token(server, "m2m", key.proof("POST", TOKEN_URL), scope="read")
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "DPoP"
    seen = await server.introspect(answer.json()["access_token"])
    assert seen["active"] and seen["cnf"] == {"jkt": thumbprint(key.jwk)}
    plain = await token(server, "m2m", scope="read")  # no proof: a bearer token, as before
    assert plain.json()["token_type"] == "Bearer" and "cnf" not in await server.introspect(plain.json()["access_token"])
    metadata = (await server.http.get(METADATA)).json()
    algorithms = metadata["dpop_signing_alg_values_supported"]
    assert "ES256" in algorithms and not {"none", "HS256"} & set(algorithms)


async def test_what_an_attacker_sends_is_refused(make_server: MakeServer, store: Store) -> None:
    server = await with_dpop(make_server)
    other_worker = await with_dpop(make_server)  # the same store: another worker
    key, other = ProofKey.new("ES256"), ProofKey.new("RS256")
    replayed = key.proof("POST", TOKEN_URL)
    assert (await token(server, "m2m", replayed)).status_code == 200
    private = {**key.jwk, "d": "AAAA"}
    cases: list[tuple[tuple[str, ...], str]] = [
        ((replayed,), "used before"),  # on another worker: the store remembers it
        ((key.proof("GET", TOKEN_URL),), "htm"),
        ((key.proof("POST", f"{BASE_URL}/oauth/introspect"),), "htu"),
        ((key.proof("POST", TOKEN_URL, iat=1),), "seconds old"),
        ((key.proof("POST", TOKEN_URL, typ="JWT"),), "typ"),
        ((key.signed({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk}, {"jti": "x", "htm": "POST",
                                                                        "htu": TOKEN_URL, "iat": 0}),), ""),
        ((key.proof("POST", TOKEN_URL, extra_header={"jwk": private}),), "private"),
        ((key.proof("POST", TOKEN_URL, extra_header={"jwk": other.jwk}),), ""),  # signed by another key
        ((key.proof("POST", TOKEN_URL), other.proof("POST", TOKEN_URL)), "exactly one"),
        (("x" * 100_000,), ""),
        (("not.a.proof",), ""),
    ]  # fmt: skip
    for proofs, words in cases:
        refused(await token(other_worker, "m2m", *proofs), "invalid_dpop_proof", words)
    refused(await token(server, "bound-m2m"), "invalid_dpop_proof", "dpop_bound_access_tokens")
    assert (await token(server, "bound-m2m", key.proof("POST", TOKEN_URL))).status_code == 200


async def test_the_server_nonce_is_asked_for_and_accepted_on_every_worker(
    make_server: MakeServer, store: Store
) -> None:
    server = await with_dpop(make_server, nonces=True)
    other_worker = await with_dpop(make_server, nonces=True)
    key = ProofKey.new("EdDSA")
    first = await token(server, "m2m", key.proof("POST", TOKEN_URL))
    refused(first, "use_dpop_nonce")
    nonce = first.headers["DPoP-Nonce"]
    answer = await token(other_worker, "m2m", key.proof("POST", TOKEN_URL, nonce=nonce))
    assert answer.status_code == 200 and answer.json()["token_type"] == "DPoP", answer.text
    forged = await token(server, "m2m", key.proof("POST", TOKEN_URL, nonce="A" * 22))
    refused(forged, "use_dpop_nonce")
    assert forged.headers["DPoP-Nonce"] == nonce


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


async def test_codes_and_public_refresh_tokens_stay_with_their_key(make_provider: MakeProvider, store: Store) -> None:
    """Section 10: a code asked for with ``dpop_jkt`` is redeemed only with that key; section 5: a public client's
    refresh token is used only with its key; its JWT access tokens carry ``cnf``."""
    spa, _ = new_client(
        client_id="spa", name="spa", public=True, grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[CALLBACK], scope="openid offline_access read",
    )  # fmt: skip

    await register_client(store, spa)
    provider = await make_provider(oauth_options={"features": [DPoP()]}, jwt_access_token_clients="spa")
    provider.server.clients["spa"] = Registered(spa, None)
    key, thief = ProofKey.new("ES256"), ProofKey.new("ES256")

    async def code() -> tuple[str, str]:
        verifier, challenge = pkce_pair()
        page = await provider.authorize(
            "spa", scope="openid offline_access read", code_challenge=challenge, dpop_jkt=thumbprint(key.jwk)
        )
        answer = await provider.allow(page) if page.status_code == 200 else page
        return redirect_params(answer)["code"], verifier

    async def redeem(proof_key: ProofKey, code: str, verifier: str) -> httpx.Response:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier}
        headers = {"DPoP": proof_key.proof("POST", f"https://auth.example.test{TOKEN}")}
        return await provider.server.post(TOKEN, form, client="spa", headers=headers)

    stolen, verifier = await code()
    assert (await redeem(thief, stolen, verifier)).json()["error"] == "invalid_grant"
    assert (await redeem(key, stolen, verifier)).json()["error"] == "invalid_grant"  # spent by the failed try
    fresh, verifier = await code()
    tokens = (await redeem(key, fresh, verifier)).json()
    assert tokens["token_type"] == "DPoP", tokens
    assert _claims(tokens["access_token"])["cnf"] == {"jkt": thumbprint(key.jwk)}

    async def refresh(proof_key: ProofKey | None) -> httpx.Response:
        form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        headers = {} if proof_key is None else {"DPoP": proof_key.proof("POST", f"https://auth.example.test{TOKEN}")}
        return await provider.server.post(TOKEN, form, client="spa", headers=headers)

    assert (await refresh(thief)).json()["error"] == "invalid_grant"
    assert (await refresh(None)).json()["error"] == "invalid_grant"
    renewed = await refresh(key)
    assert renewed.status_code == 200 and renewed.json()["token_type"] == "DPoP", renewed.text


@pytest.mark.parametrize("jkt", ["short", "x" * 43 + "!", "é" * 43])
async def test_a_malformed_dpop_jkt_is_invalid_request(make_provider: MakeProvider, jkt: str) -> None:
    provider = await make_provider(oauth_options={"features": [DPoP()]})
    answer = await provider.authorize("rp", dpop_jkt=jkt)
    assert answer.status_code in (302, 303), answer.text
    assert redirect_params(answer)["error"] == "invalid_request"


def test_the_feature_refuses_symmetric_algorithms() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="asymmetric only"):
        DPoPSettings(algorithms=("HS256",))


async def test_a_dpop_jkt_pushed_with_par_binds_the_code(make_server: MakeServer) -> None:
    """RFC 9449 section 10 with RFC 9126: ``dpop_jkt`` among the pushed parameters binds the code as it does
    sent to /authorize."""
    from asgi_oauth.features.par import PushedAuthorizationRequests

    from ..par.test_par import PAR, clients, request_params
    from ..web.test_authorize import CALLBACK as WEB_CALLBACK
    from ..web.test_authorize import Browser, resolve_user
    from ..web.test_authorize import redirect_params as answered

    features = [PushedAuthorizationRequests(), DPoP()]
    server = await make_server(stored=clients(), oauth_options={"features": features, "user_resolver": resolve_user})
    browser = Browser(server.http, server.oauth, server.clients)
    key, thief = ProofKey.new("ES256"), ProofKey.new("ES256")

    async def code() -> tuple[str, str]:
        verifier, challenge = pkce_pair()
        data = {**request_params("web"), "code_challenge": challenge, "dpop_jkt": thumbprint(key.jwk)}
        pushed = await server.post(PAR, data, client="web")
        assert pushed.status_code == 201, pushed.text
        page = await browser.authorize(client_id="web", request_uri=pushed.json()["request_uri"])
        return answered(await browser.submit(page))["code"], verifier

    async def redeem(proof_key: ProofKey, code: str, verifier: str) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": WEB_CALLBACK,
            "code_verifier": verifier,
        }
        return await server.post(TOKEN, form, client="web", headers={"DPoP": proof_key.proof("POST", TOKEN_URL)})

    assert (await redeem(thief, *await code())).json()["error"] == "invalid_grant"
    tokens = await redeem(key, *await code())
    assert tokens.status_code == 200 and tokens.json()["token_type"] == "DPoP", tokens.text


async def test_a_confidential_clients_refresh_binds_to_its_own_proof_or_to_none(make_server: MakeServer) -> None:
    """Section 5: a confidential client's refresh token is not bound; each refresh's access token is bound to the key
    of that request's proof, or to none without one (nothing of the earlier binding is kept)."""
    server = await make_server(stored=CLIENTS, oauth_options={"features": [DPoP()]}, enable_password_grant=True)
    key, other = ProofKey.new("ES256"), ProofKey.new("ES256")
    auth_headers, auth_params = server.auth("app")

    async def token(proof_key: ProofKey | None, **form: str) -> dict[str, Any]:
        headers = {**auth_headers, **({"DPoP": proof_key.proof("POST", TOKEN_URL)} if proof_key else {})}
        answer = await server.http.post(TOKEN, data={**form, **auth_params}, headers=headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    first = await token(key, grant_type="password", username="alice", password="wonderland", scope="read")
    assert first["token_type"] == "DPoP"
    plain = await token(None, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert plain["token_type"] == "Bearer" and "cnf" not in await server.introspect(plain["access_token"])
    rebound = await token(other, grant_type="refresh_token", refresh_token=plain["refresh_token"])
    seen = await server.introspect(rebound["access_token"])
    assert rebound["token_type"] == "DPoP" and seen["cnf"] == {"jkt": thumbprint(other.jwk)}
