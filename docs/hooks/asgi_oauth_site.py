"""MkDocs hooks (mkdocs.yml ``hooks:``): the generated reference pages, and Mermaid served from the site itself.

- ``reference/settings.md``, ``reference/cli.md`` and ``reference/api.md`` are made at build time by
  ``reference.py`` beside this file and never written into ``docs/``. A setting without its ``#:`` comment or a
  public name without a docstring is a warning, which ``mkdocs build --strict`` turns into a failed build.
- Mermaid (``mermaid_tree.py``: from the npm registry at the version of ``docs/npm/package-lock.json``) has its
  browser bundle copied into the site and loaded by every page: Material for MkDocs draws ``mermaid`` fences
  with the ``mermaid`` it finds on the page, and fetches one from a CDN only when there is none. Material
  initialises it itself (its theme, font sizes): a script of ours calling ``mermaid.initialize`` or
  ``mermaid.run`` would draw each diagram a second time, or before Material styles it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from mkdocs.config.config_options import ExtraScriptValue
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import mermaid_tree  # noqa: E402  (beside this file)
import reference  # noqa: E402

log = logging.getLogger("mkdocs.plugins.asgi_oauth")

#: Where the site serves Mermaid's bundle.
MERMAID_URL = "assets/javascripts/mermaid.min.js"


def on_config(config: MkDocsConfig, **kwargs: Any) -> MkDocsConfig:
    # Deferred scripts run before DOMContentLoaded, when Material's bundle draws the diagrams: it finds
    # window.mermaid and never reaches for its CDN copy. On every page, so instant navigation has it too.
    script = ExtraScriptValue(MERMAID_URL)
    script.defer = True
    config.extra_javascript.insert(0, script)
    return config


def on_files(files: Files, /, *, config: MkDocsConfig) -> Files:
    settings, problems = reference.settings_page()
    api, api_problems = reference.api_page()
    for problem in problems + api_problems:
        log.warning(problem)
    pages = {reference.SETTINGS_PAGE: settings, reference.CLI_PAGE: reference.cli_page(), reference.API_PAGE: api}
    for path, content in pages.items():
        if files.get_file_from_path(path) is not None:
            raise PluginError(f"docs/{path} is generated at build time: delete the file")
        files.append(File.generated(config, path, content=content))
    try:
        bundle = mermaid_tree.bundle()
    except mermaid_tree.NpmUnavailable as exc:
        raise PluginError(f"the docs draw their diagrams with Mermaid: {exc}") from exc
    files.append(File.generated(config, MERMAID_URL, abs_src_path=str(bundle)))
    return files
