"""Client registration rules (RFC 6749 section 2) shared by the CLI, the API and clients declared in code."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from . import crypto
from .models import Client
from .store.base import Store
from .types import AUTH_METHODS, GRANT_TYPES, AuthMethod

# RFC 6749 appendix A.1: client_id is VSCHAR (printable ASCII); we also forbid spaces and colons so ids
# read well in logs, Basic auth and storage keys.
_CLIENT_ID = re.compile(r"[\x21-\x39\x3b-\x7e]{1,128}")
# RFC 6749 section 3.3 scope-token: %x21 / %x23-5B / %x5D-7E
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


class ClientError(ValueError):
    """A client registration was refused; the message says which field and why."""


def valid_scope_token(token: str) -> bool:
    return _SCOPE_TOKEN.fullmatch(token) is not None


def check_redirect_uri(uri: str) -> str:
    """RFC 6749 section 3.1.2: absolute, no fragment. Custom schemes (native apps) need no host."""
    try:
        parts = urlsplit(uri)
        if parts.scheme == "http" and parts.netloc.endswith(":*"):
            # A loopback URI's "any port" (RFC 8252 section 7.3), as FastMCP spells it: checked without it.
            parts = parts._replace(netloc=parts.netloc[:-2])
        parts.port  # noqa: B018 (raises ValueError for a port out of range or not a number)
    except ValueError:  # e.g. an unclosed IPv6 literal: "http://[::1/cb", or "https://app.example:99999/cb"
        raise ClientError(f"redirect URI {uri!r} is not a valid URI") from None
    if not parts.scheme or not (parts.netloc or parts.scheme not in ("http", "https")):
        raise ClientError(f"redirect URI {uri!r} is not an absolute URI")
    if "#" in uri:
        raise ClientError(f"redirect URI {uri!r} must not contain a fragment")
    if any(c.isspace() for c in uri):
        raise ClientError(f"redirect URI {uri!r} must not contain whitespace")
    return uri


def new_client(
    *,
    name: str,
    client_id: str | None = None,
    public: bool = False,
    first_party: bool = False,
    grant_types: Iterable[str] = ("authorization_code", "refresh_token"),
    redirect_uris: Iterable[str] = (),
    scope: str = "",
    token_endpoint_auth_method: str | None = None,
    introspect_any: bool = False,
    client_secret: str | None = None,
    extension_grants: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
    secret_key: Sequence[SecretStr] = (),
) -> tuple[Client, str | None]:
    """Validate and build a client; returns it with its plain secret (``None`` for public clients).

    Without ``client_secret`` a confidential client gets a generated 256-bit secret, stored as SHA-256.
    A given secret may have been chosen by a person, so it is stored with scrypt instead.

    ``grant_types`` may name the built-in grants and ``extension_grants``: the names of the extra grants
    the server was given (``[spec.name for spec in my_grants]``). Any other name is refused, so a typo
    fails here rather than as ``unauthorized_client`` at the token endpoint.

    A ``private_key_jwt`` client has no secret: its keys go in ``extra``
    (:func:`asgi_oauth.features.assertions.registered_keys`). A ``client_secret_jwt`` client's secret is derived
    from ``secret_key`` (the server's ``OAuthSettings.secret_key``) and a salt kept in ``extra``, never stored.
    """
    client_id = client_id if client_id is not None else crypto.new_client_id()
    if not _CLIENT_ID.fullmatch(client_id):
        raise ClientError(f"client id {client_id!r} must be 1-128 printable ASCII characters without spaces or colons")
    if not name.strip():
        raise ClientError("name must not be empty")
    grants = tuple(dict.fromkeys(grant_types))
    known = tuple(dict.fromkeys((*GRANT_TYPES, *extension_grants)))
    for grant in grants:
        if grant not in known:
            raise ClientError(f"unknown grant type {grant!r}; choose from {', '.join(known)}")
    uris = tuple(check_redirect_uri(u) for u in dict.fromkeys(redirect_uris))
    if {"authorization_code", "implicit"} & set(grants) and not uris:
        raise ClientError("the authorization_code and implicit grants need at least one redirect URI")
    scopes = scope.split()
    for token in scopes:
        if not valid_scope_token(token):
            raise ClientError(f"scope {token!r} has characters not allowed by RFC 6749 section 3.3")
    method = token_endpoint_auth_method or ("none" if public else "client_secret_basic")
    if method not in AUTH_METHODS:
        raise ClientError(f"unknown token endpoint auth method {method!r}; choose from {', '.join(AUTH_METHODS)}")
    if public != (method == "none"):
        raise ClientError("public clients use auth method 'none'; confidential clients need a secret method")
    if public and ("client_credentials" in grants or client_secret is not None):
        raise ClientError("public clients have no secret, so they cannot use client_credentials")
    keyed = method == "private_key_jwt"
    if keyed and client_secret is not None:
        raise ClientError("a private_key_jwt client authenticates with its keys, not a secret")
    secret: str | None = None
    secret_hash: str | None = None
    extra = dict(extra or {})
    if method == "client_secret_jwt":
        if client_secret is not None:
            raise ClientError("a client_secret_jwt client's secret is derived by the server; it cannot be given")
        salted, secret = _derived_secret(secret_key, client_id)
        extra.update(salted)
    elif not public and not keyed:
        secret = client_secret if client_secret is not None else crypto.new_client_secret()
        secret_hash = crypto.hash_secret(secret, generated=client_secret is None)
    client = Client(
        client_id=client_id,
        name=name.strip(),
        secret_hash=secret_hash,
        redirect_uris=uris,
        grant_types=tuple(g for g in known if g in grants),
        scope=" ".join(dict.fromkeys(scopes)),
        public=public,
        first_party=first_party,
        token_endpoint_auth_method=_auth_method(method),
        introspect_any=introspect_any,
        created_at=int(time.time()),
        extra=extra,
    )
    return client, secret


def _derived_secret(secret_key: Sequence[SecretStr], client_id: str) -> tuple[dict[str, Any], str]:
    from .features.assertions.names import salted_secret  # imported late: the feature's names import this module

    try:
        return salted_secret(secret_key, client_id)
    except ValueError as error:
        raise ClientError(str(error)) from None


def _auth_method(method: str) -> AuthMethod:
    for known in AUTH_METHODS:
        if known == method:
            return known
    raise ClientError(f"unknown token endpoint auth method {method!r}")


class ClientExists(ClientError):
    pass


async def register_client(store: Store, client: Client) -> Client:
    """Keep ``client`` in ``store``; :class:`ClientExists` (a :class:`ClientError`) if its id is taken."""
    if not await store.create_client(client):
        raise ClientExists(f"client id {client.client_id!r} already exists")
    return client


def declared_clients(clients: Iterable[Client]) -> Mapping[str, Client]:
    """Index clients kept in application configuration; these take precedence over the store."""
    index: dict[str, Client] = {}
    for client in clients:
        if client.client_id in index:
            raise ClientError(f"client id {client.client_id!r} is declared twice")
        index[client.client_id] = client
    return index
