"""Pushed authorization requests (RFC 9126) through the real app, on the memory and the Redis store."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from asgi_oauth import MemoryStore, OAuthServer
from asgi_oauth.features.par import URN, ParSettings, PushedAuthorizationRequests
from asgi_oauth.settings import SettingsError

from ..web.conftest import MakeServer
from ..web.helpers import METADATA, Registered, Server, assert_error, basic, pkce_pair, register, settings_for
from ..web.test_authorize import CALLBACK, Browser, consent_fields, redirect_params, resolve_user

PAR = "/oauth/par"


def clients() -> list[Registered]:
    web = dict(grant_types=["authorization_code", "refresh_token"], redirect_uris=[CALLBACK], scope="read write")
    return [
        register("web", **web),
        register("other", **web),
        register("pushy", **web),
        register("spa", public=True, **web),
    ]


def required(registered: Registered) -> Registered:
    """``registered`` marked as having to push its requests (the per-client switch)."""
    from dataclasses import replace

    return Registered(replace(registered.client, extra={"par": {"require": True}}), registered.secret)


async def par_server(make_server: MakeServer, **par: Any) -> tuple[Server, Browser]:
    cast = clients()
    cast[2] = required(cast[2])
    server = await make_server(
        stored=[*cast, register("rs", grant_types=[], introspect_any=True)],
        oauth_options={"features": [PushedAuthorizationRequests(ParSettings(**par))], "user_resolver": resolve_user},
    )
    return server, Browser(server.http, server.oauth, server.clients)


def request_params(client_id: str = "web", **more: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "scope": "read",
        "state": "s-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **more,
    }


async def push(server: Server, client_id: str = "web", **params: str) -> httpx.Response:
    data = request_params(client_id, **params)
    return await server.post(PAR, data, client=client_id)


async def pushed(server: Server, client_id: str = "web", **params: str) -> str:
    response = await push(server, client_id, **params)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["request_uri"].startswith(URN) and body["expires_in"] == 60
    assert response.headers["cache-control"] == "no-store"
    return str(body["request_uri"])


async def test_metadata_names_the_endpoint_and_whether_it_is_required(make_server: MakeServer) -> None:
    server, _ = await par_server(make_server, required=True)
    document = (await server.http.get(METADATA)).json()
    assert document["pushed_authorization_request_endpoint"] == "https://auth.example.test/oauth/par"
    assert document["require_pushed_authorization_requests"] is True


async def test_a_pushed_request_runs_to_tokens_and_its_request_uri_is_single_use(make_server: MakeServer) -> None:
    server, browser = await par_server(make_server)
    request_uri = await pushed(server)
    page = await browser.authorize(client_id="web", request_uri=request_uri)
    assert page.status_code == 200, page.text
    assert consent_fields(page)["request_uri"] == request_uri  # carried through consent, not the parameters
    reloaded = await browser.authorize(client_id="web", request_uri=request_uri)
    assert reloaded.status_code == 200  # a reload before the answer is allowed (RFC 9126 section 4)
    done = await browser.submit(page)
    answer = redirect_params(done)
    assert answer["state"] == "s-1" and "code" in answer
    replay = await browser.authorize(client_id="web", request_uri=request_uri)
    assert replay.status_code == 400 and "expired or was already used" in replay.text
    second_answer = await browser.submit(reloaded)  # the other tab's form: the request was answered
    assert second_answer.status_code == 400


async def test_the_request_uri_expires(make_server: MakeServer) -> None:
    server, browser = await par_server(make_server, request_uri_lifetime=0.2)
    request_uri = (await push(server)).json()["request_uri"]
    await asyncio.sleep(0.3)
    page = await browser.authorize(client_id="web", request_uri=request_uri)
    assert page.status_code == 400 and "expired" in page.text


async def test_another_clients_request_uri_is_refused(make_server: MakeServer) -> None:
    server, browser = await par_server(make_server)
    request_uri = await pushed(server, "web")
    stolen = await browser.authorize(client_id="other", request_uri=request_uri)
    assert stolen.status_code == 400 and "expired or was already used" in stolen.text
    assert (await browser.authorize(client_id="web", request_uri=request_uri)).status_code == 200  # still its own


async def test_pushed_parameters_win_and_query_parameters_are_ignored(make_server: MakeServer) -> None:
    server, browser = await par_server(make_server)
    request_uri = await pushed(server, scope="read")
    page = await browser.authorize(
        client_id="web", request_uri=request_uri, redirect_uri="https://evil.test/cb", scope="read write", state="x"
    )
    assert page.status_code == 200, page.text
    assert "evil" not in page.text
    done = await browser.submit(page)
    assert done.headers["location"].startswith(CALLBACK + "?")
    answer = redirect_params(done)
    assert answer["state"] == "s-1"


async def test_required_server_wide_and_per_client(make_server: MakeServer) -> None:
    server, browser = await par_server(make_server)
    assert (await browser.authorize(**request_params("web"))).status_code == 200  # not required of web
    refused = await browser.authorize(**request_params("pushy"))
    assert refused.status_code == 400 and "must push" in refused.text
    request_uri = await pushed(server, "pushy")
    assert (await browser.authorize(client_id="pushy", request_uri=request_uri)).status_code == 200
    _, everyone_browser = await par_server(make_server, required=True)
    page = await everyone_browser.authorize(**request_params("web"))
    assert page.status_code == 400 and "must push" in page.text


async def test_push_needs_client_authentication(make_server: MakeServer) -> None:
    server, _ = await par_server(make_server)
    wrong = await server.http.post(PAR, data=request_params(), headers={"Authorization": basic("web", "nope")})
    assert_error(wrong, "invalid_client", 401)
    assert "Basic" in wrong.headers["www-authenticate"]
    anonymous = await server.http.post(PAR, data=request_params())
    assert_error(anonymous, "invalid_client", 401)
    public = await server.http.post(PAR, data=request_params("spa"))  # a public client identifies itself
    assert public.status_code == 201, public.text


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"redirect_uri": "https://evil.test/cb"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "admin"}, "invalid_scope"),
        ({"request_uri": URN + "nested"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
    ],
)
async def test_a_bad_pushed_request_is_answered_as_json(
    make_server: MakeServer, change: dict[str, str], error: str
) -> None:
    server, _ = await par_server(make_server)
    assert_error(await push(server, **change), error, 400)


async def test_a_flood_of_pushes_is_limited_per_client_without_locking_out_others(make_server: MakeServer) -> None:
    server, browser = await par_server(make_server, pushes_per_minute=5)
    answers = [await push(server, "web") for _ in range(8)]
    assert [a.status_code for a in answers] == [201] * 5 + [429] * 3
    assert answers[-1].headers["retry-after"] == "60"
    assert (await push(server, "other")).status_code == 201  # another client is unaffected
    # What web pushed before the flood still works.
    request_uri = answers[0].json()["request_uri"]
    assert (await browser.authorize(client_id="web", request_uri=request_uri)).status_code == 200


async def test_concurrent_answers_of_one_request_uri_issue_one_code(make_server: MakeServer) -> None:
    server, browser = await par_server(make_server)
    request_uri = await pushed(server)
    page = await browser.authorize(client_id="web", request_uri=request_uri)
    fields = consent_fields(page)
    post = {**fields, "decision": "allow"}
    answers = await asyncio.gather(
        *(server.http.post("/oauth/authorize", data=post, headers={"x-test-user": "alice"}) for _ in range(5))
    )
    assert sorted(a.status_code for a in answers) == [303] + [400] * 4


def test_a_store_without_pushed_requests_cannot_switch_par_on() -> None:
    class Elsewhere(MemoryStore):
        pass

    class Foreign:  # a third party's store: not one PAR brings a part for
        def __getattr__(self, name: str) -> Any:
            return getattr(MemoryStore(), name)

    OAuthServer(settings_for(), store=Elsewhere(), features=[PushedAuthorizationRequests()])
    with pytest.raises(SettingsError, match="'par' needs a store implementing PushedRequestStore"):
        OAuthServer(settings_for(), store=Foreign(), features=[PushedAuthorizationRequests()])


def test_par_is_switched_on_by_name_with_its_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASGI_OAUTH_PAR_REQUEST_URI_LIFETIME", "30")
    oauth = OAuthServer(settings_for(features="par"), store=MemoryStore())
    (feature,) = oauth.features
    assert isinstance(feature, PushedAuthorizationRequests)
    assert feature.settings.request_uri_lifetime == 30
    assert oauth.metadata["pushed_authorization_request_endpoint"].endswith("/par")
