"""Known-device cookies for a sign-in form (the "device cookies" of OWASP's brute-force guidance).

A browser that signed in as a user gets a signed cookie naming that user and a random device id. While
someone guesses the user's password from many addresses, the principal-wide limit refuses unproven
browsers, but a browser presenting such a cookie for the user it is signing in as is judged only by its
own (principal, device) count, so the user keeps getting in with the right password. The cookie is
signed with ``SECRET_KEY`` (itsdangerous; older keys still verify), holds no secret of the user, and lasts
``KNOWN_DEVICE_LIFETIME``. One cookie holds the devices of a few users, for a shared browser.

It is plain data, no HTTP: the host reads the cookie value, asks :meth:`KnownDevices.device_for` before
checking the limits, and sets :meth:`KnownDevices.remember`'s value after a successful sign-in.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import replace

from itsdangerous import BadSignature, URLSafeTimedSerializer

from .protocol.ratelimit import Attempt
from .settings import OAuthSettings

#: The cookie a sign-in page keeps known devices in.
COOKIE_NAME = "asgi_oauth_device"
#: Users one browser is remembered for; the oldest falls out.
_MAX_USERS = 5


class KnownDevices:
    """Signs and reads the known-device cookie of a sign-in page, so a user's own browser keeps signing in
    while someone guesses their password from elsewhere (see the module's docstring)."""

    def __init__(self, signing_keys: Sequence[str], *, max_age: float) -> None:
        # itsdangerous signs with the last key and verifies with all; settings list the newest first.
        self._serializer = URLSafeTimedSerializer(list(reversed(signing_keys)), salt="asgi_oauth.known-device")
        self.max_age = max_age

    @classmethod
    def from_settings(cls, settings: OAuthSettings) -> KnownDevices:
        return cls(settings.signing_keys, max_age=settings.known_device_lifetime)

    def _entries(self, cookie: str | None) -> list[tuple[str, str]]:
        if not cookie:
            return []
        try:
            data = self._serializer.loads(cookie, max_age=round(self.max_age))
        except BadSignature:  # also a forged, altered or expired cookie
            return []
        if not isinstance(data, list):
            return []
        return [
            (entry[0], entry[1])
            for entry in data
            if isinstance(entry, list) and len(entry) == 2 and all(isinstance(part, str) for part in entry)
        ]

    def device_for(self, cookie: str | None, principal: str) -> str | None:
        """The device id ``cookie`` proves for ``principal``; ``None`` when it proves nothing for it."""
        return next((device for who, device in self._entries(cookie) if who == principal), None)

    def user_attempt(self, username: str, address: str | None, cookie: str | None) -> Attempt:
        """A sign-in attempt as :class:`~asgi_oauth.Limiter` counts it: from the device ``cookie`` proves for this
        user, or from ``address`` alone."""
        attempt = Attempt.user(username, address)
        return replace(attempt, device=self.device_for(cookie, attempt.principal))

    def remember(self, cookie: str | None, principal: str) -> str:
        """The cookie value after ``principal`` signed in: its device id kept (or made), signed afresh."""
        entries = self._entries(cookie)
        device = next((d for who, d in entries if who == principal), None) or secrets.token_urlsafe(16)
        others = [[who, d] for who, d in entries if who != principal]
        return self._serializer.dumps([[principal, device], *others][:_MAX_USERS])
