"""The documentation site's generated reference pages (docs/hooks/reference.py), checked without MkDocs: every
setting, command and public name is on its page, as the code has it. ``nox -s docs`` builds the site itself."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from asgi_oauth import environment
from asgi_oauth.cli import build_parser
from asgi_oauth.settings import OAuthSettings

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ROOT / "docs" / "hooks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_hooks_{name}", HOOKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


reference = _load("reference")


@pytest.fixture(scope="module")
def settings_page() -> str:
    page, problems = reference.settings_page()
    assert problems == []  # every field says what it means
    return str(page)


def _row(page: str, variable: str) -> str:
    (row,) = [line for line in page.splitlines() if line.split(" | ")[0].endswith(f"</span>`{variable}`")]
    return row


def test_the_settings_page_has_every_variable_the_server_reads(settings_page: str) -> None:
    listed = set(re.findall(r"^\| <span id=\"[a-z0-9_]+\"></span>`(ASGI_OAUTH_[A-Z0-9_]+)`", settings_page, re.M))
    known = environment._known_variables() - {f"{environment.ENV_PREFIX}TEST_REDIS_URL"}
    known -= {f"{environment.ENV_PREFIX}FUZZ_SCALE"}  # the test suite's, not a user's
    assert listed == known


def test_each_settings_row_is_the_field_as_the_code_has_it(settings_page: str) -> None:
    for section in reference.settings_sections():
        for name, field in section.model.model_fields.items():
            row = _row(settings_page, section.variable(name))
            assert f'<span id="{section.variable(name).lower()}">' in row
            assert reference.format_default(name, field) in row
            for limit in reference.field_limits(field):
                assert limit in row, (name, limit)
    access = _row(settings_page, "ASGI_OAUTH_ACCESS_TOKEN_LIFETIME")
    assert "| `3600` (1 h) |" in access and "> 0" in access and "≤ 86400" in access
    assert "| `1209600` (14 days) |" in _row(settings_page, "ASGI_OAUTH_REFRESH_TOKEN_LIFETIME")
    poll = _row(settings_page, "ASGI_OAUTH_DEVICE_POLL_INTERVAL")
    assert "| `5` |" in poll and "≥ 1" in poll and "≤ 60" in poll
    assert "one of `RS256`, `ES256`" in _row(settings_page, "ASGI_OAUTH_OIDC_SIGNING_ALG")
    assert "| `true` |" in _row(settings_page, "ASGI_OAUTH_REQUIRE_PKCE")
    assert "| unset |" in _row(settings_page, "ASGI_OAUTH_REDIS_URL")
    # The meaning is the field's #: comment, Sphinx roles made Markdown.
    assert "the URL where the sub-app is mounted" in _row(settings_page, "ASGI_OAUTH_ISSUER")
    assert "`DeviceSettings`" in _row(settings_page, "ASGI_OAUTH_ENABLE_DEVICE_AUTHORIZATION")
    assert ":class:" not in settings_page


def test_the_sections_are_the_core_and_each_builtin_features_own() -> None:
    sections = reference.settings_sections()
    assert sections[0].model is OAuthSettings and sections[0].features == ()
    by_model = {section.model.__name__: section.features for section in sections[1:]}
    assert by_model["AssertionSettings"] == ("private_key_jwt", "jwt_bearer")  # one section, shared
    assert by_model["DeviceSettings"] == ("device",)
    assert {s.prefix for s in sections} >= {"ASGI_OAUTH_", "ASGI_OAUTH_DEVICE_", "ASGI_OAUTH_DPOP_"}


def test_a_field_without_a_comment_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "uncommented_settings.py").write_text(
        "from pydantic_settings import BaseSettings\n\n\n"
        "class Section(BaseSettings):\n"
        "    #: Said.\n"
        "    #: On two lines.\n"
        "    said: int = 1\n"
        "    unsaid: int = 2\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("uncommented_settings")
    assert reference.field_comments(module.Section) == {"said": "Said. On two lines.", "unsaid": None}


def _commands(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, f"{prefix} {name}")
    return found


def test_the_cli_page_has_every_command_and_option() -> None:
    page = reference.cli_page()
    commands = _commands(build_parser(), "asgi-oauth")
    assert {"asgi-oauth serve", "asgi-oauth clients create", "asgi-oauth tokens revoke"} <= set(commands)
    headings = re.findall(r"^#+ `([^`]+)`$", page, re.M)
    assert headings == commands
    for parser, _help in reference.parsers():
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in page or f", {option}" in page, (parser.prog, option)
    assert "| `--port PORT` | `8000` |" in page
    assert "`ASGI_OAUTH_REDIS_URL`" in page  # variable names are code, not emphasis


def test_the_api_page_lists_exactly_the_public_names() -> None:
    page, problems = reference.api_page()
    assert problems == []  # every public class and function has a docstring, every constant a #: comment
    modules = reference.public_modules()
    assert {
        "asgi_oauth",
        "asgi_oauth.mcp",
        "asgi_oauth.mcp.fastmcp",
        "asgi_oauth.store",
        "asgi_oauth.testing",
        "asgi_oauth.features",
        "asgi_oauth.features.device",
        "asgi_oauth.features.oidc",
        "asgi_oauth.features.par",
        "asgi_oauth.features.dpop",
    } <= set(modules)
    rendered = re.findall(r"^::: (\S+)$", page, re.M)
    again = re.findall(r"^`(\S+)`: the same as \[`(\S+)`\]\(#\S+\)\.$", page, re.M)
    expected = []
    for module in modules:
        expected.append(module)
        expected += [f"{module}.{name}" for name in importlib.import_module(module).__all__]
    assert sorted(rendered + [name for name, _ in again]) == sorted(expected)
    for name, first in again:  # a re-export links to where it was shown, which is the same object
        assert first in rendered
        assert _resolve(name) is _resolve(first)


def _resolve(path: str) -> object:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_what_counts_as_documented() -> None:
    from dataclasses import dataclass

    @dataclass
    class Bare:
        x: int

    class Told:
        """Told."""

    class Inherits(Told):
        pass

    assert reference.own_docstring(Bare) is None  # not the signature dataclass makes up
    assert reference.own_docstring(Inherits) is None  # nor its base's
    assert reference.own_docstring(Told) == "Told."
    assert reference.data_comment("asgi_oauth", "DEVICE_CODE_GRANT") == "RFC 8628 section 3.4's grant type."
    assert reference.data_comment("asgi_oauth.features", "BUILTIN") is not None


def test_sphinx_markup_becomes_markdown() -> None:
    convert = reference.sphinx_to_markdown
    assert convert("see :class:`~asgi_oauth.store.Store`") == "see `Store`"
    assert convert(":func:`asgi_oauth.load_settings`, :data:`.BUILTIN`") == "`asgi_oauth.load_settings`, `BUILTIN`"
    assert convert(":meth:`the hook <Feature.endpoints>`") == "the hook"
    assert convert("like this::\n\n    code\n") == "like this:\n\n    code\n"


def test_the_home_page_has_the_readme_quick_start_commands_verbatim() -> None:
    """docs/index.md repeats the README's two commands, which the tests above and CI run: the same characters."""
    from tests.docs.pages import blocks, doc_section

    quick_start = doc_section("Quick start")
    home = (ROOT / "docs" / "index.md").read_text()
    assert blocks(home, "sh") == blocks(quick_start, "sh")


def test_mermaid_is_pinned_exactly_in_the_tracked_lock() -> None:
    mermaid = _load("mermaid_tree")
    pinned = mermaid.MERMAID.pinned
    assert set(pinned) == {"mermaid"} and re.fullmatch(r"\d+\.\d+\.\d+", pinned["mermaid"])
    lock = json.loads((ROOT / "docs" / "npm" / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/mermaid"]["version"] == pinned["mermaid"]
    assert not mermaid.MERMAID.runs_node  # browser files only: no Node to install or check
