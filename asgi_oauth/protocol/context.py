"""What every protocol step may consult: settings, storage, clients, the clock and the host's hooks."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..models import User
from ..settings import OAuthSettings
from ..store.base import Store
from ..types import Clock
from .client_auth import ClientLookup

#: Checks a resource owner's username and password (password grant); ``None`` when they are wrong.
PasswordVerifier = Callable[[str, str], Awaitable[User | None]]


@dataclass(frozen=True, slots=True)
class Context:
    settings: OAuthSettings
    store: Store
    clients: ClientLookup
    clock: Clock = time.time
    password_verifier: PasswordVerifier | None = None
