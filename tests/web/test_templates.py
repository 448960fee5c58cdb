"""The token and introspection answers built from templates are byte for byte what the generic encoder writes."""

from __future__ import annotations

from typing import Any

from asgi_oauth.protocol.grants import TokenResponse
from asgi_oauth.web.endpoints import _introspection_json, _token_json
from asgi_oauth.web.http import EncodedJSON, encode_json

ODD = 'ünï "quoted" \\ back\nslash'


def test_token_answers_match_the_generic_encoder() -> None:
    for issued in (
        TokenResponse("F" * 22 + "." + "s" * 43, 3600, "read write"),
        TokenResponse("eyJ.x.y", 60, ODD),
        TokenResponse("a", 1, "", refresh_token="r", refresh_token_expires_in=2),
        TokenResponse("a", 1, "openid", fields={"id_token": "i"}),
    ):
        answer = _token_json(issued)
        assert (answer if isinstance(answer, bytes) else encode_json(answer)) == encode_json(issued.body())
        assert isinstance(answer, EncodedJSON) == (issued.refresh_token is None and not issued.fields)


def test_introspection_answers_match_the_generic_encoder() -> None:
    active: dict[str, Any] = {
        "active": True,
        "scope": ODD,
        "client_id": "bench-client",
        "token_type": "Bearer",
        "exp": 1700003600,
        "iat": 1700000000,
        "iss": "https://issuer.example/ö",
    }
    for body, templated in (
        ({"active": False}, True),
        (active, True),
        ({**active, "sub": "alice", "username": "alice"}, False),
        ({**active, "exp": 1.5}, False),
    ):
        answer = _introspection_json(body)
        assert isinstance(answer, EncodedJSON) == templated
        assert (answer if isinstance(answer, bytes) else encode_json(answer)) == encode_json(body)
