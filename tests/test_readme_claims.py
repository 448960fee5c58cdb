"""What the documentation claims in prose holds as written, and the product's files speak to users, not to a
tracker."""

from __future__ import annotations

import ast
import json
import re

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asgi_oauth import BearerTokenMiddleware, LocalValidator, MemoryStore, load_settings, protect
from asgi_oauth.demo import create_demo_app

from .docs.pages import doc_section
from .mcp.test_conformance import NO_WARNING_SETTINGS
from .serving import ROOT

NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def test_the_readme_counts_the_mcp_examples_tools() -> None:
    tree = ast.parse((ROOT / "examples" / "mcp_server.py").read_text())
    tools = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef)
        for decorator in node.decorator_list
        if isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr == "tool"
    ]
    count = len(tools)
    assert count >= 1
    wiring = " ".join(doc_section("Wiring the `mcp` SDK by hand").split())
    assert f"is the whole app, {NUMBERS[count]} tool{'s' if count > 1 else ''}," in wiring


async def test_the_conformance_claim_names_the_setting_that_silences_the_warning() -> None:
    """The documentation's "no warning" holds with what the conformance test sets, and it says that the demo's
    defaults do not advertise Client ID Metadata Documents, which the suite warns about."""
    claim = " ".join(doc_section("Where it stands").split())
    for name, value in NO_WARNING_SETTINGS.items():
        assert f"with no warning once `{name}={value}`" in claim
    assert "with the defaults its 2025-11-25 and later runs warn" in claim

    async def advertised(**settings: object) -> object:
        app = create_demo_app(load_settings(**settings), MemoryStore(), users={"alice": "wonderland"})
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http:
            metadata = (await http.get("/.well-known/oauth-authorization-server/oauth")).json()
        return metadata.get("client_id_metadata_document_supported")

    assert await advertised() is None
    assert await advertised(enable_client_id_metadata_documents=True) is True


async def test_the_missing_token_answer_is_the_one_the_middleware_page_quotes() -> None:
    """ "The middleware" quotes the body and challenge of a protected path asked without a token: both as sent."""
    text = " ".join(doc_section("The middleware").split())
    quoted = json.loads(re.search(r"the JSON body says `(\{.*?\})`", text).group(1))  # type: ignore[union-attr]

    async def route(request: Request) -> JSONResponse:
        return JSONResponse({})

    app = Starlette(routes=[Route("/api/me", route)])
    app.add_middleware(BearerTokenMiddleware, validator=LocalValidator(MemoryStore()), rules=[protect("/api")])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        answer = await http.get("/api/me")
    assert answer.status_code == 401 and answer.json() == quoted
    assert (
        answer.headers["www-authenticate"].startswith('Bearer realm="')
        and "error=" not in answer.headers["www-authenticate"]
    )


#: A tracker's issue number (the word, a space, a number; or two numbers joined by "and"): nothing to a user.
TRACKER_REFERENCE = re.compile(r"\b[Ii]ssue \d|\b[Ii]ssues \d+ and \d")
SCANNED = ("asgi_oauth", "tests", "benchmarks", "examples", "docs")


def test_no_tracker_issue_numbers_in_the_product() -> None:
    files = [ROOT / "README.md", ROOT / "noxfile.py"]
    for top in SCANNED:
        files += [
            path
            for path in (ROOT / top).rglob("*")
            if path.suffix in (".py", ".md", ".lua", ".toml", ".txt")
            and not {"node_modules", ".conformance", "__pycache__"} & set(path.parts)
        ]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if TRACKER_REFERENCE.search(line)
    ]
    assert found == []
