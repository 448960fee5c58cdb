"""The browser half through the real app: /authorize, sign-in hand-off, consent, code exchange."""

from __future__ import annotations

import asyncio
import html
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.requests import Request

from asgi_oauth import OAuthServer, Store, User, register_client
from asgi_oauth.web.pages import ConsentView, default_consent_page

from .conftest import MakeServer
from .helpers import ISSUER, Registered, basic, pkce_pair, register

CALLBACK = "https://web.test/cb"


async def resolve_user(request: Request) -> User | None:
    """Tests sign in by header; the demo app uses a signed cookie instead."""
    name = request.headers.get("x-test-user")
    return User(f"u-{name}", name) if name else None


@dataclass
class Browser:
    http: httpx.AsyncClient
    oauth: OAuthServer
    clients: dict[str, Registered] = field(default_factory=dict)
    user: str | None = "alice"

    def _headers(self) -> dict[str, str]:
        return {"x-test-user": self.user} if self.user else {}

    async def authorize(self, **params: str) -> httpx.Response:
        return await self.http.get("/oauth/authorize", params=params, headers=self._headers())

    async def submit(self, page: httpx.Response, decision: str = "allow", **tamper: str) -> httpx.Response:
        fields = consent_fields(page)
        fields.update(tamper)
        return await self.http.post("/oauth/authorize", data={**fields, "decision": decision}, headers=self._headers())

    async def exchange(self, client_id: str, code: str, **params: str) -> httpx.Response:
        registered = self.clients[client_id]
        data = {"grant_type": "authorization_code", "code": code, **params}
        headers = {}
        if registered.secret is None:
            data["client_id"] = client_id
        else:
            headers["Authorization"] = basic(client_id, registered.secret)
        return await self.http.post("/oauth/token", data=data, headers=headers)

    async def introspect_active(self, token: str) -> bool:
        rs = self.clients["rs"]
        assert rs.secret is not None
        response = await self.http.post(
            "/oauth/introspect", data={"token": token}, headers={"Authorization": basic("rs", rs.secret)}
        )
        return bool(response.json()["active"])

    async def code_for(self, client_id: str = "web", **params: str) -> tuple[str, str]:
        """Run authorize + consent; returns ``(code, verifier)``."""
        verifier, challenge = pkce_pair()
        query = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK, "state": "s1"}
        query |= {"code_challenge": challenge, "code_challenge_method": "S256", **params}
        page = await self.authorize(**query)
        assert page.status_code == 200, page.text
        done = await self.submit(page)
        return redirect_params(done)["code"], verifier


def consent_fields(page: httpx.Response) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)}


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith((CALLBACK, "http://127.0.0.1"))
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def clients() -> list[Registered]:
    return [
        register(
            "web", grant_types=["authorization_code", "refresh_token"], redirect_uris=[CALLBACK], scope="read write"
        ),
        register("other", grant_types=["authorization_code"], redirect_uris=["https://other.test/cb"], scope="read"),
        register(
            "spa",
            public=True,
            grant_types=["authorization_code", "refresh_token"],
            redirect_uris=[CALLBACK, "http://127.0.0.1/native"],
            scope="read",
        ),
        register("first", first_party=True, grant_types=["authorization_code"], redirect_uris=[CALLBACK], scope="read"),
        register("both", grant_types=["authorization_code", "implicit"], redirect_uris=[CALLBACK], scope="read"),
        register("rs", grant_types=[], introspect_any=True),
    ]


MakeBrowser = Callable[..., Any]


@pytest.fixture
def make_browser(make_server: MakeServer) -> MakeBrowser:
    registered = clients()

    async def factory(**settings: Any) -> Browser:
        renderer = settings.pop("consent_renderer", None)
        options: dict[str, Any] = {"user_resolver": resolve_user, "scope_descriptions": {"read": "Read your <data>"}}
        if renderer:
            options["consent_renderer"] = renderer
        server = await make_server(stored=registered, password_verifier=None, oauth_options=options, **settings)
        return Browser(server.http, server.oauth, server.clients)

    return factory


@pytest.fixture
async def browser(make_browser: MakeBrowser) -> Browser:
    result: Browser = await make_browser()
    return result


# -- never an open redirector ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"client_id": "nobody", "redirect_uri": CALLBACK},
        {"client_id": "web", "redirect_uri": "https://evil.test/cb"},
        {"client_id": "web", "redirect_uri": CALLBACK + "/more"},
        {"client_id": "web", "redirect_uri": CALLBACK + "?x=1"},
        {"client_id": "web", "redirect_uri": "http://web.test/cb"},
        {"client_id": "web", "redirect_uri": "https://web.test:444/cb"},
        {"client_id": "web", "redirect_uri": "https://web.test/cb#frag"},
        {"client_id": "web", "redirect_uri": "https://web.test.evil.test/cb"},
        {"client_id": "web", "redirect_uri": "https://evil.test@web.test/cb"},
        {"client_id": "web", "redirect_uri": "HTTPS://WEB.TEST/cb"},
        {"client_id": "spa", "redirect_uri": "http://127.0.0.1.evil.test/native"},
        {"client_id": "spa", "redirect_uri": "http://evil@127.0.0.1:5000/native"},
        {"client_id": "spa", "redirect_uri": "http://127.0.0.1:5000/native/x"},
        {"client_id": "web", "redirect_uri": "//evil.test/cb"},
    ],
)
async def test_bad_client_or_redirect_uri_shows_a_page_and_never_redirects(
    browser: Browser, params: dict[str, str]
) -> None:
    response = await browser.authorize(response_type="code", state="s", **params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"
    assert "evil" not in response.text


async def test_missing_redirect_uri_uses_the_only_registered_one(browser: Browser) -> None:
    verifier, challenge = pkce_pair()
    page = await browser.authorize(
        response_type="code", client_id="web", code_challenge=challenge, code_challenge_method="S256"
    )
    assert page.status_code == 200
    params = redirect_params(await browser.submit(page))
    response = await browser.exchange("web", params["code"], code_verifier=verifier)
    assert response.status_code == 200, response.text
    # The authorization request had no redirect_uri, so sending one now that differs is refused elsewhere.


async def test_public_client_loopback_redirect_accepts_any_port(browser: Browser) -> None:
    verifier, challenge = pkce_pair()
    uri = "http://127.0.0.1:53123/native"
    page = await browser.authorize(
        response_type="code", client_id="spa", redirect_uri=uri, code_challenge=challenge, code_challenge_method="S256"
    )
    assert page.status_code == 200, page.text
    done = await browser.submit(page)
    assert done.headers["location"].startswith(uri + "?")
    response = await browser.exchange("spa", redirect_params(done)["code"], redirect_uri=uri, code_verifier=verifier)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1\t:5000/native",
        "http://127.0.0.1:5000/nat\nive",
        "http://127.0.0.1:5000/native\r",
        " http://127.0.0.1:5000/native",
        "\x01http://127.0.0.1:5000/native",
        "http://127.0.0.1:5000/native\x7f",
    ],
)
async def test_a_loopback_uri_that_only_matches_once_its_control_characters_are_dropped_is_refused(
    browser: Browser, uri: str
) -> None:
    """urlsplit drops tabs and newlines anywhere and control characters and spaces at either end, so such a URI
    would pass the any-port rule as the registered one: it is not that URI, so it gets a page, not a redirect."""
    _, challenge = pkce_pair()
    page = await browser.authorize(
        response_type="code", client_id="spa", redirect_uri=uri, code_challenge=challenge, code_challenge_method="S256"
    )
    assert page.status_code == 400, page.text
    assert "location" not in page.headers


async def test_confidential_client_gets_no_loopback_port_leniency(make_browser: MakeBrowser, store: Store) -> None:
    await register_client(
        store,
        register("cli", grant_types=["authorization_code"], redirect_uris=["http://127.0.0.1/cb"], scope="r").client,
    )
    b = await make_browser()
    response = await b.authorize(response_type="code", client_id="cli", redirect_uri="http://127.0.0.1:8080/cb")
    assert response.status_code == 400


async def test_localhost_is_a_loopback_host_on_any_port_but_only_for_itself(
    make_browser: MakeBrowser, store: Store
) -> None:
    """MCP clients (FastMCP's by default) listen on ``http://localhost:<random port>/callback``: a public
    client's registered ``localhost`` URI matches on any port, as the loopback literals do (RFC 8252 section
    7.3), and never stands for another host, another path, or a confidential client."""
    native = register(
        "native",
        public=True,
        grant_types=["authorization_code"],
        redirect_uris=["http://localhost/cb", "http://localhost:*/any"],
    )
    secret = register("secret", grant_types=["authorization_code"], redirect_uris=["http://localhost/cb"])
    for made in (native, secret):
        await register_client(store, made.client)
    b = await make_browser()
    _, challenge = pkce_pair()
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}

    async def status(client_id: str, redirect_uri: str) -> int:
        answer = await b.authorize(response_type="code", client_id=client_id, redirect_uri=redirect_uri, **pkce)
        return answer.status_code

    assert await status("native", "http://localhost:8080/cb") == 200
    assert await status("native", "http://localhost:51234/any") == 200  # the wildcard spelling
    assert await status("native", "http://localhost/cb") == 200
    for elsewhere in (
        "http://127.0.0.1:8080/cb",
        "http://localhost:8080/other",
        "http://localhost.evil.example:8080/cb",
    ):
        assert await status("native", elsewhere) == 400, elsewhere
    assert await status("secret", "http://localhost:8080/cb") == 400


# -- errors after the redirect URI is known go back to the client ------------------------------------


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "bogus"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"scope": "read admin"}, "invalid_scope"),
        ({"scope": 'read "quoted"'}, "invalid_scope"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": "S512"}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"code_challenge": "a" * 129}, "invalid_request"),
        ({"code_challenge": "!" * 43}, "invalid_request"),
    ],
)
async def test_errors_redirect_with_state_and_iss(browser: Browser, params: dict[str, str | None], error: str) -> None:
    _, challenge = pkce_pair()
    query: dict[str, str | None] = {"response_type": "code", "client_id": "web", "redirect_uri": CALLBACK}
    query |= {"state": "xyz", "code_challenge": challenge, "code_challenge_method": "S256"}
    query |= params
    response = await browser.authorize(**{k: v for k, v in query.items() if v is not None})
    got = redirect_params(response)
    assert got["error"] == error
    assert got["state"] == "xyz"
    assert got["iss"] == ISSUER
    assert "code" not in got


async def test_client_not_registered_for_the_code_grant_is_unauthorized(
    make_browser: MakeBrowser, store: Store
) -> None:
    await register_client(
        store, register("impl", grant_types=["implicit"], redirect_uris=[CALLBACK], scope="read").client
    )
    b = await make_browser()
    _, challenge = pkce_pair()
    response = await b.authorize(
        response_type="code", client_id="impl", redirect_uri=CALLBACK, code_challenge=challenge,
        code_challenge_method="S256", state="q",
    )  # fmt: skip
    assert redirect_params(response)["error"] == "unauthorized_client"


async def test_public_client_must_use_pkce_even_when_not_required_for_all(make_browser: MakeBrowser) -> None:
    b = await make_browser(require_pkce=False)
    response = await b.authorize(response_type="code", client_id="spa", redirect_uri=CALLBACK, state="p")
    got = redirect_params(response)
    assert got["error"] == "invalid_request"
    assert "code_challenge" in got["error_description"]
    # A confidential client may skip PKCE once it is not required for all.
    page = await b.authorize(response_type="code", client_id="web", redirect_uri=CALLBACK)
    assert page.status_code == 200
    code = redirect_params(await b.submit(page))["code"]
    assert (await b.exchange("web", code, redirect_uri=CALLBACK)).status_code == 200


async def test_plain_pkce_only_when_allowed(make_browser: MakeBrowser) -> None:
    b = await make_browser(allow_plain_pkce=True)
    verifier = secrets.token_urlsafe(48)
    page = await b.authorize(
        response_type="code", client_id="web", redirect_uri=CALLBACK, code_challenge=verifier,
        code_challenge_method="plain",
    )  # fmt: skip
    assert page.status_code == 200, page.text
    code = redirect_params(await b.submit(page))["code"]
    response = await b.exchange("web", code, redirect_uri=CALLBACK, code_verifier=verifier)
    assert response.status_code == 200, response.text
    metadata = (await b.http.get("/oauth/.well-known/oauth-authorization-server")).json()
    assert metadata["code_challenge_methods_supported"] == ["S256", "plain"]


# -- sign-in hand-off ----------------------------------------------------------------------------------


async def test_no_user_redirects_to_login_with_next_back_to_the_same_request(browser: Browser) -> None:
    browser.user = None
    _, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": "web", "redirect_uri": CALLBACK, "state": "st"}
    query |= {"code_challenge": challenge, "code_challenge_method": "S256", "scope": "read"}
    response = await browser.authorize(**query)
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    next_url = parse_qs(location.query)["next"][0]
    assert next_url.startswith("/oauth/authorize?")
    assert {k: v[0] for k, v in parse_qs(urlsplit(next_url).query).items()} == query
    browser.user = "alice"
    page = await browser.http.get(next_url, headers={"x-test-user": "alice"})
    assert page.status_code == 200
    assert "wants to access your account" in page.text


# -- consent -------------------------------------------------------------------------------------------


async def test_consent_page_shows_client_and_scopes_and_is_locked_down(browser: Browser) -> None:
    _, challenge = pkce_pair()
    page = await browser.authorize(
        response_type="code", client_id="web", redirect_uri=CALLBACK, scope="read write",
        code_challenge=challenge, code_challenge_method="S256",
    )  # fmt: skip
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert page.headers["cache-control"] == "no-store"
    assert "Read your &lt;data&gt;" in page.text  # the configured description, escaped
    assert "<code>write</code>" in page.text  # no description: the scope itself
    # Who is really asking and where the code will go, not only the name the client chose.
    assert "Application id <code>web</code>" in page.text
    assert f"returns you to <strong>{urlsplit(CALLBACK).netloc}</strong>" in page.text
    assert 'value="allow"' in page.text and 'value="deny"' in page.text
    assert "<script" not in page.text
    assert "csrf_token" in consent_fields(page)


@pytest.mark.parametrize(
    ("uri", "host"),
    [
        ("https://app.example/cb", "app.example"),
        ("https://app.example:8443/cb?x=1", "app.example:8443"),
        ("http://[::1]:9000/cb", "[::1]:9000"),
        ("com.example.app:/oauth/cb", "com.example.app:/oauth/cb"),  # no host: the whole URI
    ],
)
def test_consent_view_names_the_redirect_host(uri: str, host: str) -> None:
    view = ConsentView("App", "app", User(sub="u"), (), "/oauth/authorize", {}, uri)
    assert view.redirect_host == host
    assert f"<strong>{html.escape(host)}</strong>" in default_consent_page(view)


async def test_deny_redirects_access_denied(browser: Browser) -> None:
    _, challenge = pkce_pair()
    page = await browser.authorize(
        response_type="code", client_id="web", redirect_uri=CALLBACK, state="d",
        code_challenge=challenge, code_challenge_method="S256",
    )  # fmt: skip
    got = redirect_params(await browser.submit(page, decision="deny"))
    assert got == {"error": "access_denied", "error_description": got["error_description"], "state": "d", "iss": ISSUER}


@pytest.mark.parametrize(
    "tamper",
    [
        {"scope": "read write"},  # widened after the page was shown
        {"state": "other"},
        {"code_challenge": pkce_pair()[1]},
        {"csrf_token": "garbage"},
    ],
)
async def test_tampered_consent_form_is_refused(browser: Browser, tamper: dict[str, str]) -> None:
    _, challenge = pkce_pair()
    page = await browser.authorize(
        response_type="code", client_id="web", redirect_uri=CALLBACK, scope="read", state="t",
        code_challenge=challenge, code_challenge_method="S256",
    )  # fmt: skip
    response = await browser.submit(page, **tamper)
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_consent_form_is_bound_to_the_user_and_single_use(browser: Browser) -> None:
    _, challenge = pkce_pair()
    page = await browser.authorize(
        response_type="code", client_id="web", redirect_uri=CALLBACK, code_challenge=challenge,
        code_challenge_method="S256",
    )  # fmt: skip
    browser.user = "mallory"
    assert (await browser.submit(page)).status_code == 400
    browser.user = "alice"
    assert (await browser.submit(page)).status_code == 303
    replay = await browser.submit(page)
    assert replay.status_code == 400


async def test_consent_form_expires(make_browser: MakeBrowser) -> None:
    b = await make_browser(consent_form_lifetime=1)
    _, challenge = pkce_pair()
    page = await b.authorize(
        response_type="code", client_id="web", redirect_uri=CALLBACK, code_challenge=challenge,
        code_challenge_method="S256",
    )  # fmt: skip
    await asyncio.sleep(2.2)
    assert (await b.submit(page)).status_code == 400


async def test_first_party_client_skips_consent(browser: Browser) -> None:
    _, challenge = pkce_pair()
    response = await browser.authorize(
        response_type="code", client_id="first", redirect_uri=CALLBACK, state="f",
        code_challenge=challenge, code_challenge_method="S256",
    )  # fmt: skip
    got = redirect_params(response)
    assert "code" in got and got["state"] == "f" and got["iss"] == ISSUER


async def test_remembered_consent_skips_the_page_for_covered_scopes(make_browser: MakeBrowser) -> None:
    b = await make_browser(consent_lifetime=60)
    await b.code_for(scope="read write")
    _, challenge = pkce_pair()
    again = await b.authorize(
        response_type="code", client_id="web", redirect_uri=CALLBACK, scope="read",
        code_challenge=challenge, code_challenge_method="S256",
    )  # fmt: skip
    assert "code" in redirect_params(again)
    b.user = "bob"  # another user is asked
    page = await b.authorize(
        response_type="code", client_id="web", redirect_uri=CALLBACK, scope="read",
        code_challenge=challenge, code_challenge_method="S256",
    )  # fmt: skip
    assert page.status_code == 200


async def test_consent_page_template_can_be_replaced(make_browser: MakeBrowser) -> None:
    seen: list[ConsentView] = []

    def render(view: ConsentView) -> str:
        seen.append(view)
        fields = "".join(f'<input name="{k}" value="{html.escape(v)}">' for k, v in view.hidden.items())
        return f"<form>{fields}</form>"

    b = await make_browser(consent_renderer=render)
    verifier, challenge = pkce_pair()
    page = await b.authorize(
        response_type="code", client_id="web", redirect_uri=CALLBACK, code_challenge=challenge,
        code_challenge_method="S256",
    )  # fmt: skip
    assert seen and seen[0].client_name == "web" and seen[0].user.sub == "u-alice"
    assert seen[0].client_id == "web" and seen[0].redirect_uri == CALLBACK
    assert page.headers["x-frame-options"] == "DENY"
    code = redirect_params(await b.submit(page))["code"]
    assert (await b.exchange("web", code, redirect_uri=CALLBACK, code_verifier=verifier)).status_code == 200


# -- code exchange -------------------------------------------------------------------------------------


async def test_code_exchange_issues_tokens_bound_to_the_user(browser: Browser) -> None:
    code, verifier = await browser.code_for()
    response = await browser.exchange("web", code, redirect_uri=CALLBACK, code_verifier=verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"] and body["scope"] == "read write"
    assert response.headers["cache-control"] == "no-store"
    rs = browser.clients["rs"]
    assert rs.secret is not None
    info = (
        await browser.http.post(
            "/oauth/introspect", data={"token": body["access_token"]}, headers={"Authorization": basic("rs", rs.secret)}
        )
    ).json()
    assert info["sub"] == "u-alice" and info["username"] == "alice" and info["client_id"] == "web"


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"code_verifier": None}, "required"),
        ({"code_verifier": "x" * 43}, "does not match"),
        ({"code_verifier": "bad verifier with spaces but long enough to pass the length check"}, "does not match"),
        ({"redirect_uri": None}, "redirect_uri"),
        ({"redirect_uri": "https://web.test/other"}, "redirect_uri"),
    ],
)
async def test_code_exchange_checks_verifier_and_redirect_uri(
    browser: Browser, params: dict[str, str | None], fragment: str
) -> None:
    code, verifier = await browser.code_for()
    data: dict[str, str | None] = {"redirect_uri": CALLBACK, "code_verifier": verifier} | params
    response = await browser.exchange("web", code, **{k: v for k, v in data.items() if v is not None})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert fragment in response.json()["error_description"]
    # The failed attempt spent the code: even the right verifier cannot use it now.
    retry = await browser.exchange("web", code, redirect_uri=CALLBACK, code_verifier=verifier)
    assert retry.json()["error"] == "invalid_grant"


async def test_code_of_client_a_cannot_be_redeemed_by_client_b(browser: Browser) -> None:
    code, verifier = await browser.code_for()
    response = await browser.exchange("other", code, redirect_uri=CALLBACK, code_verifier=verifier)
    assert response.json()["error"] == "invalid_grant"


async def test_code_replay_revokes_every_token_issued_from_it(browser: Browser) -> None:
    code, verifier = await browser.code_for()
    first = await browser.exchange("web", code, redirect_uri=CALLBACK, code_verifier=verifier)
    tokens = first.json()
    assert await browser.introspect_active(tokens["access_token"])
    replay = await browser.exchange("web", code, redirect_uri=CALLBACK, code_verifier=verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert not await browser.introspect_active(tokens["access_token"])
    assert not await browser.introspect_active(tokens["refresh_token"])
    refreshed = await browser.http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers={"Authorization": basic("web", browser.clients["web"].secret or "")},
    )
    assert refreshed.json()["error"] == "invalid_grant"


async def test_expired_code_is_refused(make_browser: MakeBrowser) -> None:
    b = await make_browser(authorization_code_lifetime=0.3)
    code, verifier = await b.code_for()
    await asyncio.sleep(0.5)
    response = await b.exchange("web", code, redirect_uri=CALLBACK, code_verifier=verifier)
    assert response.json()["error"] == "invalid_grant"


async def test_twenty_concurrent_redemptions_one_success(browser: Browser) -> None:
    code, verifier = await browser.code_for()
    responses = await asyncio.gather(
        *(browser.exchange("web", code, redirect_uri=CALLBACK, code_verifier=verifier) for _ in range(20))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 19
    # The losers are replays, so the winner's tokens are revoked too: the family ends consistent.
    winner = next(r for r in responses if r.status_code == 200).json()
    assert not await browser.introspect_active(winner["access_token"])


async def test_public_client_exchange_with_pkce_and_no_secret(browser: Browser) -> None:
    code, verifier = await browser.code_for("spa")
    response = await browser.exchange("spa", code, redirect_uri=CALLBACK, code_verifier=verifier)
    assert response.status_code == 200, response.text
    assert "refresh_token" in response.json()


# -- implicit grant (off by default) -------------------------------------------------------------------


async def test_implicit_grant_only_when_enabled(make_browser: MakeBrowser) -> None:
    off = await make_browser()
    response = await off.authorize(response_type="token", client_id="both", redirect_uri=CALLBACK, state="i")
    assert redirect_params(response)["error"] == "unsupported_response_type"
    on = await make_browser(enable_implicit_grant=True)
    page = await on.authorize(response_type="token", client_id="both", redirect_uri=CALLBACK, state="i")
    assert page.status_code == 200, page.text
    done = await on.submit(page)
    fragment = parse_qs(urlsplit(done.headers["location"]).fragment)
    assert fragment["token_type"] == ["Bearer"] and fragment["state"] == ["i"] and fragment["iss"] == [ISSUER]
    assert "refresh_token" not in fragment
    assert await on.introspect_active(fragment["access_token"][0])
