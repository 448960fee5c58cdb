"""DPoP (RFC 9449) as both sides use it: :mod:`.proof` checks a proof, :mod:`.nonces` makes a server's nonces, and
:mod:`.resource` is what a protected resource accepts (``BearerTokenMiddleware(dpop=...)``). The authorization
server's side, binding tokens at the token endpoint, is the ``dpop`` feature (:mod:`asgi_oauth.features.dpop`).

A record (an access token, a refresh family, a code) bound to a key keeps the key's RFC 7638 thumbprint in its
``extra``: :func:`jkt_of` reads it, :func:`bound_to` writes it. Nothing here imports PyJWT until a proof is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["EXTRA_KEY", "bound_to", "jkt_of"]

#: The key of DPoP's data in records', codes' and clients' ``extra``.
EXTRA_KEY = "dpop"


def jkt_of(extra: Mapping[str, Any]) -> str | None:
    """The thumbprint of the key a record (a token, a code) is bound to, from its ``extra``; ``None``: unbound."""
    kept = extra.get(EXTRA_KEY) if extra else None
    jkt = kept.get("jkt") if type(kept) is dict or isinstance(kept, Mapping) else None  # (dict: no ABC check)
    return jkt if isinstance(jkt, str) else None


def bound_to(jkt: str) -> dict[str, Any]:
    """The ``extra`` of a record bound to the key whose thumbprint is ``jkt``."""
    return {EXTRA_KEY: {"jkt": jkt}}
