"""Params.parse: the one-pass reading of plain forms gives what the general parser gives, and refuses alike."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from asgi_oauth.errors import InvalidRequest
from asgi_oauth.protocol.params import Params

PLAIN = [
    "grant_type=client_credentials",
    "grant_type=client_credentials&scope=read",
    "a=1&&b=2&",
    "&",
    "",
    "flag",
    "=value-without-name",
    "a==b=c",
    "name=",
    "token=abc.DEF_ghi-jkl&token_type_hint=access_token",
]
ESCAPED = ["scope=read+write", "redirect_uri=https%3A%2F%2Fapp.example%2Fcb", "x=%C3%A9t%C3%A9", "a=1;b=2"]


@pytest.mark.parametrize("form", PLAIN + ESCAPED)
@pytest.mark.parametrize("as_bytes", [True, False])
def test_parse_gives_what_parse_qsl_gives(form: str, as_bytes: bool) -> None:
    params = Params.parse(form.encode() if as_bytes else form)
    assert params.items() == parse_qsl(form, keep_blank_values=True, encoding="utf-8", errors="strict")


@pytest.mark.parametrize(
    ("form", "description"),
    [
        ("a=1&a=2", "parameter a was sent more than once"),
        ("a=1&b=2&a", "parameter a was sent more than once"),
        ("a=%2B&a=+", "parameter a was sent more than once"),
        ("a=1\x00", "parameters must not contain NUL characters"),
        ("a%00=1", "parameters must not contain NUL characters"),
        ("a=%ff", "parameters must be percent-encoded UTF-8"),
        ("&".join(f"p{i}=1" for i in range(65)), "too many parameters"),
        ("&".join("p=1" for _ in range(65)), "too many parameters"),
    ],
)
def test_refusals_are_the_same_on_both_paths(form: str, description: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        Params.parse(form.encode())
    assert refused.value.description == description


def test_non_ascii_bytes_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="percent-encoded UTF-8"):
        Params.parse("a=é".encode())


def test_sixty_four_parameters_are_accepted() -> None:
    params = Params.parse("&".join(f"p{i}=v{i}" for i in range(64)))
    assert params.get("p63") == "v63" and len(params.items()) == 64
