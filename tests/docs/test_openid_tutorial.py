"""docs/tutorials/openid-provider.md followed as written: the page's provider on Redis and its Authlib relying party,
each started with the page's command, the relying party registered with the page's CLI command; a person signs in
and allows on the provider's pages (:func:`tests.serving.demo_sign_in`, over HTTP) and the wiki shows what the page
says: the ID token's claims, checked by Authlib, and the userinfo answer."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from ..serving import demo_sign_in, free_port
from .pages import PAGE_REDIS, app_env, code, exported, ports, serving_block, write_file

PAGE = "tutorials/openid-provider"

pytestmark = pytest.mark.slow


def test_the_wiki_signs_alice_in_with_the_provider(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    provider_port, wiki_port = free_port(), free_port()
    moved = {8000: provider_port, 8001: wiki_port}
    (provider,) = code(PAGE, "OpenID tutorial: the provider", "python")
    (wiki,) = code(PAGE, "OpenID tutorial: the wiki", "python")
    clone = tmp_path / "clone"
    write_file(clone, "provider.py", ports(provider, moved))
    write_file(clone, "wiki.py", ports(wiki, moved))
    env = app_env(clone, ASGI_OAUTH_KEY_PREFIX=key_prefix)
    (run_provider,) = code(PAGE, "OpenID tutorial: the provider", "sh")
    (register,) = code(PAGE, "OpenID tutorial: register the wiki", "sh")
    (run_wiki,) = code(PAGE, "OpenID tutorial: the wiki", "sh")
    (shown,) = code(PAGE, "OpenID tutorial: sign in", "json")

    logs = tmp_path / "provider"
    with serving_block(
        run_provider, env, provider_port, logs, redis_url=redis_url, ready_path="/oauth/health/live"
    ) as served:
        # The second terminal: the registration's exports, then the wiki in the same shell.
        second = exported(ports(register.replace(PAGE_REDIS, redis_url), moved).splitlines(), env)
        assert len(second["WIKI_CLIENT_SECRET"]) > 30
        with (
            serving_block(run_wiki, second, wiki_port, tmp_path / "wiki", ready_path="/"),
            httpx.Client(base_url=f"http://127.0.0.1:{wiki_port}", timeout=10) as browser,
        ):
            assert 'href="/login"' in browser.get("/").text  # no session yet: a link to sign in
            sent = browser.get("/login")
            assert sent.status_code == 302
            authorize = urlsplit(sent.headers["location"])
            assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == f"{served.issuer}/authorize"
            query = dict(parse_qsl(authorize.query))
            assert query["scope"] == "openid profile email" and query["code_challenge_method"] == "S256"
            assert query["nonce"] and query["state"] and query["client_id"] == "wiki"
            back = demo_sign_in(served, query)  # the provider's sign-in page at /oauth/login, then consent
            done = browser.get(back)
            assert done.status_code == 303, done.text
            home = browser.get("/")
            assert home.status_code == 200, home.text
    assert home.json() == json.loads(ports(shown, moved))
    # The two warnings the page quotes, as it quotes them.
    assert "no ASGI_OAUTH_SECRET_KEY is set: signing with a random key, " in served.stderr
    assert "No ASGI_OAUTH_OIDC_SIGNING_KEYS configured: generated a RS256 key into the store " in served.stderr
