"""CSRF tokens for the consent form: signed, expiring, single use, bound to user, client and request."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence

from itsdangerous import BadData, URLSafeTimedSerializer

from ..models import User
from ..protocol.authorize import AuthorizationRequest
from ..store.base import Store
from ..types import Clock


class ConsentTokens:
    def __init__(self, keys: Sequence[str], lifetime: float, store: Store, clock: Clock) -> None:
        # itsdangerous signs with the last key and verifies with any; settings list the newest first.
        self._serializer = URLSafeTimedSerializer(list(reversed(keys)), salt="asgi_oauth.consent")
        self._lifetime = lifetime
        self._store = store
        self._clock = clock

    def issue(self, user: User, request: AuthorizationRequest) -> str:
        payload = [user.sub, request.client.client_id, request.fingerprint(), secrets.token_urlsafe(16)]
        return self._serializer.dumps(payload)

    async def redeem(self, token: str, user: User, request: AuthorizationRequest) -> bool:
        """Whether ``token`` was issued for this user and request, is unexpired and unused; it is used up now."""
        try:
            payload = self._serializer.loads(token, max_age=max(1, round(self._lifetime)))
        except BadData:
            return False
        if not (isinstance(payload, list) and len(payload) == 4 and all(isinstance(p, str) for p in payload)):
            return False
        sub, client_id, fingerprint, nonce = payload
        expected = (user.sub, request.client.client_id, request.fingerprint())
        if not all(
            hmac.compare_digest(a.encode(), b.encode())
            for a, b in zip((sub, client_id, fingerprint), expected, strict=True)
        ):
            return False
        return await self._store.claim_once(f"consent:{nonce}", expires_at=self._clock() + self._lifetime + 1)
