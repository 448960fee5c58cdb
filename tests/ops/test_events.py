"""Event hooks through the real app on a real Redis: every kind, what each carries, that none carries a secret,
and that a failing or slow hook never touches the request."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from asgi_oauth import Event, crypto
from asgi_oauth.operations.events import EVENT_KINDS
from asgi_oauth.store import AuthorizationCode

from ..web.conftest import MakeServer
from ..web.helpers import Server, pkce_pair


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


async def exchange_code(server: Server, *, sub: str = "u-alice") -> tuple[str, dict[str, str], str]:
    """A code for the "web" client stored as /authorize stores it, exchanged once: (code, tokens, verifier)."""
    family_id, code = crypto.new_token()
    verifier, challenge = pkce_pair()
    record = AuthorizationCode(
        client_id="web",
        redirect_uri="https://web.test/cb",
        redirect_uri_sent=True,
        scope="",
        sub=sub,
        exp=time.time() + 60,
        code_challenge=challenge,
        code_challenge_method="S256",
        username="alice",
    )
    await server.oauth.store.put_code(family_id, crypto.digest(code, "code"), record)
    params = {"grant_type": "authorization_code", "code": code, "redirect_uri": "https://web.test/cb"}
    tokens = await server.token_ok("web", **params, code_verifier=verifier)
    return code, tokens, verifier


async def test_every_kind_of_event_with_its_fields_and_never_a_secret(make_server: MakeServer) -> None:
    recorder = Recorder()
    server = await make_server(enable_password_grant=True, rate_limit_failures=3, oauth_options={"events": [recorder]})
    secrets_seen: list[str] = [r.secret for r in server.clients.values() if r.secret] + ["wonderland", "builder"]

    machine = await server.token_ok("m2m", grant_type="client_credentials", scope="read")
    first = await server.password_tokens()
    second = (await server.refresh(first["refresh_token"])).json()
    reused = await server.refresh(first["refresh_token"])  # spent: the family is revoked
    assert reused.json()["error"] == "invalid_grant"
    code, coded, verifier = await exchange_code(server)
    replay = await server.token(
        "web", grant_type="authorization_code", code=code, redirect_uri="https://web.test/cb", code_verifier=verifier
    )
    assert replay.json()["error"] == "invalid_grant"
    bad = await server.http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("m2m", "wrong"))
    assert bad.status_code == 401
    for _ in range(4):  # the third failure fills the pair's window, so the fourth attempt is refused
        form = {"grant_type": "client_credentials", "client_id": "m2m-post", "client_secret": "guess"}
        refused = await server.http.post("/oauth/token", data=form)
    assert refused.status_code == 429
    own = await server.password_tokens(username="bob")
    assert (await server.revoke(own["access_token"], "app")).status_code == 200
    assert (await server.revoke(own["refresh_token"], "app")).status_code == 200
    alive = await server.password_tokens("app-post")
    assert await server.oauth.revoke_user("u-alice") == 1  # the others ended by the refresh reuse and the replay
    assert await server.oauth.revoke_client("m2m") == 1
    await server.oauth.events.drain()

    assert {e.kind for e in recorder.events} == set(EVENT_KINDS)
    family = first["access_token"].partition(".")[0]
    issued = recorder.of("issued")
    assert [(e.client_id, e.user, e.what) for e in issued] == [
        ("m2m", None, "client_credentials"),
        ("app", "u-alice", "password"),
        ("web", "u-alice", "authorization_code"),
        ("app", "u-bob", "password"),
        ("app-post", "u-alice", "password"),
    ]
    assert issued[1].family_id == family and all(e.address == "127.0.0.1" for e in issued)
    (refreshed,) = recorder.of("refreshed")
    assert (refreshed.client_id, refreshed.user, refreshed.family_id) == ("app", "u-alice", family)
    (reuse,) = recorder.of("refresh_reused")
    assert (reuse.client_id, reuse.user, reuse.family_id, reuse.address) == ("app", "u-alice", family, "127.0.0.1")
    (replayed,) = recorder.of("code_replayed")
    assert (replayed.client_id, replayed.family_id) == ("web", code.partition(".")[0])
    failed = recorder.of("client_auth_failed")
    assert [e.client_id for e in failed] == ["m2m", *["m2m-post"] * 4]
    assert failed[0].what == "client_secret_basic" and failed[0].address == "127.0.0.1"
    (throttled,) = recorder.of("throttled")
    assert (throttled.client_id, throttled.address) == ("m2m-post", "127.0.0.1")
    assert throttled.count is not None and throttled.count > 0
    revoked = recorder.of("revoked")
    assert [(e.what, e.client_id, e.user) for e in revoked] == [
        ("token", "app", "u-bob"),
        ("grant", "app", "u-bob"),
        ("user", None, "u-alice"),
        ("client", "m2m", None),
    ]
    assert [e.count for e in revoked[2:]] == [1, 1]
    assert all(e.at > 0 for e in recorder.events)

    # No token, code, verifier, client secret or password in any event, whole or in its secret half.
    dumped = json.dumps([e.as_dict() for e in recorder.events])
    for tokens in (machine, first, second, coded, own, alive):
        for name in ("access_token", "refresh_token"):
            if name in tokens:
                secrets_seen += [tokens[name], tokens[name].partition(".")[2]]
    secrets_seen += [code, code.partition(".")[2], verifier]
    for value in secrets_seen:
        assert value not in dumped


async def test_a_failing_hook_is_logged_and_the_request_succeeds(
    make_server: MakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(event: Event) -> None:
        raise RuntimeError("the log shipper is down")

    recorder = Recorder()
    server = await make_server(oauth_options={"events": [broken, recorder]})
    with caplog.at_level(logging.ERROR, logger="asgi_oauth"):
        response = await server.token("m2m", grant_type="client_credentials")
        await server.oauth.events.drain()
    assert response.status_code == 200
    assert [e.kind for e in recorder.events] == ["issued"]  # the other hooks still get it
    assert any("event hook" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_a_slow_hook_does_not_hold_the_response(make_server: MakeServer) -> None:
    release = asyncio.Event()
    delivered: list[Event] = []

    async def slow(event: Event) -> None:
        await release.wait()
        delivered.append(event)

    server = await make_server(oauth_options={"events": [slow]})
    response = await server.token("m2m", grant_type="client_credentials")
    assert response.status_code == 200 and delivered == []  # answered while the hook still waits
    release.set()
    await server.oauth.events.drain()
    assert [e.kind for e in delivered] == ["issued"]


async def test_the_json_lines_hook_writes_one_object_per_event(
    make_server: MakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    from asgi_oauth import json_lines

    server = await make_server(oauth_options={"events": [json_lines()]})
    with caplog.at_level(logging.INFO, logger="asgi_oauth.events"):
        await server.token("m2m", grant_type="client_credentials")
        await server.oauth.events.drain()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "asgi_oauth.events"]
    event = json.loads(line)
    assert event["kind"] == "issued" and event["client_id"] == "m2m" and event["what"] == "client_credentials"
    assert set(event) == {"kind", "client_id", "family_id", "address", "what", "at"}
