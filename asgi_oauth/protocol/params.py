"""Form and query parameters, parsed once into a read-only mapping (RFC 6749 section 3.1 and 3.2)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from ..errors import InvalidRequest

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


def _safe(name: str) -> str:
    """A parameter name fit for an error description (printable ASCII, short)."""
    cleaned = "".join(c for c in name if 0x20 <= ord(c) < 0x7F and c not in '"\\')
    return cleaned[:40] or "(unnamed)"


@dataclass(frozen=True, slots=True)
class Incoming:
    """A back-channel request as the protocol sees it: its parameters, Authorization header and sender."""

    params: Params
    authorization: str | None = None
    #: The remote address, used to rate-limit failed attempts per sender.
    peer: str | None = None
