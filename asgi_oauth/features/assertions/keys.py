"""Verifying keys of whoever signs assertions: given as a JWK Set (``jwks``), or fetched from a ``jwks_uri`` and
kept a while. A *source* is a mapping with exactly one of ``{"jwks": {...}}`` and ``{"jwks_uri": "https://..."}``
(RFC 7591 section 2's two members): a client's lives in its record's ``extra["private_key_jwt"]``
(:func:`~.names.registered_keys` builds and checks it), a trusted issuer's in its configuration.

A key set URL is fetched by the same guarded fetcher as client metadata documents (https only, public addresses
only, the address checked is the one connected to, a size and a time cap) and kept for its ``Cache-Control``
max-age within bounds. An assertion naming a key the kept set lacks (a rotation) fetches the set once more, at
most once per ``min_refetch`` seconds per URL: a flood of unknown ``kid`` values costs one fetch, not one each.
A URL that failed is not fetched again for as long, so a flood naming it costs one fetch too.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Mapping
from typing import Any

from ...cimd.documents import DocumentError, Fetcher, cache_seconds
from ...types import Clock
from .names import KeySetError
from .verify import AssertionRefused, Expected, KeyUnknown, Unverified, VerifyingKey, key_set, verify

#: Key set URLs remembered per worker (kept, failed or being fetched); past this the memory is emptied.
MAX_REMEMBERED = 1000


@functools.lru_cache(maxsize=256)
def _inline(document: str) -> tuple[VerifyingKey, ...]:
    # Keyed by the set's JSON: a key is built once per worker, not once per request.
    return key_set(json.loads(document))


class KeySets:
    """Finds the keys a source names, fetching and keeping those at a URL."""

    def __init__(
        self, fetcher: Fetcher, *, clock: Clock, least: float = 60.0, most: float = 86400.0, min_refetch: float = 30.0
    ) -> None:
        self._fetch = fetcher
        self._clock = clock
        self._least, self._most, self._min_refetch = least, most, min_refetch
        #: jwks_uri -> (keys, fetched at, kept until)
        self._fetched: dict[str, tuple[tuple[VerifyingKey, ...], float, float]] = {}
        #: jwks_uri -> (why it failed, not fetched again before)
        self._failed: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def of(self, source: object, *, whose: str, stale: bool = False) -> tuple[VerifyingKey, ...]:
        """The keys ``source`` names (``whose`` says whose, in refusals); ``stale``: the ones at hand did not fit,
        so fetch again if allowed."""
        if not isinstance(source, Mapping):
            raise AssertionRefused(f"{whose} has no keys registered")
        if "jwks" in source:
            try:
                return _inline(json.dumps(source["jwks"], sort_keys=True))
            except KeySetError as error:
                raise AssertionRefused(f"the keys of {whose} cannot be used: {error}") from None
        uri = source.get("jwks_uri")
        if not isinstance(uri, str):
            raise AssertionRefused(f"{whose} has no keys registered")
        return await self._from_uri(uri, stale=stale)

    async def verified(self, seen: Unverified, source: object, expected: Expected, *, whose: str) -> Mapping[str, Any]:
        """``seen``'s claims once a key ``source`` names verifies it (:func:`~.verify.verify`); when none of the
        kept keys fits, a URL's set is fetched once more (the signer rotated), within ``min_refetch``."""
        try:
            return verify(seen, await self.of(source, whose=whose), expected, self._clock())
        except KeyUnknown:
            if not (isinstance(source, Mapping) and "jwks_uri" in source):
                raise
            return verify(seen, await self.of(source, whose=whose, stale=True), expected, self._clock())

    async def _from_uri(self, uri: str, *, stale: bool) -> tuple[VerifyingKey, ...]:
        kept = self._usable(uri, stale=stale)
        if kept is not None:
            return kept
        if len(self._locks) >= MAX_REMEMBERED:  # many URLs named (most failing): start afresh, bounded
            self._fetched.clear()
            self._failed.clear()
            self._locks.clear()
        lock = self._locks.setdefault(uri, asyncio.Lock())
        async with lock:  # requests arriving together wait for one fetch
            kept = self._usable(uri, stale=stale)
            if kept is not None:
                return kept
            try:
                keys, seconds = await self._fetch_keys(uri)
            except AssertionRefused as refused:
                # A failing URL is not fetched again for a while: a flood naming it costs one fetch.
                self._failed[uri] = (str(refused), self._clock() + self._min_refetch)
                raise
            now = self._clock()
            self._failed.pop(uri, None)
            self._fetched[uri] = (keys, now, now + seconds)
            return keys

    def _usable(self, uri: str, *, stale: bool) -> tuple[VerifyingKey, ...] | None:
        """The kept keys of ``uri`` when they may be used without a fetch; raises the kept failure of a URL that
        failed lately."""
        now = self._clock()
        failed = self._failed.get(uri)
        if failed is not None and now < failed[1]:
            raise AssertionRefused(failed[0])
        kept = self._fetched.get(uri)
        if kept is not None and now < kept[2] and not (stale and now - kept[1] >= self._min_refetch):
            return kept[0]
        return None

    async def _fetch_keys(self, uri: str) -> tuple[tuple[VerifyingKey, ...], float]:
        """The keys at ``uri`` and how long to keep them; :class:`AssertionRefused` saying why not."""
        try:
            fetched = await self._fetch(uri)
        except DocumentError as error:
            raise AssertionRefused(str(error)) from None
        if fetched.status != 200:
            raise AssertionRefused(f"the jwks_uri {uri} answered HTTP {fetched.status}")
        try:
            keys = key_set(json.loads(fetched.body), strict=False)
        except (ValueError, RecursionError) as error:  # KeySetError is a ValueError, as is bad JSON
            raise AssertionRefused(f"the jwks_uri {uri} does not hold a usable JWK Set: {error}") from None
        return keys, cache_seconds(fetched.headers, least=self._least, most=self._most)
