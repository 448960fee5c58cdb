"""The one JSON form the project writes: the same text as ``json.dumps`` with compact separators, non-ASCII kept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from asgi_oauth import compact_json

VALUES: list[Any] = [
    {"access_token": "abc.def", "token_type": "Bearer", "expires_in": 3600, "scope": "read write"},
    [1, "m2m", "read write", None, 1733560000, 1733563600000, None, "https://api.example.com/é"],
    {"nested": {"list": [True, False, None, 1.5, -0.0, 10**20], "text": 'quote " back \\ tab \t nl \n'}},
    {"unicode": "日本語 ☃ \u2028 \U0001f600", "empty": {}, "none": []},
    "a bare string",
    42,
    None,
    float("inf"),
]


@pytest.mark.parametrize("value", VALUES)
def test_dumps_writes_what_json_dumps_writes_compactly(value: Any) -> None:
    assert compact_json.dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("text", ["plain", 'quo"te', "back\\slash", "ctl\x00\x1f", "é ☃", "\ud800"])
def test_string_is_the_literal_dumps_writes(text: str) -> None:
    assert compact_json.string(text) == compact_json.dumps(text) == json.dumps(text, ensure_ascii=False)


@pytest.mark.parametrize("value", [{"a": object()}, [b"bytes"], {1j: 1}])
def test_what_json_cannot_encode_raises_type_error(value: Any) -> None:
    with pytest.raises(TypeError):
        compact_json.dumps(value)
