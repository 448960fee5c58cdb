"""This authorization server as a FastMCP auth provider: ``FastMCP("name", auth=AuthorizationServer(url, ...))``.

Needs ``pip install 'asgi-oauth[fastmcp]'``. The provider is a FastMCP ``RemoteAuthProvider`` whose
authorization server runs inside the same app: its routes mount the server at ``<url>/oauth`` (with the
sign-in pages and the metadata at every URL MCP clients try) beside FastMCP's protected resource metadata,
and its middleware puts the server's lifespan, the 503 for an unreachable store and the tools' step-up scopes
around FastMCP's own bearer authentication.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastmcp.server.auth import AccessToken, RemoteAuthProvider, TokenVerificationError, TokenVerifier
from pydantic import AnyHttpUrl
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from ..dpop import jkt_of
from ..middleware import ValidationUnavailable
from ..models import scope_set
from ..protocol.resources import same_resource
from ..web.signin import SignIn
from .adapter import ToolScopes
from .server import Guard, MCPAuthorization

__all__ = ["AuthorizationServer", "StoreUnavailable"]


class StoreUnavailable(ValidationUnavailable, TokenVerificationError):
    """The token could not be checked: this server's 503, and FastMCP's "verification unavailable"."""


class _Verifier(TokenVerifier):
    """FastMCP's token verifier over this server's store: only live tokens issued for this MCP resource."""

    def __init__(self, authorization: MCPAuthorization) -> None:
        super().__init__(base_url=authorization.url, required_scopes=list(authorization.scopes))
        self._authorization = authorization

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            found = await self._authorization.validator.validate(token)
        except ValidationUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        # RFC 8707: a token for another resource, or for none, must not open this one.
        if found is None or found.resource is None or not same_resource(found.resource, self._authorization.resource):
            return None
        if jkt_of(found.extra) is not None:  # FastMCP checks no DPoP proof: a token bound to a key is refused
            return None
        claims: dict[str, Any] = {"client_id": found.client_id, "iss": self._authorization.issuer}
        if found.sub is not None:
            claims["sub"] = found.sub
        return AccessToken(
            token=token,
            client_id=found.client_id,
            scopes=sorted(scope_set(found.scope)),
            expires_at=int(found.exp),
            resource=found.resource,
            subject=found.sub,
            claims=claims,
        )


class AuthorizationServer(RemoteAuthProvider):
    """A FastMCP auth provider that *is* the authorization server, for the MCP endpoint at ``<url>/mcp``.

    Takes :class:`~asgi_oauth.mcp.MCPAuthorization`'s arguments: ``sign_in`` (required), ``scopes`` every
    call needs (default ``mcp``), ``tools`` (tool name to the extra scopes its calls need: a token without
    them gets a 403 ``insufficient_scope`` naming them, and the client steps up), ``registration`` (RFC 7591,
    off unless asked for), and the server's own options. Serve it stateless on several workers:
    ``mcp.http_app(stateless_http=True)``.
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
        **options: Any,
    ) -> None:
        #: The authorization server and the endpoint's resource settings.
        self.authorization = MCPAuthorization(
            url, sign_in=sign_in, scopes=scopes, tools=tools, registration=registration, path=path, **options
        )
        super().__init__(
            token_verifier=_Verifier(self.authorization),
            authorization_servers=[AnyHttpUrl(self.authorization.issuer)],
            base_url=self.authorization.url,
            scopes_supported=list(self.authorization.scopes_supported),
        )

    def set_mcp_path(self, mcp_path: str | None) -> None:
        if mcp_path is not None and mcp_path.rstrip("/") != self.authorization.path.rstrip("/"):
            raise ValueError(
                f"the MCP endpoint is served at {mcp_path!r}, but tokens are issued for {self.authorization.resource}: "
                f"pass path={mcp_path!r} to AuthorizationServer"
            )
        super().set_mcp_path(mcp_path)

    def get_routes(self, mcp_path: str | None = None) -> list[Route]:
        routes: list[BaseRoute] = [*super().get_routes(mcp_path), *self.authorization.routes()]
        return routes  # type: ignore[return-value]  # FastMCP adds any Starlette route; the mount is one

    def get_middleware(self) -> list[Any]:
        authorization = self.authorization
        steps = Middleware(
            ToolScopes,
            validator=authorization.validator,
            required=authorization.tools,
            base=authorization.scopes,
            resource_metadata=authorization.resource_metadata,
            path=authorization.path,
        )
        return [Middleware(Guard, authorization=authorization), *super().get_middleware(), steps]
