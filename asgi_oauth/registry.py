"""The one rule every registry (grants, response types, endpoints) follows when the server is built."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from .settings import OAuthSettings


class Switchable(Protocol):
    @property
    def enabled(self) -> Callable[[OAuthSettings], bool]: ...


S = TypeVar("S", bound=Switchable)


def switched_on(settings: OAuthSettings, entries: Iterable[S], key: Callable[[S], str], kind: str) -> dict[str, S]:
    """The entries ``settings`` switch on, by ``key``, in the order given.

    A key listed twice is an error even if one of the two is off: which one was meant cannot be guessed.
    """
    chosen: dict[str, S] = {}
    seen: set[str] = set()
    for entry in entries:
        name = key(entry)
        if name in seen:
            raise ValueError(f"{kind} {name!r} is registered twice")
        seen.add(name)
        if entry.enabled(settings):
            chosen[name] = entry
    return chosen
