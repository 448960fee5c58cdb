"""The HTTP fixtures of ``tests/web`` and ``tests/oidc``: DPoP is tested through the real app, on both stores."""

from __future__ import annotations

from ..oidc.conftest import make_provider as make_provider
from ..web.conftest import make_server as make_server
