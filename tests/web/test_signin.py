"""The sign-in hook: ``OAuthServer(sign_in=...)``.

``OpenIDSignIn`` against a real upstream OpenID provider (``asgi-oauth serve`` with OpenID Connect on Redis,
its relying party registered with the CLI): /authorize sends the browser to the provider, the person signs in
and allows there, and comes back signed in as the provider's subject; this server's own consent follows and
the client gets its code. ``PasswordSignIn`` is exercised by the MCP tests (tests/mcp/test_readme_servers.py);
here its refusals: a wrong password, a cross-site post, and no open redirect.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from asgi_oauth import MemoryStore, OAuthServer, OpenIDSignIn, PasswordSignIn, User, load_settings, new_client

from ..mcp.conformance import forms
from ..serving import clean_env, run_cli, serving
from ..test_serve import SECRET_KEY
from .helpers import pkce_pair

HERE = "http://localhost:9"
CALLBACK = "http://127.0.0.1/callback"


def app_with(sign_in: OpenIDSignIn | PasswordSignIn) -> Starlette:
    settings = load_settings(issuer=f"{HERE}/oauth", secret_key=SECRET_KEY)
    client, _ = new_client(
        name="Native", client_id="native", public=True, grant_types=["authorization_code"], redirect_uris=[CALLBACK]
    )
    oauth = OAuthServer(settings, store=MemoryStore(), clients=[client], sign_in=sign_in)
    return Starlette(routes=[Mount("/oauth", app=oauth)])


async def walk(http: httpx.AsyncClient, url: str, user: tuple[str, str]) -> str:
    """A person's browser: follows redirects across both sites, signs in, allows; returns the client's redirect."""
    method, data = "GET", None
    for _ in range(16):
        headers = {"origin": f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"} if method == "POST" else {}
        answer = await http.request(method, url, data=data, headers=headers)
        if answer.is_redirect:
            url, method, data = urljoin(url, answer.headers["location"]), "GET", None
            if url.startswith(CALLBACK):
                return url
            continue
        assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
        (form,) = [f for f in forms(answer.text) if f.passwords or ("decision", "allow") in f.buttons]
        data = dict(form.fields)
        if form.passwords:
            data |= {form.texts[0]: user[0], form.passwords[0]: user[1]}
        else:
            data["decision"] = "allow"
        method, url = form.method.upper(), urljoin(url, form.action or url)
    raise AssertionError("no redirect to the client")


@pytest.mark.slow
async def test_openid_sign_in_through_an_upstream_provider(tmp_path: Path, redis_url: str) -> None:
    env = clean_env(
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_SECRET_KEY=SECRET_KEY,
        ASGI_OAUTH_KEY_PREFIX=f"upstream{uuid.uuid4().hex[:8]}",
        ASGI_OAUTH_ENABLE_OIDC="1",
    )
    created = run_cli(
        "clients", "create", "--name", "MCP server", "--grant-type", "authorization_code",
        "--redirect-uri", f"{HERE}/oauth/login/callback", "--scope", "openid profile email", env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    relying_party = json.loads(created.stdout)
    with serving(tmp_path, env) as upstream:
        sign_in = OpenIDSignIn(upstream.issuer, relying_party["client_id"], relying_party["client_secret"])
        app = app_with(sign_in)
        # This server in process at HERE; the provider over real HTTP.
        async with httpx.AsyncClient(mounts={HERE: httpx.ASGITransport(app=app)}, timeout=15) as http:
            _, challenge = pkce_pair()
            query = {
                "response_type": "code", "client_id": "native", "redirect_uri": CALLBACK,
                "code_challenge": challenge, "code_challenge_method": "S256", "state": "s1",
            }  # fmt: skip
            back = await walk(http, f"{HERE}/oauth/authorize?{httpx.QueryParams(query)}", ("alice", "wonderland"))
            assert parse_qs(urlsplit(back).query)["state"] == ["s1"] and "code" in parse_qs(urlsplit(back).query)
            # The session now names the provider's user: a second authorization goes straight to consent.
            again = await http.get(f"{HERE}/oauth/authorize", params=query)
            assert again.status_code == 200 and "Signed in as alice" in again.text
            # A callback that does not carry the state this browser was given is refused.
            forged = await http.get(f"{HERE}/oauth/login/callback", params={"code": "x", "state": "other"})
            assert forged.status_code == 400


async def test_password_sign_in_refusals() -> None:
    async def check(username: str, password: str) -> User | None:
        return User(username) if (username, password) == ("alice", "wonderland") else None

    app = app_with(PasswordSignIn(check))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url=HERE) as http:
        form = {"username": "alice", "password": "wrong", "next": "/oauth/authorize?x=1"}
        wrong = await http.post("/oauth/login", data=form, headers={"origin": HERE})
        assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
        elsewhere = await http.post(
            "/oauth/login", data={**form, "password": "wonderland"}, headers={"origin": "https://evil.example"}
        )
        assert elsewhere.status_code == 403 and "set-cookie" not in elsewhere.headers
        away = await http.post(
            "/oauth/login",
            data={**form, "password": "wonderland", "next": "https://evil.example/"},
            headers={"origin": HERE},
        )
        assert away.status_code == 303 and away.headers["location"] == "/oauth/authorize"
        assert "asgi_oauth_session" in away.headers.get("set-cookie", "")
