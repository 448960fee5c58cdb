"""The judge: panva's ``openid-client`` (npm, nobody here wrote it) runs PAR end to end against the real server.

It discovers the server from its RFC 8414 metadata, pushes the request to ``/par`` with client_secret_basic,
sends the browser to ``/authorize`` with only ``client_id`` and ``request_uri``, and redeems the code with
PKCE, checking ``state`` and ``iss`` (RFC 9207) on the way. Node 22 and the package come from the tracked
lock in ``tests/par/npm/`` through ``npm ci`` (:mod:`tests.npm`); without npm the test skips, saying why.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from asgi_oauth import MemoryStore, OAuthServer, new_client, publish_discovery, register_client
from asgi_oauth.features.par import ParSettings, PushedAuthorizationRequests

from ..npm import OPENID_CLIENT
from ..serving import free_port
from ..web.helpers import SECRET_KEY, settings_for
from ..web.test_authorize import consent_fields, resolve_user

HERE = Path(__file__).parent
INSTALL_DIR = OPENID_CLIENT.install_dir
CALLBACK = "http://127.0.0.1:9/cb"


@pytest.fixture
def issuer() -> Iterator[tuple[str, str, str]]:
    """A real HTTP server on a free port: the OAuth server with PAR required, its metadata at the root."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}/oauth"
    store = MemoryStore()
    client, secret = new_client(name="judge", redirect_uris=[CALLBACK], scope="read write")
    assert secret is not None
    oauth = OAuthServer(
        settings_for(issuer=issuer, secret_key=SECRET_KEY),
        store=store,
        user_resolver=resolve_user,
        features=[PushedAuthorizationRequests(ParSettings(required=True))],
    )
    app = Starlette(routes=[Mount("/oauth", app=oauth)])
    publish_discovery(app.router.routes, oauth)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            threading.Event().wait(0.05)
        asyncio.run(register_client(store, client))
        yield issuer, client.client_id, secret
    finally:
        server.should_exit = True
        thread.join(10)


def test_openid_client_runs_pushed_authorization_requests_end_to_end(
    openid_client: Path, issuer: tuple[str, str, str]
) -> None:
    url, client_id, secret = issuer
    script = INSTALL_DIR / "judge.mjs"  # beside node_modules: ES modules resolve packages from where they are
    shutil.copyfile(HERE / "judge.mjs", script)
    judge = subprocess.Popen(
        [str(openid_client), str(script), url, client_id, secret, CALLBACK],
        cwd=INSTALL_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert judge.stdout is not None and judge.stdin is not None
        first = judge.stdout.readline()
        assert first, judge.stderr.read() if judge.stderr else ""
        built = json.loads(first)
        assert built["metadata"]["require_pushed_authorization_requests"] is True
        authorize = httpx.URL(built["authorize"])
        assert set(authorize.params) == {"client_id", "request_uri"}  # everything else was pushed
        user = {"x-test-user": "alice"}
        with httpx.Client() as browser:
            page = browser.get(authorize, headers=user)
            assert page.status_code == 200, page.text
            done = browser.post(
                str(authorize.copy_with(query=None)), data={**consent_fields(page), "decision": "allow"}, headers=user
            )
            assert done.status_code == 303, done.text
            replay = browser.get(authorize, headers=user)
            assert replay.status_code == 400  # the request_uri was used
        judge.stdin.write(done.headers["location"] + "\n")
        judge.stdin.flush()
        answer, errors = judge.communicate(timeout=60)
        assert judge.returncode == 0, errors
        tokens = json.loads(answer)["tokens"]
        print("openid-client PAR judge:", json.dumps({k: tokens[k] for k in ("token_type", "scope", "expires_in")}))
        assert tokens["token_type"].lower() == "bearer" and tokens["scope"] == "read"
        assert tokens["access_token"] and tokens["refresh_token"]
    finally:
        if judge.poll() is None:
            judge.kill()
