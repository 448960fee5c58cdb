"""/token, /introspect and /revoke under hostile input: never a 5xx, always an RFC 6749 section 5.2 answer.

tests/web/test_requests.py pins the parsing rules one case at a time; this file throws generated input
at the same endpoints (and their ``/alt`` twins with every option and the failure limit on) and checks
the properties in checks.py on every answer.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from . import checks
from .conftest import budget
from .harness import CALLBACK, CALLBACK_2, DEVICE_GRANT, FORM_ENDPOINTS, FULL, MOUNTS, RESOURCE, Fuzz
from .strategies import (
    CONTENT_LENGTHS,
    FORM,
    basic_headers,
    content_types,
    form_bodies,
    junk_headers,
    methods,
    mutated,
    pkce_values,
    scopes,
    values,
)

Headers = list[tuple[bytes, bytes]]
GRANT_TYPES = [
    "authorization_code",
    "client_credentials",
    "refresh_token",
    "password",
    DEVICE_GRANT,
    "implicit",
    "urn:x",
]
TOKEN_NAMES = [
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "username",
    "password",
    "client_id",
    "client_secret",
    "device_code",
    "resource",
]
TOKEN_OPERATION_NAMES = ["token", "token_type_hint", "scope", "client_id", "client_secret"]
PKCE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
ENDPOINT_NAMES = {"token": TOKEN_NAMES, "introspect": TOKEN_OPERATION_NAMES, "revoke": TOKEN_OPERATION_NAMES}

mounts = st.sampled_from(sorted(MOUNTS))
endpoints = st.sampled_from(FORM_ENDPOINTS)


async def post(fuzz: Fuzz, mount: str, endpoint: str, body: bytes, headers: Headers, method: str = "POST") -> None:
    response = await fuzz.request(method, f"{mount}/{endpoint}", headers=headers, body=body)
    checks.form_endpoint(response, endpoint, method, headers)


def credential_values(fuzz: Fuzz) -> st.SearchStrategy[str]:
    """Live tokens and the code, mutated, next to everything else ``values`` makes."""
    live = [mutated(value) for name, value in fuzz.live.items() if name != "verifier"]
    return st.one_of(*live, values())


@budget(100)
@given(data=st.data(), mount=mounts, endpoint=endpoints)
async def test_hostile_forms(fuzz: Fuzz, data: st.DataObject, mount: str, endpoint: str) -> None:
    """Any names and values, repeated names, raw or Latin-1 encoding, with or without real credentials."""
    fuzz.example()
    names = ENDPOINT_NAMES[endpoint]
    body = data.draw(form_bodies(names, st.one_of(credential_values(fuzz), scopes())), label="body")
    authorization = data.draw(st.none() | basic_headers(fuzz), label="authorization")
    headers: Headers = [(b"content-type", FORM.encode())]
    if authorization is not None:
        headers.append((b"authorization", authorization))
    await post(fuzz, mount, endpoint, body, headers)


@budget(60)
@given(mount=mounts, endpoint=endpoints, body=st.binary(max_size=300))
async def test_arbitrary_bytes_as_a_form(fuzz: Fuzz, mount: str, endpoint: str, body: bytes) -> None:
    """Non-UTF-8, NUL and every other byte in a body that claims to be a form, from an authenticated client."""
    fuzz.example()
    headers = [(b"content-type", FORM.encode()), (b"authorization", fuzz.basic("m2m").encode())]
    await post(fuzz, mount, endpoint, body, headers)


@budget(80)
@given(data=st.data(), mount=mounts, endpoint=endpoints)
async def test_malformed_basic_credentials(fuzz: Fuzz, data: st.DataObject, mount: str, endpoint: str) -> None:
    """Bad base64, no colon, non-UTF-8, huge, odd scheme spellings; Basic together with body credentials."""
    fuzz.example()
    extra = data.draw(
        st.lists(st.sampled_from(["client_id=m2m", "client_id=app", "client_secret=x", "client_id=%00"]), max_size=2)
    )
    required = {"token": "grant_type=client_credentials", "introspect": "token=x", "revoke": "token=x"}[endpoint]
    body = "&".join([required, *extra]).encode()
    headers: Headers = [(b"content-type", FORM.encode())]
    for authorization in data.draw(st.lists(basic_headers(fuzz), min_size=1, max_size=2), label="authorization"):
        headers.append((b"authorization", authorization))
    await post(fuzz, mount, endpoint, body, headers)


@budget(80)
@given(
    data=st.data(),
    mount=mounts,
    endpoint=endpoints,
    method=methods(),
    content_type=content_types(),
    junk=junk_headers(),
)
async def test_methods_content_types_and_headers(
    fuzz: Fuzz,
    data: st.DataObject,
    mount: str,
    endpoint: str,
    method: str,
    content_type: bytes | None,
    junk: Headers,
) -> None:
    """Odd methods, wrong or missing content types, lying or malformed Content-Length, duplicated headers."""
    fuzz.example()
    body = {"token": b"grant_type=client_credentials", "introspect": b"token=x", "revoke": b"token=x"}[endpoint]
    headers: Headers = [(b"authorization", fuzz.basic("m2m").encode())]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    length = data.draw(st.none() | st.sampled_from(CONTENT_LENGTHS) | st.integers(0, 10**25).map(lambda n: b"%d" % n))
    if length is not None:
        headers.append((b"content-length", length))
    headers += junk
    await post(fuzz, mount, endpoint, body, headers, method)


@budget(150)
@given(data=st.data(), mount=mounts, coherent=st.booleans())
async def test_token_grants(fuzz: Fuzz, data: st.DataObject, mount: str, coherent: bool) -> None:
    """Each grant with its parameters: either a valid request with one or two parameters replaced by hostile
    values (so the checks deep in the grant see them), or any mix of grant, client and parameters."""
    fuzz.example()
    # The device grant is on at /full only.
    grants = GRANT_TYPES[: 5 if mount == FULL else 4]
    grant_type = data.draw(st.sampled_from(grants) if coherent else st.sampled_from(GRANT_TYPES) | values())
    code, refresh, verifier, code_client = fuzz.live["code"], fuzz.live["app_refresh"], fuzz.live["verifier"], "web"
    device_code = fuzz.live["device_code"]
    if coherent or data.draw(st.booleans(), label="fresh credentials"):
        # A code and a refresh token nobody used yet, so the example gets past "already used".
        verifier = data.draw(st.just(verifier) | st.from_regex(PKCE, fullmatch=True), label="verifier")
        code_client = data.draw(st.sampled_from(["web", "public"]), label="code for")
        code = await fuzz.code(code_client, verifier)
        refresh = await fuzz.refresh_token()
        device_code = (await fuzz.device_authorization())["device_code"]
    valid: dict[str, tuple[str, dict[str, str]]] = {
        "authorization_code": (code_client, {"code": code, "code_verifier": verifier, "redirect_uri": CALLBACK}),
        "refresh_token": ("app", {"refresh_token": refresh}),
        "password": ("app", {"username": "alice", "password": "wonderland"}),
        "client_credentials": ("m2m", {}),
        DEVICE_GRANT: ("tv", {"device_code": device_code}),
    }
    hostile = {
        "code": mutated(code) | values(huge=False),
        "code_verifier": pkce_values(verifier),
        "redirect_uri": st.sampled_from([CALLBACK, CALLBACK + "/", CALLBACK_2]) | values(huge=False),
        "refresh_token": mutated(refresh) | values(huge=False),
        "scope": scopes(),
        "username": st.sampled_from(["alice", "bob", "ALICE"]) | values(huge=False),
        "password": st.sampled_from(["wonderland", "builder"]) | values(),
        "device_code": mutated(device_code) | values(huge=False),
        "resource": st.sampled_from([RESOURCE, RESOURCE + "/", "urn:x", "https://\u00e9.test/", "https://a:x/"])
        | values(),
    }
    if coherent:
        client_id, form = valid[grant_type][0], {"grant_type": grant_type, **valid[grant_type][1]}
        changed = data.draw(st.sets(st.sampled_from(sorted(hostile)), max_size=2), label="replaced")
        dropped = data.draw(st.sets(st.sampled_from(sorted(form)), max_size=1), label="dropped")
    else:
        client_id, form = data.draw(st.sampled_from(sorted(fuzz.clients)), label="client"), {"grant_type": grant_type}
        changed, dropped = data.draw(st.sets(st.sampled_from(sorted(hostile))), label="parameters"), set()
    for name in sorted(changed):
        form[name] = data.draw(hostile[name], label=name)
    for name in dropped:
        del form[name]
    headers = fuzz.authenticate(client_id, form)
    await post(fuzz, mount, "token", urlencode(form).encode(), headers)


@budget(80)
@given(
    data=st.data(),
    mount=mounts,
    endpoint=st.sampled_from(["introspect", "revoke"]),
    hint=st.none() | st.sampled_from(["access_token", "refresh_token", "unknown"]) | values(),
)
async def test_introspect_and_revoke(
    fuzz: Fuzz, data: st.DataObject, mount: str, endpoint: str, hint: str | None
) -> None:
    """Real (fresh or revoked) and mutated tokens of every kind, hints that lie or are junk, odd required scopes."""
    fuzz.example()
    token = credential_values(fuzz)
    if data.draw(st.booleans(), label="fresh tokens"):
        fresh = await fuzz.password_tokens()
        token = mutated(fresh["access_token"]) | mutated(fresh["refresh_token"])
    form = {"token": data.draw(token, label="token")}
    if hint is not None:
        form["token_type_hint"] = hint
    if endpoint == "introspect" and data.draw(st.booleans(), label="with scope"):
        form["scope"] = data.draw(scopes(), label="scope")
    client_id = data.draw(st.sampled_from(["rs", "m2m", "app", "public", "m2m-post"]), label="client")
    headers = fuzz.authenticate(client_id, form)
    await post(fuzz, mount, endpoint, urlencode(form).encode(), headers)
