"""JSON in the one form this project writes: no spaces, non-ASCII characters kept as they are.

``json.dumps`` and ``JSONEncoder.encode`` build json's C encoder anew on every call, which costs more than
encoding a token record or a small answer; records are written and answers sent on every request, so the
encoder is made once here (timed in benchmarks/PROFILE.md). It skips the circular-reference check: what is
encoded is built from plain records and never refers to itself.
"""

from __future__ import annotations

import json
from typing import Any

#: A JSON string literal for ``text``: the quotes and escapes :func:`dumps` writes, non-ASCII kept.
string = json.encoder.encode_basestring


def _unencodable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_fallback = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)  # None where json has no C speedups
_encoder: Any = _make_encoder(None, _unencodable, string, None, ":", ",", False, False, True) if _make_encoder else None


def dumps(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``, the same text."""
    if _encoder is None:
        return _fallback(value)
    return "".join(_encoder(value, 0))
