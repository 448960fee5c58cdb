"""Scope parsing and narrowing (RFC 6749 section 3.3)."""

from __future__ import annotations

import functools

from ..clients import valid_scope_token
from ..errors import InvalidScope
from ..models import scope_set, scope_str


@functools.lru_cache(maxsize=4096)
def narrow(requested: str | None, allowed: frozenset[str]) -> str:
    """The scope to grant: ``requested`` if it is within ``allowed``, all of ``allowed`` if nothing was asked.

    Remembered (a refusal is not): a client asks for the same scope on every token request, and checking each
    scope token's syntax costs more than the lookup."""
    if requested is None:
        return scope_str(allowed)
    wanted = scope_set(requested)
    bad = [token for token in wanted if not valid_scope_token(token)]
    if bad or not wanted:
        raise InvalidScope("scope is malformed (RFC 6749 section 3.3)")
    extra = wanted - allowed
    if extra:
        shown = " ".join(sorted(extra))
        raise InvalidScope(f"scope not allowed: {shown}" if _describable(shown) else "scope not allowed")
    return scope_str(wanted)


def _describable(text: str) -> bool:
    return len(text) <= 200 and all(0x20 <= ord(c) < 0x7F and c not in '"\\' for c in text)
