"""RFC 7591 registration at ``/full/register`` under hostile input, and what a registered client then does.

Any JSON (Unicode in every field, nested, wide, repeated keys, lone surrogate escapes) or any bytes: 201 with
a client, or an RFC 7591 error, never a 5xx. A client that was registered is then used as its owner would use
it, signed in to ``/authorize`` with its first redirect URI, through consent and the code exchange, and at the
token endpoint with its credentials; whatever it registered must not break a page or a redirect.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from ..web.helpers import Registered
from . import checks
from .conftest import budget
from .harness import CALLBACK, DEVICE_GRANT, FULL, LOOPBACK, SIGNED_IN, Fuzz, authenticate, pkce_pair
from .strategies import (
    METHODS,
    content_types,
    https_urls,
    json_bodies,
    json_values,
    redirect_uris,
    scopes,
    uri_like,
    values,
)
from .test_authorize import Headers, follow, no_nul

REGISTER = f"{FULL}/register"
SIGNED_IN_HEADERS: Headers = [(name.encode(), value.encode()) for name, value in SIGNED_IN.items()]
GRANTS = ["authorization_code", "refresh_token", "client_credentials", "password", "implicit", DEVICE_GRANT, "x"]
REDIRECTS = [CALLBACK, LOOPBACK, "http://localhost:5173/cb", "http://[::1]:9/cb", "https://\u00e9xample.test/cb"]
REDIRECTS += ["https://app.test/cb?x=\u00fc", "https://app.test/\u202e/cb", "https://app.test/%00", "myapp:/cb"]


def metadata() -> st.SearchStrategy[dict[str, Any]]:
    """RFC 7591 section 2 metadata, every field optional, each meaningful, hostile or any JSON."""
    uri = st.sampled_from(REDIRECTS) | https_urls | redirect_uris()
    text = values() | json_values
    fields = {
        "redirect_uris": st.lists(uri, max_size=4) | json_values,
        "token_endpoint_auth_method": st.sampled_from(["none", "client_secret_basic", "client_secret_post"]) | text,
        "grant_types": st.lists(st.sampled_from(GRANTS), max_size=3) | json_values,
        "response_types": st.lists(st.sampled_from(["code", "token", "id_token"]), max_size=2) | json_values,
        "scope": st.sampled_from(["read", "read write", "openid read"]) | scopes() | json_values,
        "client_name": text,
        "client_uri": uri_like() | https_urls | text,
        "logo_uri": https_urls | text,
        "jwks_uri": https_urls | text,
        "jwks": json_values | st.just({"keys": [{"kty": "EC", "crv": "P-256", "x": "\u00e9", "y": "\x00"}]}),
        "contacts": st.lists(values(huge=False), max_size=3) | json_values,
        "software_statement": values() | json_values,
        "software_id": text,
        "application_type": st.sampled_from(["web", "native"]) | text,
    }
    anything = st.fixed_dictionaries({}, optional=fields)
    # Metadata that registers as it is, with one to three fields replaced: most examples then get a client.
    names = st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3, unique=True)
    registrable = st.builds(
        lambda base, changed: {**base, **changed},
        st.sampled_from([PUBLIC, CONFIDENTIAL]),
        names.flatmap(
            lambda chosen: st.fixed_dictionaries({name: FRIENDLY.get(name, fields[name]) for name in chosen})
        ),
    )
    return registrable | registrable | anything


#: Metadata the ``mcp`` SDK sends, and a confidential web client's: both register as they are.
PUBLIC = {"redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "none", "scope": "read", "client_name": "MCP"}
CONFIDENTIAL = {"redirect_uris": [CALLBACK], "grant_types": ["authorization_code", "client_credentials"]}
#: Values that are mostly registrable, in any script.
FRIENDLY: dict[str, st.SearchStrategy[Any]] = {
    "redirect_uris": st.lists(st.sampled_from(REDIRECTS) | https_urls | https_urls, min_size=1, max_size=3),
    "client_name": st.text(st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs"]), min_size=1)
    | values(),
    "scope": st.sampled_from(["read", "read write", "openid read", "write openid"]),
}


@budget(200)
@given(data=st.data(), body=json_bodies(metadata() | metadata() | json_values))
async def test_registrations_and_the_registered_clients_in_use(fuzz: Fuzz, data: st.DataObject, body: bytes) -> None:
    """Metadata of any shape; a client registered from it signs a user in and gets tokens, or is refused, cleanly."""
    fuzz.example()
    headers: Headers = [(b"content-type", b"application/json")]
    response = await fuzz.request("POST", REGISTER, headers=headers, body=body)
    registered = checks.registration(response, "POST")
    if registered is None:
        return
    client = await fuzz.store.get_client(registered["client_id"])
    assert client is not None
    owner = Registered(client, registered.get("client_secret"))
    clients = {**fuzz.clients, client.client_id: owner}
    if "authorization_code" in client.grant_types:
        params = {"response_type": "code", "client_id": client.client_id, "state": "s"}
        params |= {"redirect_uri": client.redirect_uris[0], "code_challenge": pkce_pair(fuzz.live["verifier"])}
        params |= {"code_challenge_method": "S256", "scope": data.draw(st.sampled_from(["", "read", "openid"]))}
        if params["scope"] == "openid":
            params["nonce"] = data.draw(no_nul(values(huge=False)), label="nonce")
        await follow(fuzz, FULL, params, list(SIGNED_IN_HEADERS), clients)
    if "client_credentials" in client.grant_types:
        form = {"grant_type": "client_credentials"}
        token_headers = authenticate(owner, form)
        tokens = await fuzz.request("POST", f"{FULL}/token", body=urlencode(form).encode(), headers=token_headers)
        checks.form_endpoint(tokens, "token", "POST", token_headers)


@budget(40)
@given(
    method=st.sampled_from(["POST", "POST", "GET", "HEAD", *METHODS]),
    content_type=content_types() | st.sampled_from([b"application/json; charset=latin-1", b"application/jsonx"]),
    authorization=st.none() | st.binary(max_size=60) | st.just(b"Bearer \xff\x00"),
    body=json_bodies(json_values) | st.binary(max_size=200),
)
async def test_methods_content_types_and_credentials(
    fuzz: Fuzz, method: str, content_type: bytes | None, authorization: bytes | None, body: bytes
) -> None:
    """Odd methods and content types, and an Authorization header of any bytes (no initial token is configured,
    so it must be ignored, never trip the server)."""
    fuzz.example()
    headers: Headers = [(b"content-type", content_type)] if content_type is not None else []
    headers += [(b"authorization", authorization)] if authorization is not None else []
    response = await fuzz.request(method, REGISTER, headers=headers, body=body)
    checks.registration(response, method)
