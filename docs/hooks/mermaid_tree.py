"""Mermaid, which draws the site's diagrams in the reader's browser, served from the site itself (no CDN).

It comes from the npm registry at the version of the tracked ``docs/npm/package-lock.json``, installed with
``npm ci`` by ``tests/npm.py``'s :class:`LockedTree` into ``docs/npm/.installed/`` (gitignored). Standard library
and ``tests.npm`` only, so ``nox -s docs`` installs it before MkDocs exists in any environment it can import.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(DOCS.parent))  # tests.npm, from the repository's root

from tests.npm import LockedTree, NpmUnavailable  # noqa: E402

__all__ = ["BUNDLE", "MERMAID", "NpmUnavailable", "bundle"]

#: Mermaid at the version of the tracked lock, installed into a gitignored directory.
MERMAID = LockedTree(DOCS / "npm", DOCS / "npm" / ".installed", "Mermaid (the docs' diagrams)")
#: The file of the mermaid package that defines ``window.mermaid`` when a ``<script>`` tag loads it (an IIFE;
#: the package's ``.mjs`` files are ES modules, which Material does not load).
BUNDLE = Path("mermaid", "dist", "mermaid.min.js")


def bundle() -> Path:
    """The installed bundle, installing the locked tree first when it is missing or not the lock's."""
    MERMAID.install()
    path = MERMAID.modules / BUNDLE
    if not path.is_file():
        raise NpmUnavailable(f"{path} is missing: did mermaid {MERMAID.pinned['mermaid']} stop shipping it?")
    return path
