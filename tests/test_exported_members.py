"""The public API is exactly ``asgi_oauth.__all__``: every name listed exists, and nothing public is unlisted."""

from __future__ import annotations

import importlib

import pytest

import asgi_oauth


def test_all_lists_exactly_the_public_names() -> None:
    for name in asgi_oauth.__all__:
        getattr(asgi_oauth, name)  # public names load on first use; load them all, as imports would
    public = {name for name in vars(asgi_oauth) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(asgi_oauth, name)).__name__ == "module"}
    assert len(set(asgi_oauth.__all__)) == len(asgi_oauth.__all__)  # ruff (RUF022) keeps it sorted
    assert set(asgi_oauth.__all__) == public - modules - {"annotations"}
    assert set(asgi_oauth.__all__) <= set(dir(asgi_oauth))


@pytest.mark.parametrize(
    "name",
    [
        "asgi_oauth.features",
        "asgi_oauth.features.device",
        "asgi_oauth.features.oidc",
        "asgi_oauth.features.par",
        "asgi_oauth.store",
        "asgi_oauth.testing",
    ],
)
def test_the_modules_for_extenders_and_store_authors_list_exactly_their_public_names(name: str) -> None:
    """``asgi_oauth.features`` for whoever writes a feature, ``asgi_oauth.store`` and ``asgi_oauth.testing`` for
    whoever writes a storage backend: each ``__all__`` is what the module offers, no more and no less."""
    module = importlib.import_module(name)
    for exported in module.__all__:
        getattr(module, exported)
    assert len(set(module.__all__)) == len(module.__all__)
    # Defined here and public: listed. Names imported for its own use (Any, Mapping) are not offered.
    defined = {n for n, v in vars(module).items() if not n.startswith("_") and getattr(v, "__module__", "") == name}
    assert defined <= set(module.__all__), defined - set(module.__all__)


def test_every_exported_name_resolves() -> None:
    for name in asgi_oauth.__all__:
        assert getattr(asgi_oauth, name) is not None, name


def test_the_examples_and_the_documentation_import_only_public_names() -> None:
    """Users copy them: every ``asgi_oauth`` import in the examples and in the Python blocks of the README and
    docs/ (run or fragments) is from the package itself or its optional public modules (``asgi_oauth.testing``,
    ``asgi_oauth.mcp``, ``asgi_oauth.mcp.fastmcp``)."""
    import ast

    from .docs.pages import DOC_TEXTS, blocks
    from .serving import ROOT as root

    sources = {path.name: path.read_text() for path in (root / "examples").glob("*.py")}
    for path, text in DOC_TEXTS.items():
        for index, block in enumerate(blocks(text, "python", "py", "")):
            sources[f"{path.relative_to(root)} block {index}"] = block
    allowed = {"asgi_oauth", "asgi_oauth.testing", "asgi_oauth.mcp", "asgi_oauth.mcp.fastmcp"}
    allowed |= {"asgi_oauth.features", "asgi_oauth.features.device", "asgi_oauth.features.oidc"}
    allowed |= {"asgi_oauth.features.par", "asgi_oauth.features.dpop", "asgi_oauth.store"}
    for where, source in sources.items():
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue  # shell or text blocks
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("asgi_oauth"):
                assert node.module in allowed, f"{where}: from {node.module} import ..."
                for alias in node.names:
                    if node.module == "asgi_oauth":
                        assert alias.name in asgi_oauth.__all__, f"{where}: {alias.name} is not public"
            elif isinstance(node, ast.Import):
                assert all(not a.name.startswith("asgi_oauth.") for a in node.names), where
