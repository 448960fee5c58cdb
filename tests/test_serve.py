"""``asgi-oauth serve`` started for real in a subprocess: banner, token, metadata, sign-in, refusals."""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import socket
import sys
from pathlib import Path
from urllib.parse import quote

import httpx

from asgi_oauth.demo import DEMO_SCOPE_DESCRIPTIONS
from asgi_oauth.web.pages import STYLE

from .serving import (
    FORM,
    ROOT,
    assert_one_line_error,
    banner_value,
    clean_env,
    free_port,
    run_cli,
    run_printed_curl,
    run_shell,
    serving,
)


def test_memory_store_demo(tmp_path: Path) -> None:
    with serving(tmp_path, clean_env()) as server:
        banner = server.stdout
        assert banner_value(banner, "client_id") == "demo-client"
        secret = banner_value(banner, "client_secret")
        assert len(secret) >= 43
        assert "MEMORY STORE" in server.stderr and "single worker" in server.stderr
        assert "alice / wonderland" in banner  # default users are announced

        token = run_printed_curl(banner)
        assert token.status_code == 200, token.text
        body = token.json()
        assert body["token_type"] == "Bearer" and body["access_token"]
        assert body["access_token"] not in server.stderr  # tokens never reach the log

        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            issuer = f"{server.base_url}/oauth"
            under_mount = http.get("/oauth/.well-known/oauth-authorization-server")
            rfc8414 = http.get("/.well-known/oauth-authorization-server/oauth")
            assert under_mount.status_code == rfc8414.status_code == 200
            assert under_mount.json() == rfc8414.json()
            assert rfc8414.json()["issuer"] == issuer
            assert rfc8414.json()["token_endpoint"] == f"{issuer}/token"
            assert f"{server.base_url}/.well-known/oauth-authorization-server/oauth" in banner

            # The other discovery URLs MCP clients try: the same bytes, the exact issuer.
            for url in ("/.well-known/openid-configuration/oauth", "/oauth/.well-known/openid-configuration"):
                other = http.get(url)
                assert other.status_code == 200 and other.content == rfc8414.content, url
            # /api is an RFC 9728 protected resource whose metadata names this issuer.
            prm_url = f"{server.base_url}/.well-known/oauth-protected-resource/api"
            prm = http.get(prm_url)
            assert prm.status_code == 200, prm.text
            assert prm.json()["resource"] == f"{server.base_url}/api"
            assert prm.json()["authorization_servers"] == [issuer]
            assert prm.headers["access-control-allow-origin"] == "*"

            me = http.get("/api/me")
            assert me.status_code == 401
            assert me.headers["www-authenticate"] == f'Bearer realm="asgi_oauth", resource_metadata="{prm_url}"'
            assert me.json()["error"] == "unauthorized"
            junk = http.get("/api/me", headers={"Authorization": "Bearer junk"})
            assert junk.status_code == 401 and 'error="invalid_token"' in junk.headers["www-authenticate"]
            me = http.get("/api/me", headers={"Authorization": f"Bearer {body['access_token']}"})
            assert me.status_code == 200, me.text
            assert me.json() == {"sub": None, "client_id": "demo-client", "scopes": ["read"]}

            check_pages_look_alike(http)
            check_sign_in(http)

            callback = http.get("/callback", params={"code": "<b>x</b>", "state": "s", "iss": issuer})
            assert callback.status_code == 200
            assert "&lt;b&gt;x&lt;/b&gt;" in callback.text and "<b>x</b>" not in callback.text
            assert "grant_type=authorization_code" in callback.text

            check_code_flow(http, issuer, secret)


def check_pages_look_alike(http: httpx.Client) -> None:
    """The demo's own pages carry the style of the server's consent and error pages, and name the site once."""
    titles = {}
    for path in ("/", "/login", "/callback", "/oauth/authorize?client_id=nobody"):
        page = http.get(path)
        assert STYLE in page.text, path
        (titles[path],) = re.findall(r"<title>(.*?)</title>", page.text)
    assert titles["/"] == "asgi-oauth demo"
    assert titles["/login"] == "Sign in · asgi-oauth demo"
    assert titles["/callback"] == "Authorization response · asgi-oauth demo"
    # The home page's curl is split at its options too, so nothing wraps inside a token.
    (curl,) = re.findall(r"<pre>(curl [^<]*)</pre>", http.get("/").text)
    assert [line.endswith(" \\") for line in curl.splitlines()] == [True, True, False]


def check_sign_in(http: httpx.Client) -> None:
    next_path = "/oauth/authorize?client_id=demo-client&state=xyz"
    form = http.get("/login", params={"next": next_path})
    assert form.status_code == 200
    assert form.headers["x-frame-options"] == "DENY"
    assert f'name="next" value="{next_path.replace("&", "&amp;")}"' in form.text

    wrong = http.post("/login", data={"username": "alice", "password": "builder", "next": next_path})
    assert wrong.status_code == 401
    assert "set-cookie" not in wrong.headers

    cross_site = http.post(
        "/login",
        data={"username": "alice", "password": "wonderland"},
        headers={"origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403  # login CSRF
    assert "set-cookie" not in cross_site.headers

    ok = http.post(
        "/login",
        data={"username": "alice", "password": "wonderland", "next": next_path},
        headers={"origin": str(http.base_url).rstrip("/")},
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == next_path
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=28800" in cookie
    home = http.get("/").text
    assert "Signed in as <strong>alice</strong>" in home
    assert "Sign in" not in home and 'action="/logout"' in home  # no sign-in offer to someone signed in

    off_sites = ("https://evil.example/", "//evil.example/x", "/\\evil.example", "evil", "/x\r\nSet-Cookie: a=b")
    for off_site in off_sites:
        sent = http.post("/login", data={"username": "bob", "password": "builder", "next": off_site})
        assert sent.status_code == 303
        assert sent.headers["location"] == "/", off_site

    assert http.post("/logout").status_code == 303
    home = http.get("/").text
    assert "You are not signed in" in home and home.count('href="/login"') == 1


def check_code_flow(http: httpx.Client, issuer: str, secret: str, authorize_url: str | None = None) -> str:
    """The browser walk: /start (or ``authorize_url``), sign in, consent, /callback, then the code exchange the
    page prints; returns the page."""
    if authorize_url is None:
        start = http.get("/start")
        assert start.status_code == 303
        authorize_url = start.headers["location"]
    assert authorize_url.startswith(f"{issuer}/authorize?")
    assert "code_challenge_method=S256" in authorize_url and "client_id=demo-client" in authorize_url

    to_login = http.get(authorize_url)  # nobody signed in: the server asks the demo's /login
    assert to_login.is_redirect
    login_url = httpx.URL(to_login.headers["location"])
    assert login_url.path == "/login"
    next_path = login_url.params["next"]
    assert next_path.startswith("/oauth/authorize?")

    signed_in = http.post("/login", data={"username": "bob", "password": "builder", "next": next_path})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == next_path

    consent = http.get(next_path)
    assert consent.status_code == 200
    # The demo's scopes with what they allow, the client's id and where the code will be sent.
    for scope, description in DEMO_SCOPE_DESCRIPTIONS.items():
        assert f"<strong>{description}</strong> <code>{scope}</code>" in consent.text
    assert "Application id <code>demo-client</code>" in consent.text
    assert f"returns you to <strong>{httpx.URL(issuer).netloc.decode()}</strong>" in consent.text
    form = dict(re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', consent.text))
    form = {html.unescape(k): html.unescape(v) for k, v in form.items()}
    form_tag = re.search(r'<form method="post" action="([^"]*)"', consent.text)
    assert form_tag, consent.text
    action = html.unescape(form_tag.group(1))
    approved = http.post(action, data={**form, "decision": "allow"})
    assert approved.is_redirect
    callback_url = httpx.URL(approved.headers["location"])
    assert callback_url.path == "/callback"

    page = http.get(callback_url)  # carries the flow cookie /start set, as a browser would
    assert page.status_code == 200
    assert "state matches" in page.text and "iss is this server" in page.text and "✗" not in page.text
    assert "works once and expires 60 seconds after it was issued" in page.text
    (curl,) = re.findall(r"<pre>(curl [^<]*grant_type=authorization_code[^<]*)</pre>", page.text)
    curl = html.unescape(curl)
    assert callback_url.params["code"] in curl
    # One option per line, each but the last ending in " \": pasted into bash, it is one command.
    lines = curl.splitlines()
    assert len(lines) == 5 and all(line.endswith(" \\") for line in lines[:-1])
    exchanged = run_shell(curl, clean_env(DEMO_CLIENT_SECRET=secret))
    assert exchanged.returncode == 0, exchanged.stderr
    assert json.loads(exchanged.stdout)["refresh_token"]
    return page.text


def test_the_banners_authorize_url_ends_on_a_callback_with_its_verifier(tmp_path: Path) -> None:
    """Opened without /start (so without its cookie), the printed URL's callback still checks the state and
    prints the printed code_verifier in its curl, which exchanges the code."""
    with serving(tmp_path, clean_env()) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        authorize_url = banner_value(server.stdout, "authorize")
        verifier = re.findall(r"\(the code_verifier for that URL: (\S+)\)", server.stdout)[0]
        page = check_code_flow(http, server.issuer, server.client_secret, authorize_url)
        assert "state matches the one in the authorization URL serve printed" in page
        assert f"code_verifier={verifier}" in html.unescape(page)

        # A state neither /start nor serve made is called out, and no verifier is offered for it.
        forged = http.get("/callback", params={"code": "c", "state": "x." + "A" * 43, "iss": server.issuer})
        assert "state matches neither" in forged.text and "code_verifier=&lt;the code_verifier&gt;" in forged.text


def serve_error(env: dict[str, str], *args: str) -> str:
    result = run_cli("serve", "--port", str(free_port()), *args, env=env)
    assert result.returncode == 1
    return assert_one_line_error(result)


SECRET_KEY = secrets.token_urlsafe(32)


def test_several_workers_need_redis_and_a_secret_key(redis_url: str) -> None:
    assert "ASGI_OAUTH_REDIS_URL" in serve_error(clean_env(ASGI_OAUTH_SECRET_KEY=SECRET_KEY), "--workers", "2")
    line = serve_error(clean_env(), "--workers", "2")
    assert "ASGI_OAUTH_REDIS_URL" in line and "ASGI_OAUTH_SECRET_KEY" in line
    only_redis = serve_error(clean_env(ASGI_OAUTH_REDIS_URL=redis_url), "--workers", "3")
    assert "ASGI_OAUTH_SECRET_KEY" in only_redis and "REDIS_URL" not in only_redis


def test_unreachable_redis_refuses_to_start() -> None:
    env = clean_env(ASGI_OAUTH_REDIS_URL=f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    line = serve_error(env)
    assert "cannot reach Redis" in line and "hunter2" not in line


def test_invalid_settings_refuse_to_start() -> None:
    assert "ASGI_OAUTH_ISSUER" in serve_error(clean_env(ASGI_OAUTH_ISSUER="ftp://auth.example"))
    assert "ASGI_OAUTH_DEMO_USERS" in serve_error(clean_env(ASGI_OAUTH_DEMO_USERS="alice"))


def test_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), env=clean_env())
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"asgi-oauth: error: cannot listen on 127.0.0.1:{port}: {IN_USE}"]


IN_USE = "address already in use; choose another --host or --port"


def test_redis_with_two_workers(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    env = clean_env(
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_SECRET_KEY=SECRET_KEY,
        ASGI_OAUTH_KEY_PREFIX=key_prefix,
        ASGI_OAUTH_DEMO_USERS="carol:s3cret-pass",
        ASGI_OAUTH_ACCES_TOKEN_LIFETIME="5",
    )
    with serving(tmp_path, env, workers=2) as server:
        banner = server.stdout
        assert "MEMORY STORE" not in server.stderr
        # Said once by serve, not again by each worker as it loads the settings.
        misspelled = [line for line in server.stderr.splitlines() if "ACCES_TOKEN" in line]
        assert misspelled == [
            "asgi-oauth: warning: ASGI_OAUTH_ACCES_TOKEN_LIFETIME is not a setting and is ignored; "
            "did you mean ASGI_OAUTH_ACCESS_TOKEN_LIFETIME?"
        ]
        assert "workers:  2" in banner
        assert "s3cret-pass" not in banner  # configured passwords are not echoed
        secret = banner_value(banner, "client_secret")
        # Each request on a new connection, until both workers have issued tokens (bounded).
        issued_by: dict[str, str] = {}
        for _ in range(200):
            response = run_printed_curl(banner)
            assert response.status_code == 200, response.text
            issued_by.setdefault(response.headers["x-demo-worker"], response.json()["access_token"])
            if len(issued_by) == 2:
                break
        assert len(issued_by) == 2, "uvicorn never handed a connection to the second worker"
        # A token issued by one worker is introspected by the other: the store is shared.
        checked = set()
        for _ in range(200):
            answer = httpx.post(
                f"{server.base_url}/oauth/introspect",
                auth=("demo-client", secret),
                content=f"token={quote(next(iter(issued_by.values())), safe='')}",
                headers=FORM,
            )
            worker = answer.headers["x-demo-worker"]
            assert answer.status_code == 200 and answer.json()["active"] is True
            checked.add(worker)
            if checked == set(issued_by):
                break
        assert checked == set(issued_by), "introspection was not served by both workers"
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            signed_in = http.post("/login", data={"username": "carol", "password": "s3cret-pass", "next": "/"})
            assert signed_in.status_code == 303
            # The session cookie is signed with the shared SECRET_KEY, so any worker accepts it.
            for _ in range(4):
                assert "Signed in as <strong>carol</strong>" in http.get("/").text


def test_failed_sign_ins_are_rate_limited(tmp_path: Path) -> None:
    env = clean_env(ASGI_OAUTH_RATE_LIMIT_FAILURES="3", ASGI_OAUTH_RATE_LIMIT_WINDOW="60")
    with serving(tmp_path, env) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        statuses = [
            http.post("/login", data={"username": "alice", "password": "guess", "next": "/"}).status_code
            for _ in range(4)
        ]
        assert statuses == [401, 401, 401, 429]  # three failures allowed, the fourth attempt refused
        # Blocked: even the right password is not checked until the window has passed.
        right = http.post("/login", data={"username": "alice", "password": "wonderland", "next": "/"})
        assert right.status_code == 429
        assert 1 <= int(right.headers["retry-after"]) <= 60
        assert "set-cookie" not in right.headers


def test_redis_with_other_clients_still_gets_the_demo_client(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    """Clients of one's own in the store do not stop serve from registering the demo client its pages need."""
    env = clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_KEY_PREFIX=key_prefix)
    created = run_cli(
        "clients", "create", "--name", "Job", "--client-id", "job", "--grant-type", "client_credentials", env=env
    )
    assert created.returncode == 0, created.stderr

    with serving(tmp_path / "first", env) as server:
        banner = server.stdout
        assert banner_value(banner, "client_id") == "demo-client"
        assert "Other clients in the store: job" in banner
        assert run_printed_curl(banner).status_code == 200
        # One SECRET_KEY warning, from serve itself; the app does not load settings and warn again.
        secret_key_lines = [line for line in server.stderr.splitlines() if "SECRET_KEY" in line]
        assert len(secret_key_lines) == 1, server.stderr
        assert secret_key_lines[0].startswith("asgi-oauth: warning: ")
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            authorize = http.get(http.get("/start").headers["location"])
            # A known client and redirect URI: on to sign-in, not the "not registered here" page.
            assert authorize.is_redirect, authorize.text
            assert httpx.URL(authorize.headers["location"]).path == "/login"

    # Started again on another port, by the installed script's path as typed: the client exists, its secret is
    # unknown, and /start would fail.
    script = os.path.relpath(Path(sys.executable).parent / "asgi-oauth", ROOT)
    # (A PATH without the script's directory, as in a shell that did not activate the venv; under nox it is on PATH.)
    with serving(tmp_path / "again", {**env, "PATH": os.defpath}, command=[script]) as server:
        banner = server.stdout
        assert "client_secret:" not in banner
        assert "Demo client demo-client is already in the store" in banner
        assert "Other clients in the store: job" in banner
        assert f"not {server.base_url}/callback, so /start will fail" in server.stderr
        (curl,) = [line for line in banner.splitlines() if "grant_type=client_credentials" in line]
        assert '"demo-client:$DEMO_CLIENT_SECRET"' in curl
    # The command to delete it names the program as it was started, the Redis and the key prefix.
    delete = f"ASGI_OAUTH_REDIS_URL={redis_url} ASGI_OAUTH_KEY_PREFIX={key_prefix} {script} clients delete demo-client"
    (printed,) = [line.strip() for line in banner.splitlines() if "clients delete" in line]
    assert printed == delete
    (warned,) = [line for line in server.stderr.splitlines() if "/start will fail" in line]
    assert warned.endswith(f"start serve again after this: {delete}")

    # What the banner says to do: run that (in a shell that has no Redis settings), start again, and a fresh
    # secret is printed.
    deleted = run_shell(printed, clean_env())
    assert deleted.returncode == 0, deleted.stderr
    with serving(tmp_path / "renewed", env) as server:
        assert run_printed_curl(server.stdout).status_code == 200
        assert "/start will fail" not in server.stderr


def test_the_secret_key_warning_reads_the_same_from_serve_and_from_the_library(tmp_path: Path) -> None:
    with serving(tmp_path, clean_env()) as server:
        (served,) = [line for line in server.stderr.splitlines() if "SECRET_KEY" in line]
    host = (
        "import logging; logging.basicConfig(format='%(message)s'); from asgi_oauth import OAuthServer; OAuthServer()"
    )
    logged = run_cli(env=clean_env(), command=[sys.executable, "-c", host])
    assert logged.returncode == 0, logged.stderr
    (library,) = [line for line in logged.stderr.splitlines() if "SECRET_KEY" in line]  # (no sign-in: warned too)
    assert served == f"asgi-oauth: warning: {library}"
    assert "ASGI_OAUTH_SECRET_KEY" in served
