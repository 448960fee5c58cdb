"""/authorize under hostile input: never a 5xx, never a redirect to an unregistered URI.

Until the client and its redirect URI are established the answer is an HTML page with status 400;
after that, errors go back to the client's redirect URI with ``error``, ``state`` and ``iss``
(RFC 6749 section 4.1.2.1, RFC 9207). checks.authorize states both, with an independent account of
which redirect URIs may be trusted (exact match; any port for a public client's loopback IP URI).
Every OpenID Connect parameter and ``resource`` are fuzzed too, on ``/full`` where OpenID Connect is on, and
one test follows requests through the sign-in hand-off, the consent form and the code exchange.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ..web.helpers import Registered
from . import checks
from .conftest import budget
from .harness import (
    AUTH_TIME_HEADER,
    CALLBACK,
    FULL,
    LOGIN_URL,
    LOOPBACK,
    MOUNTS,
    RESOURCE,
    USER_HEADER,
    Fuzz,
    authenticate,
    consent_fields,
    pkce_pair,
)
from .strategies import (
    CONTENT_LENGTHS,
    FORM,
    METHODS,
    awkward_text,
    content_types,
    form_bodies,
    junk_headers,
    mutated,
    pkce_values,
    redirect_uris,
    scopes,
    values,
)

Headers = list[tuple[bytes, bytes]]
AUTHORIZE_NAMES = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "csrf_token",
    "decision",
]
#: RFC 8707 resource indicators: the allowed one (``/alt`` allows only it), its other spellings, and not-URIs.
RESOURCES = [RESOURCE, RESOURCE + "/", "HTTPS://API.TEST:443/mcp", "https://other.test/", "urn:x", RESOURCE + "#f"]
RESOURCES += ["https://u@api.test/mcp", "https://api.test:99999/", "https://[api.test/", "https://\u00e9.test/"]
PROMPTS = ["none", "login", "consent", "select_account", "login consent", "none login", "LOGIN", "login  consent"]
mounts = st.sampled_from(sorted(MOUNTS))
#: Who the host says is signed in: nobody, a plain user, or a name made of awkward bytes.
users = st.one_of(st.none(), st.just(b"alice"), st.binary(min_size=1, max_size=40).filter(lambda b: b.strip()))


def user_header(user: bytes | None) -> Headers:
    return [(USER_HEADER.encode(), user)] if user is not None else []


#: OpenID Connect's authorization parameters (Core 3.1.2.1, 5.5, 6; Discovery's ``fresh_after`` is our own).
OPENID_NAMES = [
    "nonce",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "claims",
    "acr_values",
    "ui_locales",
    "claims_locales",
    "display",
    "request",
    "request_uri",
    "registration",
    "fresh_after",
]


def no_nul(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """``strategy`` with NUL taken out (a mapping, not a filter, so no example is thrown away)."""
    return strategy.map(lambda v: v.replace("\x00", ""))


CLEAN = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)


def hostile(fuzz: Fuzz) -> dict[str, st.SearchStrategy[str]]:
    """Per parameter name: values meaningful for it next to hostile ones, none with NUL (refused at parsing)."""
    anything = no_nul(values())
    openid_scope = st.sampled_from(["openid", "openid profile email", "openid offline_access read", "read openid"])
    options = {
        "response_type": st.sampled_from(["code", "code", "token", "code token", "id_token", "CODE"]) | CLEAN,
        "scope": openid_scope | no_nul(scopes()),
        "state": st.sampled_from(["s", "a&b=c#d", "\u2603", "x" * 5000]) | CLEAN | anything,
        "code_challenge": no_nul(pkce_values()),
        "code_challenge_method": st.sampled_from(["S256", "S256", "plain", "s256", "SHA256"]) | CLEAN,
        "redirect_uri": no_nul(redirect_uris()),
        "resource": st.sampled_from(RESOURCES) | anything,
        "nonce": st.sampled_from(["n-0", "n\u00f6nce", "\U0001f600", "\u202e\u05d0", "x" * 513]) | anything,
        "prompt": st.sampled_from(PROMPTS) | CLEAN,
        "max_age": st.sampled_from(["0", "60", "999999999", "1000000000", "-1", "1e3", "\u0663", " 1"]) | CLEAN,
        "id_token_hint": no_nul(mutated(fuzz.live["id_token"])) | CLEAN,
        "fresh_after": st.sampled_from(["n-0.AAAAAA.forged", "..", "\u00e9.\u00e9.\u00e9"]) | anything,
    }
    return {name: options.get(name, anything) for name in [*AUTHORIZE_NAMES[:7], "resource", *OPENID_NAMES]}


@st.composite
def parameters(draw: st.DrawFn, fuzz: Fuzz) -> dict[str, str]:
    """Each name at most once and no NUL: a request whose parameters the server parses exactly as sent.

    Mostly the client is a registered one and often the redirect URI one of its own (or left out), so
    the request gets past the first phase and the checks after it see the hostile values.
    """
    known, unknown = st.sampled_from(sorted(fuzz.clients)), st.sampled_from(["nobody", "web ", "WEB"])
    client_id = draw(st.one_of(known, known, known, unknown, CLEAN), label="client_id")
    registered = fuzz.clients[client_id].client.redirect_uris if client_id in fuzz.clients else ()
    own = st.sampled_from(registered) if registered else st.nothing()
    options = hostile(fuzz)
    params = {"client_id": client_id}
    if draw(st.integers(0, 4), label="redirect_uri sent") > 0:
        params["redirect_uri"] = draw(own | options["redirect_uri"], label="redirect_uri")
    names = [n for n in options if n not in ("client_id", "redirect_uri")]
    for name in draw(st.sets(st.sampled_from(names)), label="names"):
        params[name] = draw(options[name], label=name)
    return params


@budget(200)
@given(data=st.data(), mount=mounts, user=users, method=st.sampled_from(["GET", "GET", "POST"]))
async def test_authorization_requests(
    fuzz: Fuzz, data: st.DataObject, mount: str, user: bytes | None, method: str
) -> None:
    """GET (or POST) with any combination of the OAuth and OpenID parameters: a page before trust, a redirect
    (or consent page) after."""
    fuzz.example()
    params = data.draw(parameters(fuzz), label="params")
    headers = user_header(user)
    if method == "GET":
        response = await fuzz.request("GET", f"{mount}/authorize", params=list(params.items()), headers=headers)
    else:
        headers.append((b"content-type", FORM.encode()))
        response = await fuzz.request("POST", f"{mount}/authorize", body=urlencode(params).encode(), headers=headers)
    checks.authorize(
        response, mount=mount, method=method, headers=headers, clients=fuzz.clients, sent=checks.Sent(params)
    )


#: Requests that succeed as they are, one per kind of client: confidential, public, OpenID relying party.
COHERENT = {
    "web": {"response_type": "code", "client_id": "web", "redirect_uri": CALLBACK, "state": "s"},
    "public": {"response_type": "code", "client_id": "public", "redirect_uri": LOOPBACK, "scope": "read"},
    "rp": {"response_type": "code", "client_id": "rp", "scope": "openid profile email", "nonce": "n-0"},
}


#: What a relying party's request is made hostile in: mostly its OpenID parameters.
OPENID_MADE = ["state", "scope", "resource", "redirect_uri", "prompt", "max_age", "login_hint", *["nonce"] * 4]


@budget(150)
@given(
    data=st.data(),
    client_id=st.sampled_from(sorted(COHERENT)),
    user=st.sampled_from([None, None, None, "alice", "stale", "unknown"]),
)
async def test_requests_through_sign_in_consent_and_the_code(
    fuzz: Fuzz, data: st.DataObject, client_id: str, user: str | None
) -> None:
    """A request that would succeed, with one to three parameters made hostile, followed the way a browser and
    the client follow it: through the sign-in hand-off (``next``), the consent form and the code exchange.

    Whatever it carried survives every hop: each answer passes the checks, and an ID token carries the nonce
    the request sent.
    """
    fuzz.example()
    params = {
        **COHERENT[client_id],
        "code_challenge": pkce_pair(fuzz.live["verifier"]),
        "code_challenge_method": "S256",
    }
    options = hostile(fuzz)
    # The relying party where OpenID Connect is on; the others anywhere.
    mount = FULL if client_id == "rp" else data.draw(mounts, label="mount")
    made = st.sampled_from(OPENID_MADE + [*OPENID_NAMES, *AUTHORIZE_NAMES[:7]] * (client_id != "rp"))
    for name in sorted(set(data.draw(st.lists(made, min_size=1, max_size=3), label="made"))):
        params[name] = data.draw(options[name], label=name)
    # Who is signed in: nobody, someone whose sign-in time is unknown, long ago, or just now.
    times = {"alice": str(time.time()), "stale": str(time.time() - 86_400), "unknown": "?"}
    headers = (
        [] if user is None else [(USER_HEADER.encode(), b"alice"), (AUTH_TIME_HEADER.encode(), times[user].encode())]
    )
    tokens = await follow(fuzz, mount, params, headers, fuzz.clients)
    if tokens is not None and tokens.status_code == 200 and "id_token" in tokens.json():
        claims = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})
        assert claims["nonce"] == params["nonce"], claims


async def follow(
    fuzz: Fuzz, mount: str, params: dict[str, str], headers: Headers, clients: Mapping[str, Registered]
) -> httpx.Response | None:
    """Send an authorization request and follow it as a browser and the client would: through the host's sign-in
    (``next``), the consent form (allow) and, for a code made with the live verifier, the code exchange. Every
    answer passes the checks; the token response, if it came to one."""
    response = await fuzz.request("GET", f"{mount}/authorize", params=list(params.items()), headers=headers)
    checks.authorize(response, mount=mount, method="GET", headers=headers, clients=clients, sent=checks.Sent(params))
    if response.status_code == 302 and response.headers["location"].startswith(LOGIN_URL + "?"):
        # The host signs the user in (now) and sends the browser back to ``next``.
        headers = [(USER_HEADER.encode(), b"alice"), (AUTH_TIME_HEADER.encode(), str(time.time() + 1).encode())]
        (back,) = [v for k, v in parse_qsl(urlsplit(response.headers["location"]).query) if k == "next"]
        sent = dict(parse_qsl(urlsplit(back).query, keep_blank_values=True))
        for name in ("state", "nonce", "login_hint"):  # the client's own strings come back unchanged
            assert sent.get(name) == (params.get(name) or None) or name not in sent, (name, sent, params)
        response = await fuzz.request("GET", urlsplit(back).path, params=list(sent.items()), headers=headers)
        checks.authorize(response, mount=mount, method="GET", headers=headers, clients=clients, sent=checks.Sent(sent))
    if response.status_code == 200:
        form = {**consent_fields(response.text), "decision": "allow"}
        headers = [*headers, (b"content-type", FORM.encode())]
        response = await fuzz.request("POST", f"{mount}/authorize", body=urlencode(form).encode(), headers=headers)
        checks.authorize(response, mount=mount, method="POST", headers=headers, clients=clients, sent=None)
    code = dict(parse_qsl(urlsplit(response.headers.get("location", "")).query)).get("code")
    if code is None:
        return None
    exchange = {"grant_type": "authorization_code", "code": code, "code_verifier": fuzz.live["verifier"]}
    if "redirect_uri" in params:
        exchange["redirect_uri"] = params["redirect_uri"]
    token_headers = authenticate(clients[params["client_id"]], exchange)
    tokens = await fuzz.request("POST", f"{mount}/token", body=urlencode(exchange).encode(), headers=token_headers)
    checks.form_endpoint(tokens, "token", "POST", token_headers)
    return tokens


@budget(60)
@given(mount=mounts, query=st.binary(max_size=200), user=users)
async def test_raw_query_strings(fuzz: Fuzz, mount: str, query: bytes, user: bytes | None) -> None:
    """Any bytes as the query string: non-UTF-8, raw NUL, stray ``%``, repeated names."""
    fuzz.example()
    headers = user_header(user)
    response = await fuzz.request("GET", f"{mount}/authorize", query=query, headers=headers)
    checks.authorize(response, mount=mount, method="GET", headers=headers, clients=fuzz.clients, sent=None)


@budget(80)
@given(data=st.data(), mount=mounts, user=users)
async def test_query_with_repeats_and_odd_encodings(
    fuzz: Fuzz, data: st.DataObject, mount: str, user: bytes | None
) -> None:
    """Valid-looking requests with names repeated, values raw or Latin-1 encoded, NUL and huge values."""
    fuzz.example()
    value = st.one_of(
        st.sampled_from(["code", "web", "public", "https://web.test/cb", "S256", "read", pkce_pair("v" * 43)]),
        values(),
    )
    query = data.draw(form_bodies(AUTHORIZE_NAMES[:7], value), label="query")
    headers = user_header(user)
    response = await fuzz.request("GET", f"{mount}/authorize", query=query, headers=headers)
    checks.authorize(response, mount=mount, method="GET", headers=headers, clients=fuzz.clients, sent=None)


@budget(80)
@given(data=st.data(), mount=mounts, decision=st.sampled_from(["allow", "deny"]) | awkward_text)
async def test_consent_form_submissions(fuzz: Fuzz, data: st.DataObject, mount: str, decision: str) -> None:
    """The consent form posted back with its fields, CSRF token or user tampered with, or replayed."""
    fuzz.example()
    query = {"response_type": "code", "client_id": "web", "redirect_uri": "https://web.test/cb", "state": "st"}
    query |= {"code_challenge": pkce_pair("v" * 43), "code_challenge_method": "S256"}
    page = await fuzz.request("GET", f"{mount}/authorize", params=list(query.items()), headers=user_header(b"alice"))
    fields = consent_fields(page.text) if page.status_code == 200 else query
    tampered = data.draw(st.sets(st.sampled_from(AUTHORIZE_NAMES[:8])), label="tampered")
    for name in sorted(tampered):
        fields[name] = data.draw(values(fields.get(name, ""), fields.get(name, "") + "x"), label=name)
    form = {**fields, "decision": decision}
    user = data.draw(st.sampled_from([b"alice", b"bob"]) | users, label="user")
    headers = [(b"content-type", FORM.encode()), *user_header(user)]
    for _ in range(data.draw(st.integers(1, 2), label="times posted")):
        response = await fuzz.request("POST", f"{mount}/authorize", body=urlencode(form).encode(), headers=headers)
        # Tampered fields make it a different request; the checks then have no exact account of it.
        sent = checks.Sent(form) if not tampered and "\x00" not in decision else None
        checks.authorize(response, mount=mount, method="POST", headers=headers, clients=fuzz.clients, sent=sent)


@budget(80)
@given(
    data=st.data(),
    mount=mounts,
    method=st.sampled_from(["GET", "POST"]) | st.sampled_from(METHODS),
    content_type=content_types(),
    junk=junk_headers(),
)
async def test_methods_bodies_and_headers(
    fuzz: Fuzz, data: st.DataObject, mount: str, method: str, content_type: bytes | None, junk: Headers
) -> None:
    """Odd methods, POST bodies of any encoding and size, odd content types, Host and other junk headers."""
    fuzz.example()
    body = data.draw(form_bodies(AUTHORIZE_NAMES, values("code", "web", "https://web.test/cb", "allow")), label="body")
    headers = [*junk, *([(b"content-type", content_type)] if content_type is not None else [])]
    length = data.draw(st.none() | st.sampled_from(CONTENT_LENGTHS), label="content-length")
    if length is not None:
        headers.append((b"content-length", length))
    response = await fuzz.request(method, f"{mount}/authorize", body=body, headers=headers)
    checks.authorize(response, mount=mount, method=method, headers=headers, clients=fuzz.clients, sent=None)


async def test_405_page_names_the_allowed_methods(fuzz: Fuzz) -> None:
    response = await fuzz.http.request("PUT", "/oauth/authorize")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


@pytest.mark.parametrize("user", [None, b"alice"])
async def test_a_posted_request_whose_query_string_is_not_utf_8(fuzz: Fuzz, user: bytes | None) -> None:
    """POST reads the form, not the query: a query of other bytes (a server hands it on as it came) must not
    break the sign-in hand-off or the consent page, which read the request's path."""
    params = {"response_type": "code", "client_id": "web", "redirect_uri": CALLBACK, "state": "s"}
    params |= {"code_challenge": pkce_pair(fuzz.live["verifier"]), "code_challenge_method": "S256"}
    headers = [(b"content-type", FORM.encode()), *user_header(user)]
    body = urlencode(params).encode()
    response = await fuzz.request("POST", "/oauth/authorize", headers=headers, body=body, query=b"\x80\xff")
    checks.authorize(response, mount="/oauth", method="POST", headers=headers, clients=fuzz.clients, sent=None)
    assert response.status_code == (200 if user else 302), response.text[:300]
