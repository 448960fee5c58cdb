"""Form and query parameters, parsed once into a read-only mapping (RFC 6749 section 3.1 and 3.2), and JSON
bodies and documents, parsed into text that can be stored and sent back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from ..errors import InvalidRequest, describable

_MAX_PARAMS = 64


class Params:
    """Request parameters with RFC 6749 rules applied: each name at most once, empty means absent."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    @classmethod
    def parse(cls, raw: bytes | str) -> Params:
        """Parse ``application/x-www-form-urlencoded`` data (a body or a query string)."""
        try:
            text = raw.decode("ascii") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            raise InvalidRequest("parameters must be percent-encoded UTF-8") from None
        parts = text.split("&")
        if len(parts) > _MAX_PARAMS or "%" in text or "+" in text or ";" in text or "\x00" in text:
            return cls(_decoded(text))
        # Nothing to decode, nothing to refuse but a repeated name: one pass (timed in benchmarks/PROFILE.md).
        values: dict[str, str] = {}
        for part in parts:
            if part:
                name, _, value = part.partition("=")
                if name in values:
                    raise InvalidRequest(f"parameter {_safe(name)} was sent more than once")
                values[name] = value
        return cls(values)

    def get(self, name: str) -> str | None:
        value = self._values.get(name)
        return value if value else None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise InvalidRequest(f"missing parameter {name}")
        return value

    def __contains__(self, name: object) -> bool:
        return bool(self._values.get(name)) if isinstance(name, str) else False

    def items(self) -> list[tuple[str, str]]:
        return list(self._values.items())


def _decoded(text: str) -> dict[str, str]:
    """The parameters of ``text`` with escapes to decode, or anything to refuse; each name once."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("parameters must be percent-encoded UTF-8") from None
    if len(pairs) > _MAX_PARAMS:
        raise InvalidRequest("too many parameters")
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in values:
            raise InvalidRequest(f"parameter {_safe(name)} was sent more than once")
        if "\x00" in value or "\x00" in name:
            raise InvalidRequest("parameters must not contain NUL characters")
        values[name] = value
    return values


def refuse_constant(name: str) -> Any:
    """``json.loads``' ``parse_constant``: ``NaN``, ``Infinity`` and ``-Infinity`` are no JSON (RFC 8259)."""
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """One JSON value in UTF-8 (RFC 8259) whose strings are all Unicode text (I-JSON, RFC 7493 section 2.1).

    ``json.loads`` turns a ``"\\ud800"`` escape into a lone surrogate, which no UTF-8 encoder (the store's, the
    response's) accepts, and raises ``RecursionError`` for arrays nested a thousand deep; both, like malformed
    JSON and ``NaN``, raise :class:`ValueError` here.
    """
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=refuse_constant)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # raises for a lone surrogate anywhere
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    return value


def _safe(name: str) -> str:
    """A parameter name fit for an error description (printable ASCII, short)."""
    return describable(name)[:40] or "(unnamed)"


@dataclass(frozen=True, slots=True)
class Incoming:
    """A back-channel request as the protocol sees it: its parameters, Authorization header and sender."""

    params: Params
    authorization: str | None = None
    #: The remote address, used to rate-limit failed attempts per sender.
    peer: str | None = None
