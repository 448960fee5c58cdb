"""The device authorization grant (RFC 8628) through the real app, on the memory store and on Redis."""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from asgi_oauth import (
    Attempt,
    DeviceView,
    Event,
    OAuthServer,
    OIDCSettings,
    OpenIDConnect,
    Store,
    crypto,
    load_settings,
)
from asgi_oauth.features.device.protocol import USER_CODE_ALPHABET, normalize_user_code

from .helpers import DEVICE_GRANT, ISSUER, SECRET_KEY, device_app

FRAMING = {"x-frame-options": "DENY", "content-security-policy": "frame-ancestors 'none'", "cache-control": "no-store"}


def assert_page_headers(response) -> None:
    for name, value in FRAMING.items():
        assert response.headers[name] == value, name


async def test_the_whole_flow_issues_tokens_once(store: Store) -> None:
    async with device_app(store) as device:
        started = await device.authorize(scope="read")
        assert started.status_code == 200 and started.headers["cache-control"] == "no-store"
        body = started.json()
        assert set(body) == {
            "device_code", "user_code", "verification_uri", "verification_uri_complete", "expires_in", "interval",
        }  # fmt: skip
        assert re.fullmatch(rf"[{USER_CODE_ALPHABET}]{{4}}-[{USER_CODE_ALPHABET}]{{4}}", body["user_code"])
        assert body["verification_uri"] == f"{ISSUER}/device"
        complete = urlsplit(body["verification_uri_complete"])
        assert parse_qs(complete.query) == {"user_code": [body["user_code"]]}
        assert (body["expires_in"], body["interval"]) == (600, 1)

        pending = await device.poll(body["device_code"])
        assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"

        done = await device.approve(body["user_code"])
        assert done.status_code == 200 and "is now connected" in done.text
        assert_page_headers(done)

        issued = await device.poll(body["device_code"])
        assert issued.status_code == 200, issued.text
        tokens = issued.json()
        assert tokens["token_type"] == "Bearer" and tokens["scope"] == "read" and tokens["refresh_token"]
        family_id = crypto.family_of(tokens["access_token"])
        assert family_id is not None
        access = await store.get_access(family_id, crypto.digest(tokens["access_token"], "access"))
        assert access is not None and (access.sub, access.username, access.client_id) == ("u-alice", "alice", "tv")

        again = await device.poll(body["device_code"])
        assert again.status_code == 400
        assert again.json() == {"error": "invalid_grant", "error_description": "device code was already used"}

        # The refresh token works like any other: the device keeps its access without the user.
        refreshed = await device.http.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "tv"},
        )
        assert refreshed.status_code == 200, refreshed.text


async def test_a_confidential_client_authenticates_and_gets_no_refresh_token_without_that_grant(store: Store) -> None:
    async with device_app(store) as device:
        body = (await device.authorize("box")).json()
        await device.approve(body["user_code"])
        issued = await device.poll(body["device_code"], "box")
        assert issued.status_code == 200 and "refresh_token" not in issued.json()
        wrong = await device.http.post(
            "/oauth/device_authorization", data={"scope": "read"}, auth=("box", "not-the-secret")
        )
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        assert wrong.headers["www-authenticate"].startswith("Basic ")


async def test_user_codes_are_normalised_from_what_people_type(store: Store) -> None:
    code = "BCDF-GHJK"
    for typed in ("bcdf-ghjk", "BCDFGHJK", " bcdf ghjk ", "b-c-d-f-g-h-j-k", "Bcdf\tGhjk"):
        assert normalize_user_code(typed) == "BCDFGHJK", typed
    for typed in ("BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1", "", "\u0412CDF-GHJK"):
        assert normalize_user_code(typed) is None, typed
    assert normalize_user_code(code) == "BCDFGHJK"
    async with device_app(store) as device:
        body = (await device.authorize()).json()
        typed = body["user_code"].lower().replace("-", " ")
        page = await device.page(typed)
        assert page.status_code == 200 and body["user_code"] in page.text  # shown to compare with the device
        assert_page_headers(page)


async def test_slow_down_raises_the_interval_by_five_seconds_for_good(store: Store) -> None:
    async with device_app(store, device={"poll_interval": 30}) as device:  # every poll here comes too soon
        body = (await device.authorize()).json()
        assert body["interval"] == 30
        assert (await device.poll(body["device_code"])).json()["error"] == "authorization_pending"
        slow = await device.poll(body["device_code"])
        assert slow.status_code == 400 and slow.json()["error"] == "slow_down"
        assert "wait 35 seconds" in slow.json()["error_description"]
        slower = await device.poll(body["device_code"])
        assert "wait 40 seconds" in slower.json()["error_description"]  # stored: each raise adds to the last
        # Once the user decided, the answer does not wait for the interval.
        await device.approve(body["user_code"])
        assert (await device.poll(body["device_code"])).status_code == 200


async def test_a_denied_request_answers_access_denied(store: Store) -> None:
    async with device_app(store) as device:
        body = (await device.authorize()).json()
        done = await device.approve(body["user_code"], decision="deny")
        assert done.status_code == 200 and "was not given access" in done.text
        denied = await device.poll(body["device_code"])
        assert denied.status_code == 400 and denied.json()["error"] == "access_denied"
        assert (await device.poll(body["device_code"])).json()["error"] == "access_denied"
        # The code cannot be approved afterwards.
        again = await device.page(body["user_code"])
        assert again.status_code == 400 and "not valid" in again.text


async def test_an_expired_device_code_answers_expired_token(store: Store) -> None:
    async with device_app(store, device={"code_lifetime": 2}) as device:
        expires = time.monotonic() + 2
        body = (await device.authorize()).json()
        pending_page = await device.page(body["user_code"])
        assert pending_page.status_code == 200
        await asyncio.sleep(expires + 0.2 - time.monotonic())
        expired = await device.poll(body["device_code"])
        assert expired.status_code == 400 and expired.json()["error"] == "expired_token"
        late = await device.page(body["user_code"])
        assert late.status_code == 400 and "expired" in late.text
        # A consent form shown before expiry cannot approve it afterwards either.
        decided = await device.decide(pending_page, "allow")
        assert decided.status_code == 400
        assert (await device.poll(body["device_code"])).json()["error"] == "expired_token"


@pytest.mark.parametrize(
    ("form", "client_id", "status", "error"),
    [
        ({"device_code": "not-a-device-code"}, "tv", 400, "invalid_grant"),
        ({"device_code": f"{'A' * 22}.{'b' * 43}"}, "tv", 400, "invalid_grant"),  # well-formed, unknown
        ({"device_code": ""}, "tv", 400, "invalid_request"),
        ({}, "web", 400, "unauthorized_client"),
        ({}, "nobody", 401, "invalid_client"),
    ],
)
async def test_token_request_errors(
    store: Store, form: dict[str, str], client_id: str, status: int, error: str
) -> None:
    async with device_app(store) as device:
        body = (await device.authorize()).json()
        answer = await device.poll(form.get("device_code", body["device_code"]), client_id)
        assert answer.status_code == status and answer.json()["error"] == error, answer.text


async def test_a_device_code_is_bound_to_the_client_that_asked_for_it(store: Store) -> None:
    async with device_app(store) as device:
        body = (await device.authorize("box")).json()
        await device.approve(body["user_code"])
        stolen = await device.poll(body["device_code"], "tv")
        assert stolen.status_code == 400
        assert stolen.json() == {
            "error": "invalid_grant",
            "error_description": "device code was issued to another client",
        }
        # The rightful client still gets its tokens: the other client's poll changed nothing.
        assert (await device.poll(body["device_code"], "box")).status_code == 200


async def test_device_authorization_errors(store: Store) -> None:
    async with device_app(store) as device:
        assert (await device.authorize("web")).json()["error"] == "unauthorized_client"
        assert (await device.authorize("tv", scope="admin")).json()["error"] == "invalid_scope"
        missing = await device.http.post("/oauth/device_authorization", data={"scope": "read"})
        assert missing.status_code == 401 and missing.json()["error"] == "invalid_client"
        get = await device.http.get("/oauth/device_authorization")
        assert get.status_code == 405
        twice = await device.http.post("/oauth/device_authorization", content="client_id=tv&client_id=tv",
                                       headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert twice.json()["error"] == "invalid_request"
        # No scope asked: the client's whole scope, as at the token endpoint.
        assert (await device.authorize("tv", scope="")).status_code == 200


async def test_concurrent_polls_after_approval_issue_exactly_once(store: Store) -> None:
    async with device_app(store) as device:
        body = (await device.authorize()).json()
        await device.approve(body["user_code"])
        answers = await asyncio.gather(*(device.poll(body["device_code"]) for _ in range(20)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200] + [400] * 19
        assert {a.json()["error"] for a in answers if a.status_code == 400} == {"invalid_grant"}


async def test_the_page_sends_a_signed_out_browser_to_sign_in_and_back(store: Store) -> None:
    async with device_app(store) as device:
        form = await device.page(None, user=None)
        assert form.status_code == 200 and 'name="user_code"' in form.text
        assert_page_headers(form)
        body = (await device.authorize()).json()
        to_login = await device.page(body["user_code"], user=None)
        assert to_login.status_code == 302
        back = parse_qs(urlsplit(to_login.headers["location"]).query)["next"][0]
        assert urlsplit(to_login.headers["location"]).path == "/login"
        assert back == f"/oauth/device?user_code={body['user_code']}"
        malformed = await device.page("hello")
        assert malformed.status_code == 400 and "not a code" in malformed.text


async def test_the_decision_form_is_single_use_and_bound_to_the_user(store: Store) -> None:
    async with device_app(store) as device:
        body = (await device.authorize()).json()
        page = await device.page(body["user_code"], "alice")
        # Another user cannot post alice's form, and a forged or missing token is refused.
        assert (await device.decide(page, "allow", user="mallory")).status_code == 400
        forged = await device.http.post(
            "/oauth/device", data={"csrf_token": "x", "decision": "allow"}, headers={"x-user": "alice"}
        )
        assert forged.status_code == 400
        assert_page_headers(forged)
        assert (await device.poll(body["device_code"])).json()["error"] == "authorization_pending"
        assert (await device.decide(page, "allow")).status_code == 200
        assert (await device.decide(page, "deny")).status_code == 400  # used up
        signed_out = await device.http.post("/oauth/device", data={"decision": "allow"})
        assert signed_out.status_code == 302


async def test_wrong_codes_are_refused_past_rate_limit_failures_as_the_settings_say(store: Store) -> None:
    """RATE_LIMIT_FAILURES (10) wrong codes are each answered as wrong; the 11th attempt is refused unread."""
    async with device_app(store) as device:
        body = (await device.authorize()).json()
        wrong = [await device.page("BBBB-BBBB") for _ in range(10)]
        assert [page.status_code for page in wrong] == [400] * 10
        assert all("That code is not valid" in page.text for page in wrong)
        refused = await device.page(body["user_code"])  # even the right one
        assert refused.status_code == 429 and "Too many wrong codes" in refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 300


async def test_guessing_user_codes_is_throttled_but_the_user_at_a_known_place_gets_in(store: Store) -> None:
    limits = {"rate_limit_failures": 2, "rate_limit_principal_failures": 3, "rate_limit_address_failures": 50}
    wrong = "BBBB-BBBB"
    async with device_app(store, **limits) as device:
        body = (await device.authorize()).json()
    # Someone signed in as alice (a stolen session) guesses codes from several addresses.
    for address in ("198.51.100.1", "198.51.100.2"):
        async with device_app(store, peer=address, **limits) as guesser:
            for _ in range(2):
                refused = await guesser.page(wrong)
                assert refused.status_code in (400, 429)
            blocked = await guesser.page(body["user_code"])
            assert blocked.status_code == 429 and blocked.headers["retry-after"]
            assert_page_headers(blocked)
    # Alice's principal-wide count is full now: from a new place even the right code is refused ...
    async with device_app(store, peer="198.51.100.3", **limits) as stranger:
        assert (await stranger.page(body["user_code"])).status_code == 429
    # ... but where she signed in before (her sign-in remembered the place), she gets in with it.
    oauth = OAuthServer(load_settings(issuer=ISSUER, secret_key=SECRET_KEY, **limits), store=store)
    await oauth.limiter.succeeded(Attempt.user("alice", "192.0.2.10"), known=False)
    async with device_app(store, peer="192.0.2.10", **limits) as home:
        page = await home.page(body["user_code"])
        assert page.status_code == 200, page.text
        assert (await home.decide(page, "allow")).status_code == 200
        assert (await home.poll(body["device_code"])).status_code == 200
    # Another user at a guesser's address is not refused either: the count is per user.
    async with device_app(store, peer="198.51.100.1", **limits) as bob:
        other = (await bob.authorize()).json()
        assert (await bob.page(other["user_code"], "bob")).status_code == 200


async def test_the_grant_is_advertised_only_when_enabled(store: Store) -> None:
    async with device_app(store) as device:
        metadata = (await device.http.get("/oauth/.well-known/oauth-authorization-server")).json()
        assert metadata["device_authorization_endpoint"] == f"{ISSUER}/device_authorization"
        assert DEVICE_GRANT in metadata["grant_types_supported"]
        openapi = (await device.http.get("/oauth/openapi.json")).json()
        assert "/device_authorization" in openapi["paths"]
        assert DEVICE_GRANT in openapi["paths"]["/token"]["post"]["requestBody"]["content"][
            "application/x-www-form-urlencoded"]["schema"]["properties"]["grant_type"]["enum"]  # fmt: skip
    async with device_app(store, switched_on=False) as off:
        metadata = (await off.http.get("/oauth/.well-known/oauth-authorization-server")).json()
        assert "device_authorization_endpoint" not in metadata
        assert DEVICE_GRANT not in metadata["grant_types_supported"]
        assert (await off.authorize()).status_code == 404
        assert (await off.page(None)).status_code == 404
        answer = await off.poll(f"{'A' * 22}.{'b' * 43}")
        assert answer.json()["error"] == "unsupported_grant_type"


async def test_the_verification_uri_can_be_set(store: Store) -> None:
    async with device_app(store, device={"verification_uri": "https://tv.example/link"}) as device:
        body = (await device.authorize()).json()
        assert body["verification_uri"] == "https://tv.example/link"
        assert body["verification_uri_complete"] == f"https://tv.example/link?user_code={body['user_code']}"


async def test_the_page_is_the_hosts_to_render(store: Store) -> None:
    seen: list[DeviceView] = []

    def render(view: DeviceView) -> str:
        seen.append(view)
        fields = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in view.hidden.items())
        return f"<p>my {view.step} page {view.user_code} {view.client_name}</p>{fields}"

    async with device_app(store, device={"renderer": render}) as device:
        assert (await device.page(None)).text == "<p>my enter page  </p>"
        body = (await device.authorize()).json()
        page = await device.page(body["user_code"])
        assert page.text.startswith(f"<p>my consent page {body['user_code']} Living room TV</p>")
        assert_page_headers(page)  # the headers stay the server's
        assert seen[-1].scopes and seen[-1].user is not None and seen[-1].user.sub == "u-alice"
        done = await device.decide(page, "allow")
        assert done.text == "<p>my done page  Living room TV</p>" and seen[-1].approved


async def test_a_right_code_does_not_make_a_place_known_as_a_sign_in_would(store: Store) -> None:
    """Anyone can get a right code by starting a device authorization, so it proves nothing about the user."""
    async with device_app(store, peer="198.51.100.9") as device:
        body = (await device.authorize()).json()
        assert (await device.page(body["user_code"])).status_code == 200
    oauth = OAuthServer(load_settings(issuer=ISSUER, secret_key=SECRET_KEY), store=store)
    assert await oauth.limiter.check(Attempt.user("alice", "198.51.100.9")) is False


async def test_the_grant_reports_events_like_every_other(store: Store) -> None:
    """``issued`` with the grant type and the user who approved, and ``throttled`` for a refused code guesser."""
    seen: list[Event] = []

    async def hook(event: Event) -> None:
        seen.append(event)

    limits = {"rate_limit_failures": 1, "rate_limit_principal_failures": 1, "rate_limit_address_failures": 1}
    async with device_app(store, oauth_options={"events": [hook]}, **limits) as device:
        body = (await device.authorize()).json()
        await device.approve(body["user_code"])
        tokens = (await device.poll(body["device_code"])).json()
        assert (await device.page("BBBB-BBBB", "bob")).status_code == 400  # the one failure allowed
        assert (await device.page("BBBB-BBBB", "bob")).status_code == 429
        for _ in range(100):
            if {"issued", "throttled"} <= {e.kind for e in seen}:
                break
            await asyncio.sleep(0.01)
    (issued,) = [e for e in seen if e.kind == "issued"]
    assert (issued.what, issued.user, issued.client_id) == (DEVICE_GRANT, "u-alice", "tv")
    assert issued.family_id == crypto.family_of(tokens["access_token"])
    assert any(e.kind == "throttled" and e.user == "bob" for e in seen)
    assert all(body["device_code"] not in str(e.as_dict()) for e in seen)  # never a secret


async def test_the_grants_tokens_take_the_features_forms_as_every_grant_does(store: Store) -> None:
    """OpenID Connect switched on with JWT access tokens for the device's client: the device gets a JWT, as the
    code and client_credentials grants would give, and it validates like any access token."""
    openid = OpenIDConnect(OIDCSettings(jwt_access_token_clients="tv"))
    async with device_app(store, more_features=[openid]) as device:
        body = (await device.authorize(scope="read")).json()
        await device.approve(body["user_code"])
        issued = await device.poll(body["device_code"])
        assert issued.status_code == 200, issued.text
        access = issued.json()["access_token"]
        claims = jwt.decode(access, options={"verify_signature": False})
        assert jwt.get_unverified_header(access)["typ"] == "at+jwt"
        assert (claims["sub"], claims["client_id"], claims["scope"]) == ("u-alice", "tv", "read")
        family_id = crypto.family_of(access)
        assert family_id is not None and claims["jti"].startswith(family_id)
        assert await store.get_access(family_id, crypto.digest(access, "access")) is not None
