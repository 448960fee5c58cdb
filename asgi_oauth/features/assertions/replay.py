"""Each assertion is accepted once: its ``jti`` is claimed in the store until the assertion expires.

Claimed only after the signature holds, so nobody but the signer can use up a ``jti``. The store's
:meth:`~asgi_oauth.store.base.ConsentStore.claim_once` is one ``SET NX`` with that expiry on Redis (a Cluster
included: the key has a slot of its own) and atomic in memory, so of two workers given the same assertion at
once exactly one accepts it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ...store.base import ConsentStore


async def first_use(store: ConsentStore, kind: str, claims: Mapping[str, Any], *, leeway: float) -> bool:
    """Whether this is the first time the verified ``claims`` (``iss``, ``jti``, ``exp``) are presented as ``kind``."""
    jti = f"{claims['iss']}\x00{claims['jti']}"
    name = f"{kind}:" + hashlib.sha256(jti.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return await store.claim_once(name, expires_at=float(claims["exp"]) + leeway)
