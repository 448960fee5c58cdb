"""Client ID Metadata Documents through the real app, on both stores, with an offline fetcher: a client named by
an https URL is described by the document there, and only a document that says exactly that is believed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from asgi_oauth import Store
from asgi_oauth.cimd.documents import DocumentError, Fetched, cache_seconds, is_document_url
from asgi_oauth.cimd.fetch import document_fetcher, public_address

from .conftest import MakeServer
from .helpers import TOKEN, pkce_pair
from .test_authorize import Browser, redirect_params, resolve_user

CLIENT = "https://app.example/oauth/client.json"
CALLBACK = "http://127.0.0.1/callback"


class Documents:
    """The fetcher tests hand the server: documents by URL, and a count of fetches."""

    def __init__(self) -> None:
        self.documents: dict[str, Fetched] = {}
        self.fetches: list[str] = []

    def serve(self, url: str, body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.documents[url] = Fetched(status, {"content-type": "application/json", **(headers or {})}, raw)

    async def __call__(self, url: str) -> Fetched:
        self.fetches.append(url)
        if url not in self.documents:
            raise DocumentError("the client's metadata document could not be fetched (ConnectError)")
        return self.documents[url]


def document(**overrides: Any) -> dict[str, Any]:
    return {"client_id": CLIENT, "client_name": "Example <App>", "redirect_uris": [CALLBACK], **overrides}


@pytest.fixture
def documents() -> Documents:
    served = Documents()
    served.serve(CLIENT, document(), headers={"cache-control": "max-age=300"})
    return served


async def browser_for(make_server: MakeServer, documents: Documents, **settings: Any) -> Browser:
    options = {"user_resolver": resolve_user, "document_fetcher": documents}
    server = await make_server(stored=[], password_verifier=None, oauth_options=options, **settings)
    return Browser(server.http, server.oauth, {})


async def test_a_document_client_signs_in_with_pkce_and_gets_tokens(
    make_server: MakeServer, documents: Documents
) -> None:
    browser = await browser_for(make_server, documents, enable_client_id_metadata_documents=True)
    verifier, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": CLIENT, "redirect_uri": "http://127.0.0.1:5173/callback"}
    page = await browser.authorize(**query, state="s", code_challenge=challenge, code_challenge_method="S256")
    assert page.status_code == 200, page.text
    assert "Example &lt;App&gt;" in page.text and "127.0.0.1" in page.text  # the name escaped, the redirect host
    done = await browser.submit(page)
    code = redirect_params(done)["code"]
    form = {"grant_type": "authorization_code", "code": code, "client_id": CLIENT, "code_verifier": verifier}
    form["redirect_uri"] = "http://127.0.0.1:5173/callback"
    tokens = await browser.http.post(TOKEN, data=form)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["refresh_token"]
    # Fetched once, then kept as its Cache-Control allows.
    assert documents.fetches == [CLIENT]


async def test_the_metadata_says_so_exactly_when_it_is_on(make_server: MakeServer, documents: Documents) -> None:
    on = await browser_for(make_server, documents, enable_client_id_metadata_documents=True)
    assert on.oauth.metadata["client_id_metadata_document_supported"] is True
    off = await browser_for(make_server, documents)
    assert "client_id_metadata_document_supported" not in off.oauth.metadata


async def test_off_by_default(make_server: MakeServer, documents: Documents) -> None:
    browser = await browser_for(make_server, documents)
    page = await browser.authorize(response_type="code", client_id=CLIENT, redirect_uri=CALLBACK)
    assert page.status_code == 400
    assert "not registered here" in page.text
    assert documents.fetches == []


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (document(client_id="https://evil.example/client.json"), "client_id is not the URL it was fetched from"),
        (document(token_endpoint_auth_method="client_secret_basic"), "must use token_endpoint_auth_method none"),
        (document(grant_types=["client_credentials"]), "may use only authorization_code, refresh_token"),
        (document(token_endpoint_auth_method=["none"]), "must be a string"),  # found by tests/fuzz
        (document(redirect_uris=[]), "needs redirect_uris"),
        (document(redirect_uris=["https://app.example/cb#frag"]), "needs redirect_uris"),
        (document(redirect_uris=["http://127.0.0.1:99999/callback"]), "needs redirect_uris"),
        (b"<html>not json</html>", "not valid JSON"),
        ([CLIENT], "not a JSON object"),
        (b"{" + b" " * 6000 + b"}", "larger than 5120 bytes"),
        (b"[" * 5000, "not valid JSON"),  # deeper than Python's JSON parser goes
        (json.dumps(document(redirect_uris=["http://127.0.0.1/\ud800"])).encode(), "not valid JSON"),  # no text
    ],
)
async def test_a_document_that_says_something_else_is_refused_on_a_page(
    make_server: MakeServer, documents: Documents, body: Any, why: str
) -> None:
    documents.serve(CLIENT, body)
    browser = await browser_for(make_server, documents, enable_client_id_metadata_documents=True)
    page = await browser.authorize(response_type="code", client_id=CLIENT, redirect_uri=CALLBACK)
    assert page.status_code == 400
    assert why in page.text
    assert "location" not in page.headers


async def test_a_redirect_uri_the_document_does_not_list_is_refused(
    make_server: MakeServer, documents: Documents
) -> None:
    browser = await browser_for(make_server, documents, enable_client_id_metadata_documents=True)
    page = await browser.authorize(response_type="code", client_id=CLIENT, redirect_uri="https://evil.example/cb")
    assert page.status_code == 400
    assert "location" not in page.headers


async def test_a_failing_document_is_fetched_once_however_often_it_is_named(
    make_server: MakeServer, documents: Documents
) -> None:
    missing = "https://gone.example/client.json"
    browser = await browser_for(make_server, documents, enable_client_id_metadata_documents=True)
    for _ in range(20):
        page = await browser.authorize(response_type="code", client_id=missing, redirect_uri=CALLBACK)
        assert page.status_code == 400
        token = await browser.http.post(
            TOKEN, data={"grant_type": "authorization_code", "code": "x", "client_id": missing}
        )
        assert token.status_code == 401 and token.json()["error"] == "invalid_client"
    assert documents.fetches == [missing]


@pytest.mark.parametrize(
    ("client_id", "is_document"),
    [
        (CLIENT, True),
        ("https://app.example/", False),
        ("https://app.example", False),
        ("http://app.example/client.json", False),
        ("https://app.example/client.json#x", False),
        ("https://user@app.example/client.json", False),
        ("https://app.example/a/../client.json", False),
        ("https://10.0.0.1/client.json", False),
        ("https://127.0.0.1/client.json", False),
        ("https://[::1]/client.json", False),
        ("demo-client", False),
        ("https://\u00e9xample.test/client.json", True),  # an IDN host is a name
        ("https://app.example:99999/client.json", False),  # not URLs: no port, no DNS name, control characters
        ("https://app.example:x/client.json", False),
        ("https://a..b.example/client.json", False),
        ("https://\u200b.example/client.json", False),
        ("https://" + "a" * 64 + ".example/client.json", False),
        ("https://app.example/client\x00.json", False),
        ("https://app.example/my client.json", False),
    ],
)
def test_which_client_ids_name_a_document(client_id: str, is_document: bool) -> None:
    assert is_document_url(client_id) is is_document


@pytest.mark.parametrize(
    ("control", "seconds"),
    [("max-age=300", 300), ("public, max-age=999999", 86400), ("max-age=5", 60), ("no-store", 60), ("", 60)],
)
def test_documents_are_kept_as_their_cache_headers_allow_within_bounds(control: str, seconds: float) -> None:
    assert cache_seconds({"cache-control": control}, least=60, most=86400) == seconds


#: Client ids the https fetcher cannot take apart; each is refused before any name is resolved.
MALFORMED = ["https://app.example:99999/client.json", "https://app.example:x/client.json"]
MALFORMED += ["https://a..b.example/client.json", "https://\u200b.example/client.json"]


@pytest.mark.parametrize("client_id", MALFORMED)
async def test_a_malformed_document_url_is_an_unknown_client_with_the_real_fetcher(
    make_server: MakeServer, client_id: str
) -> None:
    server = await make_server(
        stored=[],
        password_verifier=None,
        oauth_options={"user_resolver": resolve_user},
        enable_client_id_metadata_documents=True,
    )
    _, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK, "code_challenge": challenge}
    page = await server.http.get("/oauth/authorize", params=query)
    assert page.status_code == 400 and "location" not in page.headers
    token = await server.http.post(
        TOKEN, data={"grant_type": "authorization_code", "code": "x", "client_id": client_id}
    )
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"


@pytest.mark.parametrize("url", [*MALFORMED, "https://app.example/client\x00.json"])
async def test_the_fetcher_refuses_a_url_it_cannot_take_apart(url: str) -> None:
    with pytest.raises(DocumentError):
        await document_fetcher()(url)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1"])
async def test_the_fetcher_refuses_hosts_inside_the_network(host: str) -> None:
    with pytest.raises(DocumentError, match="not on the public internet"):
        await public_address(host, 443)


@pytest.mark.parametrize(
    ("asked", "cap", "granted"),
    [("read write admin", "read write", "read write"), ("", "read write", "read write"), ("read", "", "")],
)
async def test_a_document_client_gets_scopes_only_within_the_registration_cap(
    make_server: MakeServer, documents: Documents, asked: str, cap: str, granted: str
) -> None:
    documents.serve(CLIENT, document(scope=asked))
    browser = await browser_for(
        make_server, documents, enable_client_id_metadata_documents=True, dynamic_registration_scopes=cap
    )
    client = await browser.oauth.context.clients.get(CLIENT)
    assert client is not None and client.scope == granted


async def test_every_worker_uses_the_document_one_of_them_fetched(
    make_server: MakeServer, documents: Documents, store: Store
) -> None:
    workers = [
        await browser_for(make_server, documents, store=store, enable_client_id_metadata_documents=True)
        for _ in range(3)
    ]
    _, challenge = pkce_pair()
    for worker in workers:
        query = {"response_type": "code", "client_id": CLIENT, "redirect_uri": CALLBACK}
        page = await worker.authorize(**query, code_challenge=challenge, code_challenge_method="S256")
        assert page.status_code == 200, page.headers.get("location")
    assert documents.fetches == [CLIENT]  # fetched by the first, kept in the store for the others
