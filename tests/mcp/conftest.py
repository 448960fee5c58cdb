"""The person at the browser that FastMCP's OAuth client opens."""

from __future__ import annotations

import threading
import webbrowser
from urllib.parse import urlsplit

import pytest

from .conformance import Browser


@pytest.fixture
def person(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stands in for the browser FastMCP's OAuth client opens: signs in and allows, then lands on the client's
    callback server, in a thread (the client starts that server only after opening the browser)."""
    visited: list[str] = []
    failures: list[BaseException] = []

    def open_browser(url: str, *args: object, **kwargs: object) -> bool:
        visited.append(url)
        site = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"

        def walk() -> None:
            try:
                Browser(site, timeout=20).authorize(url)
            except BaseException as exc:  # reported by the test through ``visited``
                failures.append(exc)
                visited.append(f"failed: {exc!r}")

        threading.Thread(target=walk, daemon=True).start()
        return True

    monkeypatch.setattr(webbrowser, "open", open_browser)
    return visited
