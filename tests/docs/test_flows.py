"""docs/flows.md and every other page's Mermaid diagrams: a cheap structural check that each is plausible Mermaid
(the site's build renders them; this catches a typo before that): a known diagram type first, every participant
a sequence diagram uses declared, blocks closed, nothing Mermaid reads differently from what it shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .pages import DOC_TEXTS, DOCS, blocks, section, sections

DIAGRAMS = [(path, n, block) for path, text in DOC_TEXTS.items() for n, block in enumerate(blocks(text, "mermaid"))]

#: A sequence diagram's message: ``A->>B: text`` and the other arrows (solid, dotted, cross, open).
MESSAGE = re.compile(r"^\s*([\w]+)\s*(?:-?->>|-?->|-?-x|-?-\))\s*([+-]?)([\w]+)\s*:(.*)$")
DECLARED = re.compile(r"^\s*(?:participant|actor)\s+([\w]+)(?:\s+as\s+(.+))?$")
NOTE = re.compile(r"^\s*Note\s+(?:over|left of|right of)\s+([\w, ]+):(.*)$")
OPENERS = ("loop", "alt", "opt", "par", "critical", "break", "rect")
FLOW_HEADER = re.compile(r"^(flowchart|graph)\s+(TB|TD|BT|RL|LR)$")


def test_the_pages_have_diagrams() -> None:
    flows = [block for path, _, block in DIAGRAMS if path == DOCS / "flows.md"]
    assert len(flows) == 7  # six flows and the deployment
    headings = [heading for heading, body in sections((DOCS / "flows.md").read_text()) if "```mermaid" in body]
    assert headings == [
        "Flow: authorization code with PKCE and consent",
        "Flow: client credentials",
        "Flow: refresh rotation and reuse detection",
        "Flow: device authorization",
        "Flow: MCP, from discovery to a tool call",
        "Flow: revocation reaching every worker",
        "Flow: the deployment",
    ]


@pytest.mark.parametrize(("path", "n", "block"), DIAGRAMS, ids=lambda v: v.name if isinstance(v, Path) else None)
def test_each_diagram_is_plausible_mermaid(path: Path, n: int, block: str) -> None:
    lines = [line for line in block.splitlines() if line.strip() and not line.strip().startswith("%%")]
    header = lines[0].strip()
    assert header == "sequenceDiagram" or FLOW_HEADER.match(header), header
    if header == "sequenceDiagram":
        check_sequence(lines[1:])
    else:
        check_flowchart(lines[1:])


def check_sequence(lines: list[str]) -> None:
    declared: set[str] = set()
    depth = 0
    for line in lines:
        text = line.strip()
        if text == "autonumber":
            continue
        if match := DECLARED.match(text):
            assert match.group(1) not in declared, f"declared twice: {text}"
            declared.add(match.group(1))
            continue
        if match := MESSAGE.match(text):
            source, _, target, said = match.groups()
            assert {source, target} <= declared, f"undeclared participant in: {text}"
            assert said.strip(), f"a message without text: {text}"
            check_label(said)
            continue
        if match := NOTE.match(text):
            named = {name.strip() for name in match.group(1).split(",")}
            assert named <= declared, f"undeclared participant in: {text}"
            check_label(match.group(2))
            continue
        word = text.split()[0]
        if word in OPENERS:
            depth += 1
        elif word == "else":
            assert depth > 0, text
        elif word == "end":
            depth -= 1
            assert depth >= 0, "an end without a block"
        else:
            pytest.fail(f"not a sequence diagram statement: {text}")
    assert depth == 0, "a block left open"
    assert len(declared) >= 2


def check_label(text: str) -> None:
    """What Mermaid would not show as written: ``;`` ends a statement, ``#`` starts an entity, ``<x>`` is a tag
    (but ``<br/>``, the line break that keeps a long message narrow)."""
    assert ";" not in text and "#" not in text, text
    assert not re.search(r"<\w", text.replace("<br/>", "")), text


NODE = re.compile(r"\b(\w+)\s*(\[\(|\(\[|\[|\(|\{)")


def check_flowchart(lines: list[str]) -> None:
    depth = 0
    defined: set[str] = set()
    used: set[str] = set()
    for line in lines:
        text = line.strip()
        if text.startswith("subgraph "):
            depth += 1
            defined.add(re.split(r"[\[\s]", text.removeprefix("subgraph "), maxsplit=1)[0])
            continue
        if text == "end":
            depth -= 1
            assert depth >= 0, "an end without a subgraph"
            continue
        labels = re.findall(r'"([^"]*)"', text)
        for label in labels:
            check_label(label)
        bare = re.sub(r'"[^"]*"', '""', text)
        defined.update(NODE.findall(bare) and [m[0] for m in NODE.findall(bare)])
        # Every node id on the line: what stands before a shape, an arrow, or at the line's end.
        used.update(re.findall(r"(?:^|-->|-\.->|\.->|--|==>)\s*(\w+)", bare))
    assert depth == 0, "a subgraph left open"
    assert used <= defined, f"nodes used but never given a label: {sorted(used - defined)}"


async def test_the_flows_page_names_real_endpoints() -> None:
    """Every ``/oauth/...`` path the page names is one this server serves, with the features the page shows on,
    and so are the root metadata paths the MCP diagram names."""
    import httpx
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from asgi_oauth import (
        DeviceAuthorization,
        DynamicRegistration,
        MemoryStore,
        OAuthServer,
        PasswordSignIn,
        discovery_routes,
        load_settings,
    )

    async def nobody(username: str, password: str) -> None:
        return None

    oauth = OAuthServer(
        load_settings(issuer="https://app.example/oauth"),
        store=MemoryStore(),
        sign_in=PasswordSignIn(nobody),
        features=[DeviceAuthorization(), DynamicRegistration()],
    )
    app = Starlette(routes=[*discovery_routes(oauth), Mount("/oauth", app=oauth)])
    text = (DOCS / "flows.md").read_text()
    named = set(re.findall(r"(/oauth/[a-z_/-]*[a-z])", text))
    assert {"/oauth/authorize", "/oauth/token", "/oauth/revoke", "/oauth/device", "/oauth/register"} <= named
    named.add("/.well-known/oauth-authorization-server/oauth")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://app.example") as http:
        for path in sorted(named):
            assert (await http.get(path)).status_code != 404, path
    await oauth.aclose()
    assert section("flows", "Flow: the deployment")
