"""The server's endpoints as a registry: routing, metadata and the OpenAPI document all come from one list.

An :class:`EndpointSpec` is one path: how it is served, the RFC 8414 keys it adds (its URL and, say, its
client authentication methods) and its OpenAPI path item. ``OAuthServer(endpoints=[*DEFAULT_ENDPOINTS, mine])``
adds one.

Back-channel endpoints (token, introspection, revocation, a feature's RFC 7591 registration) are plain
async functions from an :class:`EndpointRequest` to an :class:`EndpointResponse`. The server checks the
method, reads the body (a form, or JSON), renders OAuth errors and a lost store, and sends the answer, all
in raw ASGI: these run thousands of times a second. Browser-facing endpoints (``/authorize``) and the
server's documents give an ASGI app instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from starlette.routing import request_response
from starlette.types import ASGIApp

from ..compact_json import string as json_string
from ..frozen import slot_init
from ..protocol import metadata as rfc8414
from ..protocol.grants import TokenResponse, always, token
from ..protocol.introspect import introspect
from ..protocol.params import Incoming
from ..protocol.revoke import revoke
from ..registry import switched_on
from ..settings import OAuthSettings
from . import openapi
from .http import Document, EncodedJSON, encode_json

if TYPE_CHECKING:
    from .app import OAuthServer


@slot_init
@dataclass(frozen=True, slots=True)
class EndpointRequest(Incoming):
    """A back-channel request: the form ``params`` (empty for a JSON endpoint), the ``Authorization`` header,
    the sender's address, the parsed ``json`` body of a JSON endpoint, and the raw ASGI headers.

    It is an :class:`~asgi_oauth.protocol.params.Incoming`, so protocol steps such as client authentication
    take it as it is.
    """

    json: Any = None
    headers: Sequence[tuple[bytes, bytes]] = ()

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), as latin-1 text."""
        key = name.lower().encode("latin-1")
        for raw_name, value in self.headers:
            if raw_name == key:
                decoded: str = value.decode("latin-1")
                return decoded
        return None


@slot_init
@dataclass(frozen=True, slots=True)
class EndpointResponse:
    """What a back-channel endpoint answers: a JSON ``body`` (``None``: empty) with ``status`` and ``headers``."""

    status: int = 200
    body: Any = None
    #: ``None`` means ``Cache-Control: no-store`` and ``Pragma: no-cache`` (RFC 6749 section 5.1).
    headers: Mapping[str, str] | None = None


#: A back-channel endpoint: gets the server (its ``context``, ``grants``, ``settings``) and the request.
Handler = Callable[["OAuthServer", EndpointRequest], Awaitable[EndpointResponse]]
#: A check before the body is read; it refuses by raising (an ``OAuthError``).
Admission = Callable[["OAuthServer", EndpointRequest], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """One path of the server, relative to where it is mounted; give ``handler`` or ``app``, not both."""

    path: str
    #: A back-channel endpoint, served in raw ASGI (see the module docstring).
    handler: Handler | None = None
    #: Or any ASGI app, built once from the server (the browser-facing ``/authorize``, the documents).
    app: Callable[[OAuthServer], ASGIApp] | None = None
    #: Methods a back-channel endpoint accepts; others get 405 with ``Allow``.
    methods: tuple[str, ...] = ("POST",)
    #: Run before a back-channel endpoint reads its body (with no ``params`` or ``json`` yet), to refuse by
    #: raising: for a limit that every request must count, however unreadable its body.
    admit: Admission | None = None
    #: What a back-channel endpoint reads: an ``application/x-www-form-urlencoded`` or an ``application/json`` body.
    body: Literal["form", "json"] = "form"
    #: The RFC 8414 key naming the endpoint's URL (issuer + path), e.g. ``token_endpoint``.
    url_key: str | None = None
    #: More RFC 8414 keys, e.g. ``{"token_endpoint_auth_methods_supported": [...]}``.
    metadata: Callable[[OAuthSettings], Mapping[str, Any]] | None = None
    #: The OpenAPI path item (``{"post": {...}}``), built once the server's metadata is known.
    openapi: Callable[[OAuthServer], Mapping[str, Any]] | None = None
    #: Error codes it answers besides RFC 6749 section 5.2's, for the OpenAPI error schema.
    errors: tuple[str, ...] = ()
    #: Whether these settings switch the endpoint on.
    enabled: Callable[[OAuthSettings], bool] = always
    #: Answer CORS (any origin, no credentials; ``asgi_oauth.cors``) for browser-based clients: preflight
    #: ``OPTIONS`` and ``Access-Control-Allow-Origin: *`` on every answer. Never for cookie-reading endpoints.
    cors: bool = False

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"endpoint path {self.path!r} must start with /")
        if (self.handler is None) == (self.app is None):
            raise ValueError(f"endpoint {self.path} needs either a handler or an app")

    @property
    def url(self) -> Mapping[str, str]:
        """``{url_key: path}``, or nothing when the endpoint has no RFC 8414 key for its URL."""
        return {self.url_key: self.path} if self.url_key else {}


def enabled_endpoints(settings: OAuthSettings, specs: Sequence[EndpointSpec]) -> tuple[EndpointSpec, ...]:
    """The endpoints these settings switch on, in the order given; a path given twice is an error."""
    return tuple(switched_on(settings, specs, lambda spec: spec.path, "endpoint").values())


# -- the built-in endpoints --------------------------------------------------------------------------

_EMPTY = EndpointResponse()


async def token_endpoint(server: OAuthServer, request: EndpointRequest) -> EndpointResponse:
    """RFC 6749 section 3.2: run the grant the client asked for."""
    return EndpointResponse(200, _token_json(await token(server.context, server.grants, request)))


def _token_json(issued: TokenResponse) -> EncodedJSON | dict[str, Any]:
    """The answer without a refresh or ID token from an exact template (the bytes ``encode_json`` would give
    for ``issued.body()``), without building and encoding the dict; others as the dict."""
    if issued.refresh_token is not None or issued.fields or type(issued.expires_in) is not int:
        return issued.body()
    return EncodedJSON(
        f'{{"access_token":{json_string(issued.access_token)},"token_type":"Bearer",'
        f'"expires_in":{issued.expires_in},"scope":{json_string(issued.scope)}}}'.encode()
    )


async def introspection_endpoint(server: OAuthServer, request: EndpointRequest) -> EndpointResponse:
    """RFC 7662."""
    return EndpointResponse(200, _introspection_json(await introspect(server.context, request)))


_INACTIVE = EncodedJSON(b'{"active":false}')
#: The answer for an access token without user or audience (client_credentials), in ``describe``'s order.
_TOKEN_KEYS = ("active", "scope", "client_id", "token_type", "exp", "iat", "iss")


def _introspection_json(body: dict[str, Any]) -> EncodedJSON | dict[str, Any]:
    """The two common answers from exact templates (the bytes ``encode_json`` would give); others as they are."""
    if len(body) == 1 and body.get("active") is False:
        return _INACTIVE
    if tuple(body) == _TOKEN_KEYS and body["active"] is True and type(body["exp"]) is int and type(body["iat"]) is int:
        return EncodedJSON(
            (
                f'{{"active":true,"scope":{json_string(body["scope"])},"client_id":{json_string(body["client_id"])},'
                f'"token_type":{json_string(body["token_type"])},"exp":{body["exp"]},"iat":{body["iat"]},'
                f'"iss":{json_string(body["iss"])}}}'
            ).encode()
        )
    return body


async def revocation_endpoint(server: OAuthServer, request: EndpointRequest) -> EndpointResponse:
    """RFC 7009: 200 with an empty body, whether or not there was anything to revoke."""
    await revoke(server.context, request)
    return _EMPTY


def _authorization_app(server: OAuthServer) -> ASGIApp:
    return request_response(server.authorization)


def _metadata_document(server: OAuthServer) -> ASGIApp:
    return Document(server.metadata_json)


def _openapi_document(server: OAuthServer) -> ASGIApp:
    return Document(encode_json(server.openapi))


#: The core's endpoints; features add theirs with :meth:`Feature.endpoints`.
DEFAULT_ENDPOINTS: tuple[EndpointSpec, ...] = (
    EndpointSpec(
        "/authorize",
        app=_authorization_app,
        methods=("GET", "POST"),
        url_key="authorization_endpoint",
        metadata=rfc8414.authorization_endpoint,
        openapi=openapi.authorization_path,
    ),
    EndpointSpec(
        "/token",
        token_endpoint,
        url_key="token_endpoint",
        metadata=rfc8414.token_endpoint,
        openapi=openapi.token_path,
        cors=True,
    ),
    EndpointSpec(
        "/introspect",
        introspection_endpoint,
        url_key="introspection_endpoint",
        metadata=rfc8414.introspection_endpoint,
        openapi=openapi.introspection_path,
    ),
    EndpointSpec(
        "/revoke",
        revocation_endpoint,
        url_key="revocation_endpoint",
        metadata=rfc8414.revocation_endpoint,
        openapi=openapi.revocation_path,
        cors=True,
    ),
    EndpointSpec(
        "/.well-known/oauth-authorization-server",
        app=_metadata_document,
        methods=("GET", "HEAD"),
        openapi=openapi.metadata_path,
        cors=True,
    ),
    # The same RFC 8414 document where OpenID Connect discovery looks (MCP clients and the conformance
    # suite try it third for an issuer with a path); with OpenID Connect on it carries the OpenID keys too.
    EndpointSpec("/.well-known/openid-configuration", app=_metadata_document, methods=("GET", "HEAD"), cors=True),
    EndpointSpec(
        "/openapi.json", app=_openapi_document, methods=("GET", "HEAD"), openapi=openapi.openapi_path, cors=True
    ),
)
