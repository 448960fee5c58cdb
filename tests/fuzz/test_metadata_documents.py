"""Client ID Metadata Documents at ``/full`` under hostile client ids and hostile documents.

Documents are served from memory (:class:`~tests.web.test_cimd.Documents`), never fetched from the network: a
client id is any text or an https URL with an IDN, punycode or broken host, any port and a path in any
script, and what is served there is any JSON, status and caching header. Whatever it is, ``/authorize`` answers
a page or redirects only to a redirect URI the document lists, a signed-in user gets through consent and the
code exchange, and the token endpoint answers RFC 6749 section 5.2.
"""

from __future__ import annotations

import itertools
import json
from typing import Any
from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from asgi_oauth.cimd.documents import DocumentError, Fetched, is_document_url, parse

from ..web.helpers import Registered
from . import checks
from .conftest import budget
from .harness import FULL, LOOPBACK, SIGNED_IN, Fuzz, pkce_pair
from .strategies import awkward_text, https_urls, json_bodies, json_values, uri_like, values, weighted
from .test_authorize import Headers, follow, no_nul

SIGNED_IN_HEADERS: Headers = [(name.encode(), value.encode()) for name, value in SIGNED_IN.items()]
#: Numbers each example's document URL apart from every other.
serial = itertools.count()


def own_url(url: str) -> str:
    """``url`` with a path segment no other example has: the server keeps a document (or its failure) a minute."""
    authority, _, path = url.removeprefix("https://").partition("/")
    return f"https://{authority}/{next(serial)}/{path}"


def documents(url: str) -> st.SearchStrategy[Any]:
    """What the document at ``url`` says: a usable one (its redirect URIs in any script) with a field or two
    made hostile, or any JSON."""
    uris = st.lists(st.sampled_from([LOOPBACK, "http://127.0.0.1:5173/cb", "myapp:/cb"]) | https_urls, max_size=3)
    fields: dict[str, st.SearchStrategy[Any]] = {
        "client_id": st.sampled_from([url, url.upper(), url + "/"]) | values(huge=False),
        "redirect_uris": uris | json_values,
        "client_name": values() | json_values,
        "scope": st.sampled_from(["read", "openid read", ""]) | values(huge=False) | json_values,
        "token_endpoint_auth_method": st.sampled_from(["none", "client_secret_basic"]) | json_values,
        "logo_uri": https_urls | json_values,
    }
    usable = st.fixed_dictionaries(
        {"client_id": st.just(url), "redirect_uris": st.lists(https_urls, min_size=1, max_size=3)},
        optional={"client_name": st.text(max_size=20)},
    )
    names = st.lists(st.sampled_from(sorted(fields)), max_size=2, unique=True)
    changed = names.flatmap(lambda chosen: st.fixed_dictionaries({name: fields[name] for name in chosen}))
    return weighted((4, st.builds(lambda base, c: {**base, **c}, usable, changed)), (1, json_values))


#: (client id, whether it is a URL of its own, which no earlier example's document was kept for)
own_urls = https_urls.map(lambda url: (own_url(url), True))
client_ids = (
    own_urls | own_urls | own_urls | st.tuples(uri_like() | awkward_text.map(lambda t: "https://" + t), st.just(False))
)


@budget(150)
@given(data=st.data(), named=client_ids)
async def test_document_clients(fuzz: Fuzz, data: st.DataObject, named: tuple[str, bool]) -> None:
    """A client named by any URL, described by any document (or by none), at /authorize and /token."""
    fuzz.example()
    url, own = named
    client = None
    if own and data.draw(st.sampled_from([True] * 5 + [False]), label="served"):
        said = documents(url)
        body = data.draw(weighted((4, said.map(lambda d: json.dumps(d).encode())), (1, json_bodies(said))))
        status = data.draw(st.sampled_from([200] * 10 + [404, 301, 500]), label="status")
        types = st.sampled_from(["application/json"] * 6 + ["application/x+json", "text/html", "\u00e9/json"])
        media = data.draw(types, label="content-type")
        control = st.sampled_from(["", "max-age=300", "no-store", "max-age=99999999999999999999"]) | awkward_text
        fetched = Fetched(status, {"content-type": media, "cache-control": data.draw(control)}, body)
        fuzz.documents.documents[url] = fetched
        # What the server may believe of the client: the document's redirect URIs, if it describes one at all.
        try:
            client = parse(url, fetched, max_bytes=5120) if is_document_url(url) else None
        except DocumentError:
            client = None
    clients = fuzz.clients if client is None else {**fuzz.clients, url: Registered(client, None)}
    params = {"response_type": "code", "client_id": url, "code_challenge": pkce_pair(fuzz.live["verifier"])}
    params |= {"code_challenge_method": "S256", "state": "s"}
    params["scope"] = data.draw(st.sampled_from(["read", "read write", "openid read"]), label="scope")
    if "openid" in params["scope"]:
        params["nonce"] = data.draw(no_nul(values(huge=False)), label="nonce")
    redirect = data.draw(st.none() | st.sampled_from(client.redirect_uris if client else [LOOPBACK]), label="uri")
    if redirect is not None:
        params["redirect_uri"] = redirect
    if "\x00" not in url:
        await follow(fuzz, FULL, params, list(SIGNED_IN_HEADERS), clients)
    form = {"grant_type": "authorization_code", "code": "x", "client_id": url}
    headers: Headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    response = await fuzz.request("POST", f"{FULL}/token", headers=headers, body=urlencode(form).encode())
    checks.form_endpoint(response, "token", "POST", headers)
