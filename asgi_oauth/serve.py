"""What ``asgi-oauth serve`` does: check the settings and the store, register the demo client, print
where to go, and run the demo app under uvicorn (one process, or workers that share Redis)."""

from __future__ import annotations

import asyncio
import copy
import errno
import logging
import os
import re
import shlex
import shutil
import socket
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import uvicorn

from .crypto import pkce_challenge
from .demo import (
    APP_FACTORY,
    DEMO_CLIENT_ID,
    DEMO_USERS_ENV,
    MOUNT_PATH,
    WELL_KNOWN,
    authorize_url,
    banner_flow,
    client_credentials_curl,
    create_demo_app,
    default_issuer,
    demo_users_from_env,
    device_curls,
    ensure_demo_client,
    redact_url,
    site_url,
)
from .environment import unknown_variable_warning, unknown_variables
from .extras import check_settings
from .features.device import DEVICE_CODE_GRANT
from .models import Client
from .settings import (
    ENV_PREFIX,
    EPHEMERAL_KEY_WARNING,
    OAuthSettings,
    load_settings,
)
from .store import MemoryStore, Store, StoreUnavailable, store_from_settings

#: The console script's name.
PROG = "asgi-oauth"


class ServeError(Exception):
    """``serve`` cannot start; the message is one line saying what to set or change."""


@dataclass
class ServePlan:
    """Everything checked and prepared; :meth:`run` starts uvicorn, :meth:`banner` says what to open."""

    host: str
    port: int
    workers: int
    settings: OAuthSettings
    users: dict[str, str]
    users_defaulted: bool
    #: The in-process store when no Redis is configured; ``None`` with Redis.
    memory_store: MemoryStore | None
    #: The demo client registered just now, with its secret; ``None`` when the store already had one.
    registered: tuple[Client, str] | None
    #: Every client in the store after start-up, the demo client included.
    clients: list[Client] = field(default_factory=list)
    #: Warnings about ``ASGI_OAUTH_*`` variables that are not settings (misspellings).
    unknown_variables: list[str] = field(default_factory=list)

    @property
    def callback_url(self) -> str:
        return f"{site_url(self.settings)}/callback"

    def warnings(self) -> list[str]:
        notes = list(self.unknown_variables)
        if self.memory_store is not None:
            notes.append(
                f"MEMORY STORE: clients and tokens live in this process only (single worker) and are lost on exit; "
                f"set {ENV_PREFIX}REDIS_URL to keep them and to run several workers"
            )
        if not self.settings.issuer.endswith(MOUNT_PATH):
            notes.append(
                f"{ENV_PREFIX}ISSUER={self.settings.issuer} does not end with {MOUNT_PATH}, where the demo mounts "
                "the server: metadata and redirects will point to the wrong place"
            )
        if self.settings.ephemeral_key:
            notes.append(EPHEMERAL_KEY_WARNING)
        demo = next((c for c in self.clients if c.client_id == DEMO_CLIENT_ID), None)
        if demo is not None and self.callback_url not in demo.redirect_uris:
            # Registered by an earlier serve on another host or port: /start would end on an error page.
            notes.append(
                f"{DEMO_CLIENT_ID} in the store redirects to {', '.join(demo.redirect_uris) or 'nowhere'}, "
                f"not {self.callback_url}, so /start will fail; to register it for this address, start serve "
                f"again after {self._where_redis_is_set()}: {self.delete_demo_client}"
            )
        return notes

    @property
    def delete_demo_client(self) -> str:
        """The command that deletes the demo client from this store, ready to paste."""
        return cli_command(self.settings, "clients", "delete", DEMO_CLIENT_ID)

    def _where_redis_is_set(self) -> str:
        if _url_password(self.settings):
            return f"this, in a shell where {ENV_PREFIX}REDIS_URL is set (it holds a password, not printed here)"
        return "this"

    def banner(self) -> list[str]:
        settings = self.settings
        site, issuer = site_url(settings), settings.issuer
        state, verifier = banner_flow(settings)
        example = authorize_url(settings, state, pkce_challenge(verifier, "S256"))
        store = (
            "memory (in-process, single worker, lost on exit)"
            if self.memory_store is not None
            else f"redis {redact_url(settings.redis_url or '')} (key prefix {settings.key_prefix!r})"
        )
        if self.users_defaulted:
            users = ", ".join(f"{n} / {p}" for n, p in self.users.items())
            users += f"  (built-in defaults; set {DEMO_USERS_ENV}=name:password,...)"
        else:
            users = ", ".join(self.users) + f"  (from {DEMO_USERS_ENV})"
        lines = [
            "asgi-oauth demo server",
            f"  issuer:   {issuer}",
            f"  store:    {store}",
            f"  workers:  {self.workers}",
            f"  users:    {users}",
            "",
            "Open:",
            f"  home:      {site}/",
            f"  sign in:   {site}/login",
            f"  metadata:  {site}{WELL_KNOWN}{urlsplit(issuer).path}",
            f"             {issuer}{WELL_KNOWN}",
            f"  code flow: {site}/start  (signs in, asks consent, then shows the code at /callback)",
            f"  authorize: {example}",
            f"             (the code_verifier for that URL: {verifier})",
            "",
        ]
        if "device" in settings.named_features:
            lines[-1:-1] = [f"  device:    {issuer}/device  (where users enter a device's code, RFC 8628)"]
        if self.registered is not None:
            client, secret = self.registered
            lines += [
                "Demo client registered (the secret is shown only now and stored hashed):",
                f"  client_id:     {client.client_id}",
                f"  client_secret: {secret}",
                f"  grant types:   {', '.join(client.grant_types)}",
                f"  redirect URI:  {', '.join(client.redirect_uris)}",
                "",
                "Get a token:",
                f"  {client_credentials_curl(issuer, secret)}",
            ]
            if "password" in client.grant_types:
                name = next(iter(self.users))
                # Configured passwords are never echoed; only the built-in demo ones are shown.
                password = self.users[name] if self.users_defaulted else "<password>"
                lines.append(
                    f"  curl -s -u {shlex.quote(client.client_id + ':' + secret)} -d grant_type=password "
                    f"-d {shlex.quote('username=' + name)} -d {shlex.quote('password=' + password)} "
                    f"-d scope=profile {shlex.quote(issuer + '/token')}"
                )
            lines += self._device_lines(secret)
            # Alone on its line, with no note after it: pasted as it stands into any shell, it only sets the secret.
            lines += [
                "",
                "For the curl commands the demo's pages show, run this in the shell where you will paste them:",
                f"  export DEMO_CLIENT_SECRET={shlex.quote(secret)}",
            ]
        else:
            lines += [
                f"Demo client {DEMO_CLIENT_ID} is already in the store. Its secret was printed when it was registered",
                f"and is stored only hashed; to get a new one, start serve again after {self._where_redis_is_set()}:",
                f"  {self.delete_demo_client}",
                "",
                "Get a token (with DEMO_CLIENT_SECRET set to that secret):",
                f"  {client_credentials_curl(issuer, '$DEMO_CLIENT_SECRET')}",
                *self._device_lines("$DEMO_CLIENT_SECRET"),
            ]
        others = [c.client_id for c in self.clients if c.client_id != DEMO_CLIENT_ID]
        if others:
            lines += ["", f"Other clients in the store: {', '.join(others)}"]
        return lines

    def _device_lines(self, secret: str) -> list[str]:
        """The device flow by hand (RFC 8628), when the grant is on and the demo client has it."""
        demo = next((c for c in self.clients if c.client_id == DEMO_CLIENT_ID), None)
        if "device" not in self.settings.named_features or demo is None or DEVICE_CODE_GRANT not in demo.grant_types:
            return []
        start, poll = device_curls(self.settings.issuer, secret)
        return [
            "",
            "Device flow: start one, then open its verification_uri_complete, sign in and allow it:",
            f"  {start}",
            "and poll, with DEVICE_CODE set to its device_code (authorization_pending until you decide):",
            f"  {poll}",
        ]

    def run(self) -> None:
        """Start uvicorn; returns when the server stops."""
        if self.workers == 1:
            # The app object, built here from the settings already checked (and warned about), so nothing is
            # loaded or announced twice; with the memory store it is the very store the demo client is in.
            app = create_demo_app(self.settings, self.memory_store, users=self.users)
            uvicorn.run(app, host=self.host, port=self.port, workers=1, log_config=uvicorn_log_config())
        else:
            # An import string: every worker builds its own app and Redis pool from the environment.
            uvicorn.run(
                APP_FACTORY,
                factory=True,
                host=self.host,
                port=self.port,
                workers=self.workers,
                log_config=uvicorn_log_config(),
            )


#: Query parameters whose values are credentials. uvicorn's access log prints each request target, and
#: the demo's own /callback receives the authorization code in its query (RFC 6749 section 4.1.2).
_CREDENTIAL_PARAMS = re.compile(
    r"(?<=[?&])(code|code_verifier|access_token|refresh_token|token|client_secret|password)=[^&\s]*"
)


class RedactCredentials(logging.Filter):
    """Blank credential values in the request targets of uvicorn's access log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _CREDENTIAL_PARAMS.sub(r"\1=[redacted]", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default logging, with :class:`RedactCredentials` on the access log (tokens are never logged)."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_credentials"] = {"()": f"{__name__}.RedactCredentials"}
    config["loggers"]["uvicorn.access"]["filters"] = ["redact_credentials"]
    # The demo's events (asgi_oauth.events.json_lines): one JSON object per line on stdout, nothing added.
    config["formatters"]["event_lines"] = {"format": "%(message)s"}
    config["handlers"]["event_lines"] = {
        "formatter": "event_lines",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stdout",
    }
    config["loggers"]["asgi_oauth.events"] = {"handlers": ["event_lines"], "level": "INFO", "propagate": False}
    return config


def program() -> str:
    """This command as it was started, for the commands it prints: the path typed (``.venv/bin/asgi-oauth``),
    ``asgi-oauth`` alone when that is what PATH finds, or ``python -m asgi_oauth.cli``."""
    started = sys.argv[0]
    if os.path.basename(started) != PROG:
        return f"{shlex.quote(sys.executable)} -m asgi_oauth.cli"
    found = shutil.which(PROG)
    if found is not None and os.path.exists(started) and os.path.samefile(found, started):
        return PROG
    return shlex.quote(started)


def _url_password(settings: OAuthSettings) -> bool:
    return bool(settings.redis_url) and urlsplit(settings.redis_url or "").password is not None


def cli_command(settings: OAuthSettings, *args: str) -> str:
    """``asgi-oauth *args`` on the store of ``settings`` (Redis URL and key prefix set in front), ready to paste.

    A Redis URL holding a password is left out: the command then needs a shell where it is set.
    """
    env = []
    if settings.redis_url and not _url_password(settings):
        env.append(f"{ENV_PREFIX}REDIS_URL={shlex.quote(settings.redis_url)}")
    if settings.key_prefix != OAuthSettings.model_fields["key_prefix"].default:
        env.append(f"{ENV_PREFIX}KEY_PREFIX={shlex.quote(settings.key_prefix)}")
    return " ".join([*env, program(), *map(shlex.quote, args)])


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise ServeError(f"cannot listen on {host}:{port}: {reason}; choose another --host or --port") from None


async def _register_demo(store: Store, settings: OAuthSettings) -> tuple[tuple[Client, str] | None, list[Client]]:
    registered = await ensure_demo_client(store, settings)
    return registered, await store.list_clients()


async def _prepare_redis(settings: OAuthSettings) -> tuple[tuple[Client, str] | None, list[Client]]:
    store = store_from_settings(settings)
    try:
        await store.ping()
        return await _register_demo(store, settings)
    finally:
        await store.aclose()


def prepare_serve(host: str, port: int, workers: int, environ: MutableMapping[str, str] = os.environ) -> ServePlan:
    """Validate settings and options, reach the store, register the demo client; raise ServeError, SettingsError
    or MissingExtra.

    Without ``ASGI_OAUTH_ISSUER`` the issuer becomes ``http://{host}:{port}/oauth``; it is written back
    to ``environ`` so that uvicorn's worker processes, which read settings from there, agree.
    """
    environ.setdefault(f"{ENV_PREFIX}ISSUER", default_issuer(host, port))
    unknown = unknown_variables(environ)
    settings = load_settings()
    check_settings(settings)  # a missing extra stops serve here: before the banner, before any secret
    users, defaulted = demo_users_from_env(environ)
    if workers > 1:
        missing = []
        if not settings.redis_url:
            missing.append(f"{ENV_PREFIX}REDIS_URL (the memory store cannot be shared between processes)")
        if settings.ephemeral_key:
            missing.append(f"{ENV_PREFIX}SECRET_KEY (every worker must sign with the same key)")
        if missing:
            them = "them" if len(missing) > 1 else "it"
            raise ServeError(f"--workers {workers} needs " + " and ".join(missing) + f"; set {them} or use --workers 1")
        # The plan reports them once; each worker loads settings again and would repeat the warning.
        for name in unknown:
            environ.pop(name, None)
    _check_port_free(host, port)
    if settings.redis_url:
        try:
            registered, clients = asyncio.run(_prepare_redis(settings))
        except StoreUnavailable as exc:
            raise ServeError(
                f"cannot reach Redis at {redact_url(settings.redis_url)} ({exc}); start it or fix {ENV_PREFIX}REDIS_URL"
            ) from None
        memory = None
    else:
        memory = MemoryStore()
        registered, clients = asyncio.run(_register_demo(memory, settings))
    notes = [unknown_variable_warning(name) for name in unknown]
    return ServePlan(host, port, workers, settings, users, defaulted, memory, registered, clients, notes)
