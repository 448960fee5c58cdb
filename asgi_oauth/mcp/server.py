"""One MCP endpoint behind this authorization server: what both frameworks' glue shares.

:class:`MCPAuthorization` builds the server with MCP's defaults and knows the endpoint's resource URI,
its scopes and its tools' scopes. :func:`asgi_oauth.mcp.authorized_app` (the ``mcp`` SDK) and
:class:`asgi_oauth.mcp.fastmcp.AuthorizationServer` (FastMCP) put it in front of their MCP app.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..discovery import discovery_routes
from ..features.dpop import resource_side
from ..middleware import UNAVAILABLE, LocalValidator, ValidationUnavailable
from ..protocol.resources import resource_metadata_url
from ..settings import ENV_PREFIX, OAuthSettings, SettingsError, load_settings
from ..store import Store, store_from_settings
from ..web.app import OAuthServer
from ..web.signin import SignIn

logger = logging.getLogger("asgi_oauth")

NO_SIGN_IN = (
    "an MCP server needs a way for people to sign in: pass sign_in=PasswordSignIn(check_password) for a "
    "sign-in page over your users, HostSignIn(resolver, login_url) for your app's own sign-in, or "
    "OpenIDSignIn(issuer, client_id, client_secret) for the OpenID provider your users already sign in with"
)


class MCPAuthorization:
    """The authorization server for the MCP endpoint ``<url><path>``, mounted at ``<url><mount>``.

    Without ``url``, the issuer (``ASGI_OAUTH_ISSUER``, default ``http://127.0.0.1:8000/oauth``) names it: the
    same code then serves ``https://mcp.example.com/mcp`` with ``ASGI_OAUTH_ISSUER=https://mcp.example.com/oauth``.

    MCP's defaults, each overridable by its ``ASGI_OAUTH_*`` variable or by passing ``settings``: tokens are
    issued only for this endpoint's resource (RFC 8707); Client ID Metadata Documents are accepted (MCP's
    recommended registration); dynamic registration (RFC 7591, deprecated by MCP 2026-07-28) only with
    ``registration=True``; clients that are not registered in advance may ask for ``scopes`` and the
    ``tools``' scopes. ``tools`` maps tool names to the scopes a call needs besides ``scopes`` (step-up).
    Other keywords go to :class:`~asgi_oauth.OAuthServer` (``clients``, ``scope_descriptions``, ...).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        sign_in: SignIn | None = None,
        scopes: Sequence[str] = ("mcp",),
        tools: Mapping[str, Sequence[str]] | None = None,
        registration: bool | None = None,
        path: str = "/mcp",
        mount: str = "/oauth",
        settings: OAuthSettings | None = None,
        store: Store | None = None,
        **server_options: Any,
    ) -> None:
        if sign_in is None:
            raise SettingsError(NO_SIGN_IN)
        if url is None:
            url = _url_from_issuer(settings, mount)
        base = url.rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise SettingsError(f"the MCP server's URL must be like https://mcp.example.com, not {url!r}")
        if not path.startswith("/") or not mount.startswith("/") or mount == "/":
            raise SettingsError("path and mount must be paths such as /mcp and /oauth")
        self.url = base
        self.path = path
        self.mount = mount
        self.resource = base + path
        self.scopes = tuple(scopes)
        self.tools = {name: tuple(needed) for name, needed in (tools or {}).items()}
        every = tuple(dict.fromkeys([*self.scopes, *(s for needed in self.tools.values() for s in needed)]))
        #: Every scope this endpoint knows, as its protected resource metadata lists them.
        self.scopes_supported = every
        if settings is None:
            settings = _mcp_settings(base + mount, self.resource, every, registration)
        self.settings = settings
        if self.settings.issuer != base + mount:
            raise SettingsError(f"{ENV_PREFIX}ISSUER: must be {base + mount} for this MCP server")
        self.store = store if store is not None else store_from_settings(self.settings)
        self.oauth = OAuthServer(self.settings, store=self.store, sign_in=sign_in, **server_options)
        self.validator = LocalValidator(self.store)
        self.resource_metadata = resource_metadata_url(self.resource)
        #: What the endpoint accepts of DPoP (RFC 9449): the dpop feature's, when it is switched on, else none.
        self.dpop = resource_side(self.oauth.features)

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    def routes(self) -> list[BaseRoute]:
        """The authorization server's metadata where MCP clients look for it, and the server at the mount."""
        return [*discovery_routes(self.oauth), Mount(self.mount, app=self.oauth)]

    async def aclose(self) -> None:
        await self.oauth.aclose()


def _url_from_issuer(settings: OAuthSettings | None, mount: str) -> str:
    issuer = settings.issuer if settings is not None else os.environ.get(f"{ENV_PREFIX}ISSUER")
    if issuer is None:
        issuer = str(OAuthSettings.model_fields["issuer"].default)
    issuer = issuer.rstrip("/")
    if not issuer.endswith(mount):
        raise SettingsError(f"{ENV_PREFIX}ISSUER: must be the MCP server's URL followed by {mount}, not {issuer!r}")
    return issuer[: -len(mount)]


def _mcp_settings(issuer: str, resource: str, scopes: Iterable[str], registration: bool | None) -> OAuthSettings:
    """Settings with MCP's defaults, each left to its environment variable when that is set."""
    defaults: dict[str, Any] = {
        "enable_client_id_metadata_documents": True,
        "dynamic_registration_scopes": tuple(scopes),
    }
    overrides = {key: value for key, value in defaults.items() if f"{ENV_PREFIX}{key.upper()}" not in os.environ}
    if registration is not None:
        overrides["enable_dynamic_registration"] = registration
    return load_settings(issuer=issuer, resources=(resource,), **overrides)


class Guard:
    """The outermost layer of an authorized MCP app: closes the authorization server when the app's lifespan
    ends (a mounted server gets no lifespan of its own), and answers 503 with a challenge, not a 500, when a
    token could not be checked because the store is unreachable (``Retry-After``; never a 401, which would
    send clients to sign in again)."""

    def __init__(self, app: ASGIApp, authorization: MCPAuthorization) -> None:
        self.app = app
        self.authorization = authorization
        self.unavailable = UNAVAILABLE.response(authorization.settings.realm, authorization.resource_metadata)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing(send))
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except ValidationUnavailable as exc:
            logger.warning("MCP request answered 503: token validation is unavailable: %s", exc)
            if started or scope["type"] != "http":
                return
            await self.unavailable(scope, receive, send)

    def _closing(self, send: Send) -> Send:
        async def closing(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.authorization.aclose()
            await send(message)

        return closing
