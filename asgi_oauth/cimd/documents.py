"""Client ID Metadata Documents (MCP 2025-11-25; draft-ietf-oauth-client-id-metadata-document).

A client that registered nowhere names itself by an https URL: its ``client_id`` is the address of a JSON
document describing it (its name and redirect URIs). The server fetches that document when it first sees the
id, checks it, and treats the client as a public one (PKCE, no secret) with exactly those redirect URIs; or,
where a feature offers a method that proves a client without a secret (``private_key_jwt``, with the keys the
document names), as a confidential client authenticating with it, which may also use ``client_credentials``
(never ``client_secret_jwt``: a public document cannot hold a secret).
Fetching a URL a stranger chose is a server-side request on their behalf, so the fetch is guarded: https only,
no redirects, addresses on loopback and private networks refused, a size and a time cap
(:mod:`asgi_oauth.cimd.fetch` is the default fetcher; tests inject their own). Documents are kept for as long as
their HTTP caching headers allow, within bounds.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from ..clients import ClientError, check_redirect_uri
from ..models import Client
from ..protocol.params import parse_json
from ..store.base import ClientStore
from ..types import AUTH_METHODS, Clock


@dataclass(frozen=True, slots=True)
class Fetched:
    """What the fetcher got: the status, the response headers (lower-case names) and the body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


#: Gets ``url`` (an https URL already checked by :func:`is_document_url`) without following redirects.
Fetcher = Callable[[str], Awaitable[Fetched]]
#: A feature's auth method a document may name: from the document, what the client keeps in its ``extra``
#: (and what it repeats, unused here), or ``ValueError`` (``ClientAuthMethod.registration``).
MethodRegistration = Callable[[Mapping[str, Any]], tuple[Mapping[str, Any], Mapping[str, Any]]]
#: The grants a document's client may use: a public one the browser's, one proved by a feature's method also
#: client_credentials.
_PUBLIC_GRANTS = ("authorization_code", "refresh_token")
_KEYED_GRANTS = ("authorization_code", "refresh_token", "client_credentials")


class DocumentError(Exception):
    """The document cannot be used; the message says why (shown on the authorization error page)."""


_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


def is_document_url(client_id: str) -> bool:
    """Whether ``client_id`` names a metadata document: https, a host that is a name (not an IP literal on a
    private network), a path beyond ``/``, no fragment, no credentials, no dot segments; and a URL at all: no
    control characters or spaces, a port that is a number of 0-65535, a host name DNS can carry (IDNA)."""
    if not client_id.isprintable() or " " in client_id:
        return False
    try:
        parts = urlsplit(client_id)
        parts.port  # noqa: B018 (raises ValueError for a port out of range or not a number)
        (parts.hostname or "").encode("idna")  # UnicodeError (a ValueError): an empty or overlong label
    except ValueError:
        return False
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password or parts.fragment:
        return False
    if parts.path in ("", "/") or any(segment in (".", "..") for segment in parts.path.split("/")):
        return False
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return True
    return address.is_global


def cache_seconds(headers: Mapping[str, str], *, least: float, most: float) -> float:
    """How long to keep a document: its ``Cache-Control`` max-age, ``least`` for no-store/no-cache or none given,
    never longer than ``most`` (so a revoked client cannot live on in the cache for days)."""
    control = headers.get("cache-control", "")
    if _NO_CACHE.search(control):
        return least
    found = _MAX_AGE.search(control)
    if found is None:
        return least
    return max(least, min(most, float(found.group(1))))


def parse(
    client_id: str, fetched: Fetched, *, max_bytes: int, methods: Mapping[str, MethodRegistration] | None = None
) -> Client:
    """The client a fetched document describes; :class:`DocumentError` when it describes none acceptably.
    ``methods``: the switched-on features' auth methods a document may name besides ``none``."""
    if fetched.status != 200:
        raise DocumentError(f"the client's metadata document answered HTTP {fetched.status}")
    if len(fetched.body) > max_bytes:
        raise DocumentError(f"the client's metadata document is larger than {max_bytes} bytes")
    media = fetched.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise DocumentError("the client's metadata document is not JSON")
    try:
        document = parse_json(fetched.body)
    except ValueError:
        raise DocumentError("the client's metadata document is not valid JSON") from None
    if not isinstance(document, dict):
        raise DocumentError("the client's metadata document is not a JSON object")
    if document.get("client_id") != client_id:
        raise DocumentError("the document's client_id is not the URL it was fetched from")
    methods = methods or {}
    method = document.get("token_endpoint_auth_method", "none")
    if not isinstance(method, str):
        raise DocumentError("the document's token_endpoint_auth_method must be a string")
    if method == "client_secret_jwt":
        raise DocumentError(
            "a metadata document cannot hold a secret, so its client cannot use client_secret_jwt; "
            "use private_key_jwt with the keys the document names"
        )
    extra: Mapping[str, Any] = {}
    if method in methods:
        try:
            extra = methods[method](document)[0]
        except ValueError as error:
            raise DocumentError(f"the document's {method} keys cannot be used: {error}") from None
    elif method != "none":
        allowed = " or ".join(["none", *(name for name in methods if name != "client_secret_jwt")])
        raise DocumentError(f"a metadata document's client must use token_endpoint_auth_method {allowed}")
    known = next((m for m in AUTH_METHODS if m == method), None)
    if known is None:
        raise DocumentError(f"token_endpoint_auth_method {method} cannot be used by a metadata document's client")
    public = known == "none"
    grants = _grants(document, _PUBLIC_GRANTS if public else _KEYED_GRANTS)
    redirect_uris = document.get("redirect_uris", [])
    usable = isinstance(redirect_uris, list) and all(_absolute(u) for u in redirect_uris)
    if not usable or ("authorization_code" in grants and not redirect_uris):
        raise DocumentError("the document needs redirect_uris: absolute URIs without fragments")
    name = document.get("client_name")
    scope = document.get("scope", "")
    if not isinstance(scope, str):
        raise DocumentError("the document's scope must be a string")
    return Client(
        client_id=client_id,
        name=name if isinstance(name, str) and name.strip() else urlsplit(client_id).hostname or client_id,
        secret_hash=None,
        redirect_uris=tuple(redirect_uris),
        grant_types=grants,
        scope=scope,
        public=public,
        token_endpoint_auth_method=known,
        extra=extra,
    )


def _grants(document: Mapping[str, Any], allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The document's ``grant_types`` (RFC 7591's default: the code grant, with refresh), within ``allowed``."""
    asked = document.get("grant_types", list(_PUBLIC_GRANTS))
    if not isinstance(asked, list) or not asked or not all(isinstance(g, str) for g in asked):
        raise DocumentError("the document's grant_types must be a non-empty array of strings")
    refused = [g for g in asked if g not in allowed]
    if refused:
        raise DocumentError(f"a metadata document's client may use only {', '.join(allowed)}")
    return tuple(g for g in allowed if g in asked)


def _absolute(uri: object) -> bool:
    """A redirect URI any registered client could have (:func:`~asgi_oauth.clients.check_redirect_uri`)."""
    if not isinstance(uri, str):
        return False
    try:
        check_redirect_uri(uri)
    except ClientError:
        return False
    return True


class MetadataDocuments:
    """Resolves document client ids for :class:`~asgi_oauth.protocol.context.ClientLookup`. A fetched document's
    client is kept in the store, for every worker, as long as :func:`cache_seconds` allows; a document that fails
    is kept as failed by this worker for ``least`` seconds, so a flood of one bad id costs one fetch."""

    _MAX_FAILED = 10_000

    def __init__(
        self,
        fetch: Fetcher,
        store: ClientStore,
        *,
        scopes: tuple[str, ...] = (),
        methods: Mapping[str, MethodRegistration] | None = None,
        max_bytes: int = 5120,
        least: float = 60.0,
        most: float = 86400.0,
        clock: Clock = time.time,
    ) -> None:
        self._fetch = fetch
        self._store = store
        #: The scopes a client nobody registered may be given (``DYNAMIC_REGISTRATION_SCOPES``, as for dynamic
        #: clients): the document's own ``scope`` within them, all of them when it names none.
        self._scopes = scopes
        self._methods = dict(methods or {})
        self._max_bytes = max_bytes
        self._least = least
        self._most = most
        self._clock = clock
        self._failed: dict[str, tuple[DocumentError, float]] = {}

    def _capped(self, client: Client) -> Client:
        asked = client.scope.split() or list(self._scopes)
        return replace(client, scope=" ".join(s for s in dict.fromkeys(asked) if s in self._scopes))

    async def resolve(self, client_id: str) -> Client:
        """The client ``client_id``'s document describes; :class:`DocumentError` when it cannot be had."""
        failed = self._failed.get(client_id)
        if failed is not None and failed[1] > self._clock():
            raise failed[0]
        kept = await self._store.get_document_client(client_id)
        if kept is not None:
            return kept
        try:
            fetched = await self._fetch(client_id)
            client = self._capped(parse(client_id, fetched, max_bytes=self._max_bytes, methods=self._methods))
        except DocumentError as error:
            if len(self._failed) >= self._MAX_FAILED:
                self._failed.clear()
            self._failed[client_id] = (error, self._clock() + self._least)
            raise
        seconds = cache_seconds(fetched.headers, least=self._least, most=self._most)
        await self._store.put_document_client(client, expires_at=self._clock() + seconds)
        return client
