"""The HTTP fixtures of ``tests/web``: token exchange is tested through the real app, on both stores."""

from __future__ import annotations

from ..web.conftest import make_server as make_server
