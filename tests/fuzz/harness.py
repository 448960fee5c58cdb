"""The application under fuzz, built the way a host builds it, and the figures the suite reports.

One store (memory or a real Redis, per test) serves two ``OAuthServer`` mounts and a protected API:

* ``/oauth``: the defaults plus the password grant, with the failed-attempt limit off so fuzzing reaches
  the grants instead of hitting 429 after ten misses;
* ``/alt``: every optional feature on (implicit grant, plain PKCE, PKCE optional for confidential
  clients, remembered consent, one allowed resource) and the limit on;
* ``/full``: the feature packages on (OpenID Connect with userinfo and JWKS, the device grant and its
  verification page, dynamic registration, Client ID Metadata Documents served by :class:`Documents`
  from memory, never the network, metrics), the limit off;
* ``/api/...``: routes behind ``BearerTokenMiddleware`` (local validation), query tokens allowed.

Requests go through ``httpx.ASGITransport`` into the real app. The one helper in front of it,
:func:`raw_query`, lets a test put bytes in the query string that httpx refuses to encode (a real
server hands them to the app as they came).
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
from hypothesis import currently_in_test_context, event
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from asgi_oauth import OAuthServer, OIDCSettings, OpenIDConnect, Store, User, register_client
from asgi_oauth.demo import create_demo_app, ensure_demo_client
from asgi_oauth.features import Feature
from asgi_oauth.features.assertions import JWTBearerGrant, PrivateKeyJWT, TrustedIssuer
from asgi_oauth.features.exchange import TokenExchange
from asgi_oauth.middleware import BearerTokenMiddleware, LocalValidator, protect, requires_scopes

from ..assertions.signing import Signer
from ..web.helpers import Registered, basic, register, settings_for, verify_password
from ..web.test_cimd import Documents

BASE_URL = "https://auth.example.test"
CALLBACK = "https://web.test/cb"
CALLBACK_2 = "https://web.test/other?tenant=1"
LOOPBACK = "http://127.0.0.1/native"
LOGIN_URL = "/login"
USER_HEADER = "x-test-user"
#: When the host says the user signed in (seconds since the epoch); OpenID's max_age and prompt=login read it.
AUTH_TIME_HEADER = "x-test-auth-time"
SIGNED_IN = {USER_HEADER: "alice"}
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
RESOURCE = "https://api.test/mcp"
RAW_QUERY_HEADER = b"x-fuzz-raw-query"
RAW_PATH_HEADER = b"x-fuzz-raw-path"
#: httpx refuses longer URLs; longer queries go in raw, as a server would pass them on.
MAX_URL = 60_000

#: mount -> settings overrides (issuer is the mount's URL)
MOUNTS: dict[str, dict[str, Any]] = {
    "/oauth": {"enable_password_grant": True, "rate_limit_failures": 0},
    "/alt": {
        "enable_password_grant": True,
        "enable_implicit_grant": True,
        "allow_plain_pkce": True,
        "require_pkce": False,
        "consent_lifetime": 300,
        "rate_limit_failures": 5,
        "resources": (RESOURCE,),
    },
    "/full": {
        "enable_password_grant": True,
        "rate_limit_failures": 0,
        "enable_oidc": True,
        "oidc_signing_alg": "ES256",
        "jwt_access_token_clients": ("m2m", "rp"),
        "enable_device_authorization": True,
        "enable_dynamic_registration": True,
        "dynamic_registration_rate_limit": 0,
        "dynamic_registration_scopes": ("openid", "read", "write"),
        "enable_client_id_metadata_documents": True,
        "consent_lifetime": 300,
        "metrics": True,
    },
}
#: The mount with OpenID Connect, the device grant, registration and metadata documents on.
FULL = "/full"
FORM_ENDPOINTS = ("token", "introspect", "revoke")
#: Listed and made-up methods the tests send (httpx upper-cases whatever it is given).
METHODS = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "OPTIONS",
    "TRACE",
    "PROPFIND",
    "CONNECT",
    "FOO",
    "M-SEARCH",
]

#: Figures for the terminal summary: examples Hypothesis ran and requests sent, per test id.
EXAMPLES: Counter[str] = Counter()
REQUESTS: Counter[str] = Counter()


def fuzz_clients() -> list[Registered]:
    return [
        register("m2m", grant_types=["client_credentials"], scope="read write admin:users /accounts.read"),
        register(
            "m2m-post",
            grant_types=["client_credentials"],
            scope="read write",
            token_endpoint_auth_method="client_secret_post",
        ),
        register("app", grant_types=["password", "refresh_token"], scope="read write email"),
        register(
            "public",
            public=True,
            grant_types=["authorization_code", "password", "refresh_token"],
            redirect_uris=[CALLBACK, LOOPBACK],
            scope="read write",
        ),
        register(
            "web",
            grant_types=["authorization_code", "refresh_token"],
            redirect_uris=[CALLBACK, CALLBACK_2],
            scope="read write",
        ),
        register("both", grant_types=["authorization_code", "implicit"], redirect_uris=[CALLBACK], scope="read"),
        register("first", first_party=True, grant_types=["authorization_code"], redirect_uris=[CALLBACK], scope="read"),
        register("rs", grant_types=[], introspect_any=True),
        register(
            "rp",
            grant_types=["authorization_code", "refresh_token"],
            redirect_uris=[CALLBACK],
            scope="openid profile email offline_access read",
        ),
        register("tv", public=True, grant_types=[DEVICE_GRANT, "refresh_token"], scope="read write"),
    ]


async def resolve_user(request: Request) -> User | None:
    """The host's sign-in: a header names the user (any bytes, decoded as Latin-1 like every header), another
    says when they signed in (ignored unless it is a number)."""
    name = request.headers.get(USER_HEADER)
    if not name:
        return None
    try:
        auth_time = float(request.headers.get(AUTH_TIME_HEADER, "nan"))
    except ValueError:
        auth_time = math.nan
    return User(f"u-{name}", name, auth_time=auth_time if math.isfinite(auth_time) else None)


async def user_claims(sub: str, scopes: frozenset[str]) -> dict[str, Any]:
    """More claims than any scope releases, one of them carrying the user's (hostile) name."""
    return {"name": sub, "email": f"{sub}@example.test", "email_verified": True, "unreleased": "x"}


async def me(request: Request) -> JSONResponse:
    token = request.state.token
    return JSONResponse({"sub": token.sub, "client_id": token.client_id, "scopes": sorted(request.state.scopes)})


@requires_scopes("write")
async def scoped(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def raw_query(app: ASGIApp) -> ASGIApp:
    """Replace the query string with the hex-encoded bytes of ``x-fuzz-raw-query``, and the path with the
    hex-encoded UTF-8 of ``x-fuzz-raw-path``, when those headers are sent."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == RAW_QUERY_HEADER:
                    scope = {**scope, "query_string": bytes.fromhex(value.decode("ascii"))}
                elif name == RAW_PATH_HEADER:
                    # As a server passes it on: percent-decoded text, and the bytes as they came.
                    path = bytes.fromhex(value.decode("ascii")).decode("utf-8")
                    scope = {**scope, "path": path, "raw_path": quote(path, safe="/").encode("ascii")}
        await app(scope, receive, send)

    return wrapped


def fuzz_server(store: Store, documents: Documents, issuer: str, overrides: dict[str, Any]) -> OAuthServer:
    """The server of one mount: ``overrides`` hold the core's settings and OpenID Connect's section's."""
    core = {name: value for name, value in overrides.items() if name not in OIDCSettings.model_fields}
    section = {name: value for name, value in overrides.items() if name in OIDCSettings.model_fields}
    features: list[Feature] = []
    if core.get("enable_oidc"):  # the full mount: every feature, the JWT assertion ones fetching keys offline
        trusted = TrustedIssuer(issuer="https://idp.fuzz.test", jwks=IDP.jwks())
        features += [
            OpenIDConnect(OIDCSettings(**section), user_claims=user_claims),
            PrivateKeyJWT(fetcher=documents),
            JWTBearerGrant(issuers=[trusted], fetcher=documents),
            TokenExchange(),
        ]
    return OAuthServer(
        settings_for(issuer=issuer, login_url=LOGIN_URL, **core),
        store=store,
        user_resolver=resolve_user,
        password_verifier=verify_password,
        document_fetcher=documents,
        features=features,
    )


#: The identity provider the full mount trusts for identity assertion grants.
IDP = Signer.new("ES256")


def build_app(store: Store, documents: Documents) -> Starlette:
    mounts = [
        Mount(path, app=fuzz_server(store, documents, BASE_URL + path, overrides)) for path, overrides in MOUNTS.items()
    ]
    bearer = Middleware(
        BearerTokenMiddleware,
        validator=LocalValidator(store),
        rules=[protect("/api/admin", "admin:users"), protect("/api", "read")],
        allow_query_token=True,
    )
    # Every method reaches the endpoints, so what answers is the middleware, not the router's 405.
    routes = [
        *mounts,
        Route("/api/me", me, methods=METHODS),
        Route("/api/admin/me", me, methods=METHODS),
        Route("/open/scoped", scoped, methods=METHODS),
    ]
    return Starlette(routes=routes, middleware=[bearer])


def pkce_pair(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class Fuzz:
    """The app under test, its clients, a few real credentials to mutate, and the figures for this test."""

    http: httpx.AsyncClient
    clients: dict[str, Registered]
    test_id: str
    #: The metadata documents ``/full`` fetches, by URL (a test serves what it likes).
    documents: Documents
    #: What ``http`` sends through: the app itself.
    transport: httpx.AsyncBaseTransport
    #: The store every mount shares, to read back what a request registered.
    store: Store
    #: name -> a real token or code issued at set-up (some get used up by the fuzzing, which is fine)
    live: dict[str, str] = field(default_factory=dict)

    def example(self) -> None:
        EXAMPLES[self.test_id] += 1

    def secret(self, client_id: str) -> str:
        return self.clients[client_id].secret or ""

    def basic(self, client_id: str) -> str:
        return basic(client_id, self.secret(client_id))

    def authenticate(self, client_id: str, form: dict[str, str]) -> list[tuple[bytes, bytes]]:
        return authenticate(self.clients[client_id], form)

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes | None = None,
        params: list[tuple[str, str]] | None = None,
        query: bytes | None = None,
        raw_path: str | None = None,
    ) -> httpx.Response:
        """One request exactly as given: headers are raw (duplicates kept), ``query`` is raw bytes, ``raw_path``
        any text (it replaces ``path`` once the request reaches the app)."""
        REQUESTS[self.test_id] += 1
        all_headers = list(headers or [])
        if raw_path is not None:
            all_headers.append((RAW_PATH_HEADER, raw_path.encode("utf-8").hex().encode()))
        if params is not None and len(encoded := urlencode(params)) > MAX_URL:
            params, query = None, encoded.encode("ascii")
        if query is not None:
            all_headers.append((RAW_QUERY_HEADER, query.hex().encode()))
        url = httpx.URL(BASE_URL + path, params=params) if params is not None else httpx.URL(BASE_URL + path)
        request = httpx.Request(method, url, headers=all_headers, content=body)
        # Straight to the app, not through the client, which refuses to read a Location longer than 64 KiB
        # (a megabyte ``state`` is sent back to the client in it, as RFC 6749 section 4.1.2 says).
        response = await self.transport.handle_async_request(request)
        await response.aread()
        if currently_in_test_context():  # shown by ``pytest --hypothesis-show-statistics``: the answers reached
            event(f"{path.rsplit('/', 1)[-1]} {response.status_code}")
        return response

    async def issue_live_credentials(self) -> None:
        """Real tokens and codes, so the fuzzing can send them, spend them and mutate them."""
        form = {"content-type": "application/x-www-form-urlencoded"}
        m2m = await self.http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={**form, "authorization": self.basic("m2m")},
        )
        self.live["m2m_access"] = m2m.json()["access_token"]
        app = await self.password_tokens()
        self.live["app_access"] = app["access_token"]
        self.live["app_refresh"] = app["refresh_token"]
        verifier = "v" * 43
        self.live["verifier"] = verifier
        self.live["code"] = await self.code("web", verifier)
        openid = await self.openid_tokens()
        self.live["openid_access"] = openid["access_token"]
        self.live["id_token"] = openid["id_token"]
        device = await self.device_authorization()
        self.live["device_code"] = device["device_code"]
        self.live["user_code"] = device["user_code"]

    async def openid_tokens(self) -> dict[str, Any]:
        """An OpenID sign-in of ``rp`` at ``/full``: an access token granted ``openid`` and an ID token."""
        extra = {"scope": "openid profile email", "nonce": "n-0"}
        code = await self.code("rp", self.live["verifier"], FULL, extra)
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
        form["code_verifier"] = self.live["verifier"]
        response = await self.http.post(f"{FULL}/token", data=form, headers={"authorization": self.basic("rp")})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def device_authorization(self) -> dict[str, Any]:
        response = await self.http.post(f"{FULL}/device_authorization", data={"client_id": "tv", "scope": "read"})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def password_tokens(self) -> dict[str, Any]:
        response = await self.http.post(
            "/oauth/token",
            data={"grant_type": "password", "username": "alice", "password": "wonderland"},
            headers={"authorization": self.basic("app")},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def refresh_token(self) -> str:
        token: str = (await self.password_tokens())["refresh_token"]
        return token

    async def code(
        self, client_id: str, verifier: str, mount: str = "/oauth", extra: dict[str, str] | None = None
    ) -> str:
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "code_challenge": pkce_pair(verifier),
            "code_challenge_method": "S256",
            **(extra or {}),
        }
        page = await self.http.get(f"{mount}/authorize", params=query, headers=SIGNED_IN)
        assert page.status_code == 200, page.text
        fields = consent_fields(page.text)
        done = await self.http.post(f"{mount}/authorize", data={**fields, "decision": "allow"}, headers=SIGNED_IN)
        assert done.status_code == 303, done.text
        return dict(parse_qsl(urlsplit(done.headers["location"]).query))["code"]


def authenticate(registered: Registered, form: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers (and body fields, into ``form``) that authenticate a client the way it registered."""
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    if registered.client.token_endpoint_auth_method == "client_secret_basic":
        headers.append((b"authorization", basic(registered.client_id, registered.secret or "").encode()))
    else:
        form["client_id"] = registered.client_id
        if registered.secret is not None:
            form["client_secret"] = registered.secret
    return headers


def consent_fields(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page)}


async def make_fuzz(store: Store, test_id: str) -> tuple[Fuzz, httpx.AsyncClient]:
    clients = fuzz_clients()
    for client in clients:
        await register_client(store, client.client)
    documents = Documents()
    app = build_app(store, documents)
    transport = httpx.ASGITransport(app=raw_query(app))
    http = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
    fuzz = Fuzz(http, {c.client_id: c for c in clients}, test_id, documents, transport, store)
    await fuzz.issue_live_credentials()
    return fuzz, http


#: The demo's users: one, whose password the tests know.
DEMO_USERS = {"alice": "wonderland"}


async def make_demo(store: Store, test_id: str) -> tuple[Fuzz, httpx.AsyncClient]:
    """The demo app on ``store``, with OpenID Connect and the device grant on and its client registered."""
    settings = settings_for(issuer=f"{BASE_URL}/oauth", enable_oidc=True, enable_device_authorization=True)
    await ensure_demo_client(store, settings)
    transport = httpx.ASGITransport(app=raw_query(create_demo_app(settings, store, users=DEMO_USERS)))
    http = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
    return Fuzz(http, {}, test_id, Documents(), transport, store), http
