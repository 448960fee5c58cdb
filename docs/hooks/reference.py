"""The generated reference pages, as Markdown: settings (from the settings models), command line (from the
parser) and API (the public modules' ``__all__``). Pure functions of the installed project: they import it and
the standard library only, so the tests check them without MkDocs; ``docs/hooks/site.py`` hands their text to
MkDocs. Each ``*_page`` function returns the page and the problems that must fail a strict build (a setting
without its ``#:`` comment, a public name without a docstring)."""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import inspect
import pkgutil
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

import asgi_oauth
from asgi_oauth.cli import build_parser
from asgi_oauth.demo import DEFAULT_DEMO_USERS, DEMO_USERS_ENV
from asgi_oauth.features import BUILTIN
from asgi_oauth.settings import ENV_PREFIX, OAuthSettings

#: Where the generated pages go in the site (``nav`` in mkdocs.yml names them).
SETTINGS_PAGE = "reference/settings.md"
CLI_PAGE = "reference/cli.md"
API_PAGE = "reference/api.md"

#: The modules whose ``__all__`` is public API, besides every package under ``asgi_oauth.features`` (found by
#: :func:`public_modules`): the audiences named in ``asgi_oauth``'s docstring.
PUBLIC_MODULES = (
    "asgi_oauth",
    "asgi_oauth.mcp",
    "asgi_oauth.mcp.fastmcp",
    "asgi_oauth.store",
    "asgi_oauth.testing",
    "asgi_oauth.features",
)

_GENERATED = "<!-- Generated at build time by docs/hooks/reference.py from {source}: edit that, not this. -->"

# -- Sphinx markup in docstrings and comments, as Markdown ----------------------------------------------------

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|mod|exc|obj|const):`(~?)([^`<]*?)(?:\s*<([^>]+)>)?`")


def sphinx_to_markdown(text: str) -> str:
    """The project's docstrings and ``#:`` comments are written for Sphinx (roles, double-backtick literals,
    ``::`` before a literal block); Markdown shows roles as stray colons. A role becomes a code span of its
    target, shortened as ``~`` asks (or its title, when it has one); double backticks already are a Markdown
    code span."""

    def role(match: re.Match[str]) -> str:
        tilde, target, explicit = match.groups()
        if explicit:  # :class:`title <target>`: the title, as words
            return target.strip()
        target = target.strip()
        shown = target.rsplit(".", 1)[-1] if tilde else target.lstrip(".")
        return f"`{shown}`"

    text = _ROLE.sub(role, text)
    # "...as follows::" then an indented block: Markdown needs one colon (the block is already indented code).
    return re.sub(r"(\S)::\n", r"\1:\n", text)


# -- `#:` comments -----------------------------------------------------------------------------------------


@cache
def _source_lines(path: str) -> tuple[str, ...]:
    return tuple(Path(path).read_text().splitlines())


def comment_above(path: str, lineno: int) -> str | None:
    """The ``#:`` comment lines right above line ``lineno`` (1-based) of ``path``, joined; ``None`` without one.
    This is the convention Sphinx's autodoc reads for attributes, and the one this project follows."""
    lines = _source_lines(path)
    found: list[str] = []
    index = lineno - 2
    while index >= 0:
        match = re.match(r"\s*#:(?: (.*)|$)", lines[index])
        if not match:
            break
        found.append(match.group(1) or "")
        index -= 1
    return " ".join(reversed(found)).strip() or None


def field_comments(model: type[BaseModel]) -> dict[str, str | None]:
    """Each field of ``model`` (fields it inherits included) and its ``#:`` comment, from the classes' source."""
    comments: dict[str, str | None] = {}
    for klass in reversed(model.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, BaseModel)) or klass.__module__.startswith("pydantic"):
            continue
        path = inspect.getsourcefile(klass)
        if path is None:
            continue
        source, first = inspect.getsourcelines(klass)
        tree = ast.parse(inspect.cleandoc("\n" + "".join(source)) if source[0][:1].isspace() else "".join(source))
        (node,) = tree.body
        assert isinstance(node, ast.ClassDef)
        for statement in node.body:
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                comments[statement.target.id] = comment_above(path, first + statement.lineno - 1)
    return {name: comments.get(name) for name in model.model_fields}


# -- settings ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One settings model and who reads it: the core, or the built-in features that name it their section."""

    model: type[BaseModel]
    #: The built-in features (``ASGI_OAUTH_FEATURES`` names) whose section it is; empty for the core.
    features: tuple[str, ...]

    @property
    def prefix(self) -> str:
        return str(self.model.model_config.get("env_prefix", ENV_PREFIX)).upper()

    def variable(self, field: str) -> str:
        return f"{self.prefix}{field.upper()}"


def settings_sections() -> list[Section]:
    """The core's settings, then each built-in feature's section (one that several features share, once)."""
    models: dict[type[BaseModel], list[str]] = {}
    for name, path in BUILTIN.items():
        module, _, attribute = path.partition(":")
        model = getattr(importlib.import_module(module), attribute).settings_model
        if model is not None:
            models.setdefault(model, []).append(name)
    return [Section(OAuthSettings, ()), *(Section(model, tuple(names)) for model, names in models.items())]


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _code(text: object) -> str:
    return f"`{text}`"


def _plural_is_list(annotation: Any) -> Any | None:
    """The item type when ``annotation`` is a tuple of items (a comma-separated or JSON list)."""
    annotation = _strip_annotated(annotation)
    if typing.get_origin(annotation) is tuple:
        return _strip_annotated(typing.get_args(annotation)[0])
    return None


def _kind(annotation: Any) -> str:
    """What a value looks like, in the words of the environment."""
    annotation = _strip_annotated(annotation)
    item = _plural_is_list(annotation)
    if item is not None:
        if isinstance(item, type) and issubclass(item, BaseModel):
            return "JSON list of objects"
        return "comma-separated list"
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(_code(choice) for choice in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        kinds = [_kind(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        return " or ".join(kinds)
    names = {bool: "boolean", int: "integer", float: "number", str: "text"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


_LIMITS = (
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Ge, "ge", "≥"),
    (annotated_types.Lt, "lt", "<"),
    (annotated_types.Le, "le", "≤"),
    (annotated_types.MinLen, "min_length", "length ≥"),
    (annotated_types.MaxLen, "max_length", "length ≤"),
)


def field_limits(field: FieldInfo) -> list[str]:
    """The bounds pydantic enforces on a field (``Field(gt=0, le=600)`` and the like), as ``> 0``, ``≤ 600``."""
    limits = []
    for constraint in field.metadata:
        for kind, attribute, sign in _LIMITS:
            if isinstance(constraint, kind):
                limits.append(f"{sign} {_number(getattr(constraint, attribute))}")
    return limits


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_DURATION_WORDS = ("lifetime", "window", "period", "ttl", "lease", "timeout", "refetch", "cache_least", "cache_most")


def _duration(name: str, value: object) -> str:
    """Long numbers of seconds, said in days or hours as well: ``1209600`` is easier read as 14 days."""
    if not any(word in name for word in _DURATION_WORDS) or isinstance(value, bool):
        return ""
    if not isinstance(value, int | float) or value < 3600:
        return ""
    for unit, seconds in (("days", 86400), ("h", 3600)):
        if value % seconds == 0:
            count = int(value // seconds)
            return f" ({count} {unit if count != 1 or unit == 'h' else 'day'})"
    return ""


def format_default(name: str, field: FieldInfo) -> str:
    """A field's default as one would write it in the environment."""
    if field.default_factory is not None:
        return "computed"
    value = field.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return _code(str(value).lower())
    if isinstance(value, tuple):
        return _code(",".join(str(item) for item in value)) if value else "empty"
    if isinstance(value, str) and not value:
        return "empty"
    return _code(_number(value)) + _duration(name, value)


def settings_page() -> tuple[str, list[str]]:
    """The settings reference, one table per section; a problem for each field without a ``#:`` comment."""
    problems: list[str] = []
    out = [
        _GENERATED.format(source="the settings models"),
        "# Settings",
        "",
        f"Every setting is an environment variable starting with `{ENV_PREFIX}`, or, in code, a keyword argument of",
        "its settings class named like the variable without the prefix, in lower case",
        "(`load_settings(access_token_lifetime=600)`, `DeviceSettings(poll_interval=10)`); a keyword argument wins",
        "over the environment. Lists are comma-separated in the environment. An invalid value stops start-up with",
        "a message naming the variable; a variable that is none of these is ignored with a warning that names the",
        "closest one. Times are in seconds.",
        "",
        "A feature's section is read only while the feature is on (`ASGI_OAUTH_FEATURES`, or its switch); a",
        "section's variable set while its feature is off stops start-up.",
        "",
        "This page is generated from the settings classes each time the site is built: names, defaults and limits",
        "are the code's own, and so is each meaning (the comment above the field).",
        "",
    ]
    for section in settings_sections():
        model = section.model
        if section.features:
            names = " and ".join(_code(name) for name in section.features)
            title = f"{model.__name__}: the {names} feature{'s' if len(section.features) > 1 else ''}"
            switched = f"Read while {names} {'are' if len(section.features) > 1 else 'is'} switched on"
        else:
            title = f"{model.__name__}: the server"
            switched = "Always read"
        module = model.__module__.removesuffix(".settings")
        out += [
            f"## {title}",
            "",
            f"{switched}; in code, `{model.__name__}` (from `{module}`).",
            "",
            "| Variable | Default | Meaning |",
            "|---|---|---|",
        ]
        comments = field_comments(model)
        for name, field in model.model_fields.items():
            variable = section.variable(name)
            meaning = comments[name]
            if meaning is None:
                problems.append(f"{model.__module__}.{model.__name__}.{name} has no #: comment to say what it means")
                meaning = ""
            values = ", ".join([_kind(field.annotation), *field_limits(field)])
            cells = [
                f'<span id="{variable.lower()}"></span>`{variable}`',
                format_default(name, field),
                _cell(sphinx_to_markdown(meaning)) + f"<br>*{_cell(values)}*",
            ]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    out += [
        "## Read by the demo only",
        "",
        "| Variable | Default | Meaning |",
        "|---|---|---|",
        f'| <span id="{DEMO_USERS_ENV.lower()}"></span>`{DEMO_USERS_ENV}` | `{DEFAULT_DEMO_USERS}` | '
        "`asgi-oauth serve`'s users, `name:password` pairs separated by commas |",
        "",
    ]
    return "\n".join(out), problems


def _cell(text: str) -> str:
    """Text that stays inside one table cell."""
    return " ".join(text.split()).replace("|", "\\|")


# -- command line ------------------------------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def parsers(
    parser: argparse.ArgumentParser | None = None,
) -> Iterator[tuple[argparse.ArgumentParser, str]]:
    """``build_parser()`` and every (sub)command under it, depth first, each with the help its parent gives it."""
    parser = parser or build_parser()
    yield parser, ""
    for _name, help_text, sub in _subcommands(parser):
        for nested, nested_help in parsers(sub):
            yield nested, nested_help or help_text


def _prose(text: str) -> str:
    """Help text as Markdown: environment variable names as code (their ``_`` and ``*`` are not emphasis)."""
    return _cell(re.sub(r"\b(ASGI_OAUTH_[A-Z0-9_]*\*?)", r"`\1`", text))


def _argument_row(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser._get_formatter()
    if action.option_strings:
        shown = ", ".join(action.option_strings)
        if action.nargs != 0:
            shown += " " + formatter._format_args(action, action.dest.upper())
    else:
        shown = formatter._format_args(action, action.dest)
    help_text = formatter._expand_help(action) if action.help else ""
    if action.choices and not isinstance(action, argparse._SubParsersAction) and action.metavar:
        help_text += " (one of: " + ", ".join(str(choice) for choice in action.choices) + ")"
    default = ""
    if action.required:
        default = "required"
    elif action.default not in (None, False, [], argparse.SUPPRESS) and action.nargs != 0:
        default = _code(action.default)
    return f"| `{shown}` | {default} | {_prose(help_text)} |"


def cli_page() -> str:
    """Each command of ``asgi-oauth``: its usage, what it does, its subcommands and its arguments."""
    out = [
        _GENERATED.format(source="asgi_oauth.cli.build_parser()"),
        "# Command line",
        "",
        "`asgi-oauth` is installed with the package. Every command reads the same `ASGI_OAUTH_*` settings as",
        "the server ([Settings](settings.md)); a wrong argument is one `asgi-oauth: error: ...` line and exit",
        "status 2. This page is generated from the command's own parser each time the site is built.",
        "",
    ]
    for parser, help_text in parsers():
        level = "#" * min(2 + parser.prog.count(" ") - 1, 4) if " " in parser.prog else "##"
        out += [f"{level} `{parser.prog}`", ""]
        description = parser.description or help_text
        if description:
            out += [_prose(description), ""]
        out += ["```text", parser.format_usage().strip().removeprefix("usage: "), "```", ""]
        commands = list(_subcommands(parser))
        if commands:
            out += ["| Command | What it does |", "|---|---|"]
            out += [f"| `{parser.prog} {name}` | {_prose(sub_help)} |" for name, sub_help, _ in commands]
            out.append("")
        rows = [
            _argument_row(parser, action)
            for action in parser._actions
            if not isinstance(action, argparse._SubParsersAction | argparse._HelpAction)
        ]
        if rows:
            out += ["| Argument | Default | Meaning |", "|---|---|---|", *rows, ""]
        if parser.epilog:
            out += [_prose(parser.epilog), ""]
    return "\n".join(out)


# -- API ---------------------------------------------------------------------------------------------------


def public_modules() -> list[str]:
    """:data:`PUBLIC_MODULES`, then each package under ``asgi_oauth.features`` that lists its ``__all__``."""
    import asgi_oauth.features as features

    found = list(PUBLIC_MODULES)
    for info in pkgutil.iter_modules(features.__path__, "asgi_oauth.features."):
        if info.ispkg and hasattr(importlib.import_module(info.name), "__all__"):
            found.append(info.name)
    return found


def public_names(module: str) -> list[str]:
    names: list[str] = list(importlib.import_module(module).__all__)
    return names


def _module_source(module: str) -> tuple[str, ast.Module] | None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return spec.origin, ast.parse(Path(spec.origin).read_text())


def data_comment(module: str, name: str, depth: int = 0) -> str | None:
    """The ``#:`` comment of the assignment that defines ``name``, following ``from .x import name`` (in the
    ``TYPE_CHECKING`` block too) to the module that assigns it."""
    found = _module_source(module)
    if found is None:
        return None
    path, tree = found
    for statement in tree.body:
        targets: list[ast.expr] = []
        if isinstance(statement, ast.Assign):
            targets = statement.targets
        elif isinstance(statement, ast.AnnAssign):
            targets = [statement.target]
        if any(isinstance(target, ast.Name) and target.id == name for target in targets):
            return comment_above(path, statement.lineno)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
                    source = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                    return data_comment(source, alias.name, depth + 1) if depth < 10 else None
    return None


def own_docstring(value: object) -> str | None:
    """The docstring written for ``value`` itself: a class's own (not its base's, nor the signature a dataclass
    makes up when it has none), a function's."""
    if inspect.isclass(value):
        try:
            source = inspect.getsource(value)
        except (OSError, TypeError):
            return value.__dict__.get("__doc__")
        tree = ast.parse(inspect.cleandoc("\n" + source) if source[:1].isspace() else source)
        node = tree.body[0]
        return ast.get_docstring(node) if isinstance(node, ast.ClassDef) else None
    if inspect.isroutine(value):
        return value.__doc__
    return None


def is_data(value: object) -> bool:
    """Constants and type aliases: documented by a ``#:`` comment rather than a docstring of their own."""
    return not (inspect.isclass(value) or inspect.isroutine(value))


def api_page() -> tuple[str, list[str]]:
    """One section per public module: its docstring, then each name of its ``__all__`` as mkdocstrings renders
    it. A name that another section already showed (a re-export) links there instead. A problem for each
    class or function without a docstring of its own, and each constant without a ``#:`` comment."""
    problems: list[str] = []
    out = [
        _GENERATED.format(source="the public modules' __all__"),
        "# API reference",
        "",
        "The public names, by module: what each module's `__all__` lists, and nothing else (the modules behind",
        "them are internal and may change between releases). `asgi_oauth` is for applications; "
        "`asgi_oauth.mcp` and `asgi_oauth.mcp.fastmcp` for MCP servers; `asgi_oauth.features` and its packages for "
        "whoever writes or configures a feature; `asgi_oauth.store` and `asgi_oauth.testing` for whoever writes a "
        "storage backend.",
        "",
    ]
    shown: dict[int, str] = {}
    for module in public_modules():
        out += [
            f"::: {module}",
            "    options:",
            "      members: false",
            "      show_root_heading: true",
            "      show_root_full_path: true",
            "      heading_level: 2",
            "",
        ]
        imported = importlib.import_module(module)
        for name in public_names(module):
            value = getattr(imported, name)
            path = f"{module}.{name}"
            if not is_data(value):
                if id(value) in shown:
                    out += [f"`{path}`: the same as [`{shown[id(value)]}`](#{shown[id(value)]}).", ""]
                    continue
                shown[id(value)] = path
                if not (own_docstring(value) or "").strip():
                    problems.append(f"{path} is public (in {module}.__all__) but has no docstring")
            elif data_comment(module, name) is None:
                problems.append(f"{path} is public (in {module}.__all__) but has no #: comment to say what it is")
            out += [f"::: {path}", "    options:", "      heading_level: 3", "      show_root_heading: true", ""]
    return "\n".join(out), problems


def all_problems() -> list[str]:
    """Everything that fails a strict build, for a quick look without MkDocs."""
    return settings_page()[1] + api_page()[1]


if __name__ == "__main__":  # python docs/hooks/reference.py: what the build would refuse
    for problem in all_problems():
        print(problem)
    print(asgi_oauth.__name__, "reference checked")
