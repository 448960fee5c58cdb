"""The real stack for the reliability tests: private redis-servers, ``asgi-oauth serve`` and an OAuth client.

``asgi-oauth serve`` itself is started with :func:`tests.serving.serving`. Everything here talks to
127.0.0.1 only, every wait is bounded, and every process started is stopped by the context manager that
started it. The soak driver (``python -m tests.reliability.soak``) uses the same pieces outside pytest.
"""

from __future__ import annotations

import html
import os
import re
import secrets
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..conftest import start_redis
from ..serving import STOP_TIMEOUT, free_port, settings_env
from ..web.helpers import pkce_pair

DEMO_CLIENT = "demo-client"


# -- redis-server ---------------------------------------------------------------------------------


class RedisProcess:
    """A private redis-server on a fixed free port that can be frozen, killed and restarted there.

    ``persistent=True`` turns on the append-only file with ``appendfsync always``: Redis writes every
    acknowledged command to disk before replying, so a SIGKILL loses nothing a client was told about,
    and a restart on the same ``dir`` comes back with every client and token. Without it a restart
    starts empty (``start_redis`` disables RDB snapshots).
    """

    def __init__(self, directory: Path, *, persistent: bool) -> None:
        self.dir = directory
        self.port = free_port()
        self.extra = ("--appendonly", "yes", "--appendfsync", "always") if persistent else ()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = start_redis(self.dir, self.port, *self.extra)

    def kill(self) -> None:
        """SIGKILL: a crash, no chance to save or to say goodbye to clients."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)

    def freeze(self) -> None:
        """SIGSTOP: connections stay open but nothing answers (a hung server, a partition)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGCONT)  # a frozen server cannot act on SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)


@contextmanager
def redis_server(directory: Path, *extra: str, persistent: bool = False) -> Iterator[RedisProcess]:
    """A private redis-server, with ``extra`` command-line options, stopped on the way out."""
    server = RedisProcess(directory, persistent=persistent)
    server.extra = (*server.extra, *extra)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- asgi-oauth serve, started with tests.serving.serving -----------------------------------------


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` from ``/proc/<pid>/status`` (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def serve_env(redis_url: str | None, **settings: str) -> dict[str, str]:
    """Environment for ``serve``: no inherited ``ASGI_OAUTH_*``, a fixed SECRET_KEY, the given settings."""
    env = {"secret_key": "reliability-" + secrets.token_urlsafe(32)}
    if redis_url is not None:
        env["redis_url"] = redis_url
    return settings_env(**{**env, **settings})


# -- an OAuth client of the demo ------------------------------------------------------------------


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')
_FORM_ACTION = re.compile(r'<form method="post" action="([^"]*)"')


@dataclass
class DemoClient:
    """The demo client (confidential, Basic auth) and a signed-in browser, over one httpx client."""

    http: httpx.AsyncClient
    secret: str
    base_url: str
    client_id: str = DEMO_CLIENT
    #: Every secret value this client saw, so the hygiene tests can look for them.
    seen: set[str] = field(default_factory=set)

    @property
    def auth(self) -> tuple[str, str]:
        return (self.client_id, self.secret)

    def _remember(self, response: httpx.Response) -> None:
        if response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
            if isinstance(body, dict):
                for name in ("access_token", "refresh_token"):
                    if isinstance(body.get(name), str):
                        self.seen.add(body[name])

    async def token(self, **form: str) -> httpx.Response:
        response = await self.http.post("/oauth/token", data=form, auth=self.auth)
        self._remember(response)
        return response

    async def client_credentials(self, scope: str = "read") -> httpx.Response:
        return await self.token(grant_type="client_credentials", scope=scope)

    async def password(self, username: str, password: str, scope: str = "read profile") -> httpx.Response:
        return await self.token(grant_type="password", username=username, password=password, scope=scope)

    async def refresh(self, refresh_token: str) -> httpx.Response:
        return await self.token(grant_type="refresh_token", refresh_token=refresh_token)

    async def introspect(self, token: str) -> httpx.Response:
        return await self.http.post("/oauth/introspect", data={"token": token}, auth=self.auth)

    async def revoke(self, token: str) -> httpx.Response:
        return await self.http.post("/oauth/revoke", data={"token": token}, auth=self.auth)

    async def me(self, access_token: str) -> httpx.Response:
        return await self.http.get("/api/me", headers={"Authorization": f"Bearer {access_token}"})

    async def active(self, token: str) -> bool:
        response = await self.introspect(token)
        assert response.status_code == 200, response.text
        active = response.json()["active"]
        assert isinstance(active, bool)
        return active

    async def sign_in(self, username: str, password: str) -> None:
        response = await self.http.post("/login", data={"username": username, "password": password, "next": "/"})
        assert response.status_code == 303, response.text

    async def authorization_code(self, scope: str = "read profile") -> tuple[str, str]:
        """Walk /authorize and the consent page as the signed-in browser; return ``(code, code_verifier)``."""
        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": f"{self.base_url}/callback",
            "scope": scope,
            "state": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        consent = await self.http.get("/oauth/authorize", params=params)
        assert consent.status_code == 200, f"{consent.status_code}: {consent.text[:300]}"
        form = {html.unescape(k): html.unescape(v) for k, v in _HIDDEN.findall(consent.text)}
        action = _FORM_ACTION.search(consent.text)
        assert action is not None, consent.text[:300]
        approved = await self.http.post(html.unescape(action.group(1)), data={**form, "decision": "allow"})
        assert approved.status_code == 303, approved.text[:300]
        location = httpx.URL(approved.headers["location"])
        assert location.params["state"] == params["state"]
        code = location.params["code"]
        self.seen.update((code, verifier))
        return code, verifier

    async def exchange(self, code: str, verifier: str) -> httpx.Response:
        return await self.token(
            grant_type="authorization_code",
            code=code,
            redirect_uri=f"{self.base_url}/callback",
            code_verifier=verifier,
        )


def http_client(
    base_url: str, *, connections: int = 64, keepalive: int | None = None, timeout: float = 10.0
) -> httpx.AsyncClient:
    """An httpx client for the loopback server with room for ``connections`` concurrent requests, of which
    ``keepalive`` (all by default) stay open when idle: fewer keeps opening new ones, which the server's workers
    accept in turn, so traffic reaches every worker however the first connections were spread."""
    kept = connections if keepalive is None else keepalive
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=kept)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout)


def json_error(response: httpx.Response) -> str | None:
    """The ``error`` member of a JSON error body, ``None`` when the body is not one."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        body: Any = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None
