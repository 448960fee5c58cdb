"""Builders for the records the store tests put and read back.

Credentials are minted with :mod:`asgi_oauth.crypto` exactly as the server mints them, so the Redis
tests can look for the raw values in a dump of the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .. import crypto
from ..models import AccessToken, AuthorizationCode, Client, Outcome, TokenFamily
from ..store.base import Store

CLIENT_ID = "app"


def at(seconds: float) -> float:
    """Epoch seconds ``seconds`` from now, at the millisecond precision the stores promise to keep."""
    return round(time.time() + seconds, 3)


@dataclass(frozen=True)
class Grant:
    """One authorization: a code, and the first access and refresh tokens issued from it."""

    family_id: str
    code: str
    access: str
    refresh: str

    @classmethod
    def mint(cls) -> Grant:
        family_id, code = crypto.new_token()
        _, access = crypto.new_token(family_id)
        _, refresh = crypto.new_token(family_id)
        return cls(family_id=family_id, code=code, access=access, refresh=refresh)

    @property
    def code_digest(self) -> str:
        return crypto.digest(self.code, "code")

    @property
    def access_digest(self) -> str:
        return crypto.digest(self.access, "access")

    @property
    def refresh_digest(self) -> str:
        return crypto.digest(self.refresh, "refresh")

    def next_access(self) -> tuple[str, str]:
        """Another access token of this family: ``(token, digest)``."""
        _, token = crypto.new_token(self.family_id)
        return token, crypto.digest(token, "access")

    def next_refresh(self) -> tuple[str, str]:
        """Another refresh token of this family: ``(token, digest)``."""
        _, token = crypto.new_token(self.family_id)
        return token, crypto.digest(token, "refresh")


def code_record(*, lifetime: float = 60.0, **overrides: Any) -> AuthorizationCode:
    fields: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "redirect_uri": "https://app.example/cb",
        "redirect_uri_sent": True,
        "scope": "read write",
        "sub": "alice",
        "exp": at(lifetime),
        "code_challenge": "E9Melhoa2OwvFrEMTJguCEaoeWu1EVrUF7Ex1t7HGIo",
        "code_challenge_method": "S256",
        "username": "Alice",
    }
    fields.update(overrides)
    return AuthorizationCode(**fields)


def access_record(*, lifetime: float = 3600.0, **overrides: Any) -> AccessToken:
    fields: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "scope": "read",
        "sub": "alice",
        "iat": int(time.time()),
        "exp": at(lifetime),
        "username": "Alice",
    }
    fields.update(overrides)
    return AccessToken(**fields)


def family_record(refresh_digest: str, *, lifetime: float = 86400.0, **overrides: Any) -> TokenFamily:
    fields: dict[str, Any] = {
        "refresh_digest": refresh_digest,
        "client_id": CLIENT_ID,
        "scope": "read write",
        "sub": "alice",
        "iat": int(time.time()),
        "exp": at(lifetime),
        "username": "Alice",
    }
    fields.update(overrides)
    return TokenFamily(**fields)


def client_record(client_id: str = CLIENT_ID, **overrides: Any) -> Client:
    fields: dict[str, Any] = {
        "client_id": client_id,
        "name": f"Client {client_id}",
        "secret_hash": crypto.hash_secret(crypto.new_client_secret(), generated=True),
        "redirect_uris": ("https://app.example/cb",),
        "scope": "read write",
        "created_at": 1_700_000_000,
    }
    fields.update(overrides)
    return Client(**fields)


async def redeem(
    store: Store,
    grant: Grant,
    access: AccessToken | None = None,
    family: TokenFamily | None = None,
    *,
    refresh: bool = True,
    access_digest: str | None = None,
) -> Outcome:
    """``redeem_code`` as the authorization_code exchange calls it: spend ``grant``'s code and store its first
    access token and, with ``refresh``, its family (default records unless given). ``access_digest`` names
    another exchange's access token (a replay) instead of ``grant``'s."""
    if refresh and family is None:
        family = family_record(grant.refresh_digest)
    return await store.redeem_code(
        grant.family_id,
        grant.code_digest,
        access_digest if access_digest is not None else grant.access_digest,
        access if access is not None else access_record(),
        family if refresh else None,
        replay_window=60,
    )
