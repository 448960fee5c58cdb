"""/authorize under hostile input: never a 5xx, never a redirect to an unregistered URI.

Until the client and its redirect URI are established the answer is an HTML page with status 400;
after that, errors go back to the client's redirect URI with ``error``, ``state`` and ``iss``
(RFC 6749 section 4.1.2.1, RFC 9207). checks.authorize states both, with an independent account of
which redirect URIs may be trusted (exact match; any port for a public client's loopback IP URI).
"""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from . import checks
from .conftest import budget
from .harness import MOUNTS, USER_HEADER, Fuzz, consent_fields, pkce_pair
from .strategies import (
    CONTENT_LENGTHS,
    FORM,
    METHODS,
    awkward_text,
    content_types,
    form_bodies,
    junk_headers,
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
mounts = st.sampled_from(sorted(MOUNTS))
#: Who the host says is signed in: nobody, a plain user, or a name made of awkward bytes.
users = st.one_of(st.none(), st.just(b"alice"), st.binary(min_size=1, max_size=40).filter(lambda b: b.strip()))


def user_header(user: bytes | None) -> Headers:
    return [(USER_HEADER.encode(), user)] if user is not None else []


@st.composite
def parameters(draw: st.DrawFn, fuzz: Fuzz) -> dict[str, str]:
    """Each name at most once and no NUL: a request whose parameters the server parses exactly as sent.

    Mostly the client is a registered one and often the redirect URI one of its own (or left out), so
    the request gets past the first phase and the checks after it see the hostile values.
    """
    clean = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
    known, unknown = st.sampled_from(sorted(fuzz.clients)), st.sampled_from(["nobody", "web ", "WEB"])
    client_id = draw(st.one_of(known, known, known, unknown, clean), label="client_id")
    registered = fuzz.clients[client_id].client.redirect_uris if client_id in fuzz.clients else ()
    own = st.sampled_from(registered) if registered else st.nothing()
    options = {
        "response_type": st.sampled_from(["code", "code", "token", "code token", "id_token", "CODE"]) | clean,
        "scope": scopes().filter(lambda v: "\x00" not in v),
        "state": st.sampled_from(["s", "a&b=c#d", "\u2603", "x" * 5000]) | clean,
        "code_challenge": pkce_values().filter(lambda v: "\x00" not in v),
        "code_challenge_method": st.sampled_from(["S256", "S256", "plain", "s256", "SHA256"]) | clean,
    }
    params = {"client_id": client_id}
    if draw(st.integers(0, 4), label="redirect_uri sent") > 0:
        params["redirect_uri"] = draw(own | redirect_uris().filter(lambda v: "\x00" not in v), label="redirect_uri")
    for name in draw(st.sets(st.sampled_from(sorted(options))), label="names"):
        params[name] = draw(options[name], label=name)
    return params


@budget(200)
@given(data=st.data(), mount=mounts, user=users)
async def test_authorization_requests(fuzz: Fuzz, data: st.DataObject, mount: str, user: bytes | None) -> None:
    """GET with any combination of the parameters: a page before trust, a redirect (or consent page) after."""
    fuzz.example()
    params = data.draw(parameters(fuzz), label="params")
    headers = user_header(user)
    response = await fuzz.request("GET", f"{mount}/authorize", params=list(params.items()), headers=headers)
    checks.authorize(
        response, mount=mount, method="GET", headers=headers, clients=fuzz.clients, sent=checks.Sent(params)
    )


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
