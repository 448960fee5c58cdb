"""A griffe extension (mkdocs.yml, mkdocstrings' ``extensions``): the project documents attributes with ``#:``
comments above them and writes Sphinx roles in its docstrings. griffe reads neither, so without this the API
reference would drop every documented field and show ``:class:`` markup as text."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import griffe

sys.path.insert(0, str(Path(__file__).parent))

from reference import comment_above, sphinx_to_markdown  # beside this file, not a package


class SphinxComments(griffe.Extension):
    """``#:`` comments become attribute docstrings; Sphinx roles become Markdown code spans."""

    def on_instance(self, *, node: ast.AST | griffe.ObjectNode, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = sphinx_to_markdown(obj.docstring.value)

    def on_attribute_instance(
        self, *, node: ast.AST | griffe.ObjectNode, attr: griffe.Attribute, **kwargs: Any
    ) -> None:
        if attr.docstring is not None or attr.lineno is None or not isinstance(attr.filepath, Path):
            return
        comment = comment_above(str(attr.filepath), attr.lineno)
        if comment:
            attr.docstring = griffe.Docstring(
                sphinx_to_markdown(comment), lineno=attr.lineno, endlineno=attr.lineno, parent=attr
            )
