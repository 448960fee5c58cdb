"""The public API is exactly ``asgi_oauth.__all__``: every name listed exists, and nothing public is unlisted."""

from __future__ import annotations

import asgi_oauth


def test_all_lists_exactly_the_public_names() -> None:
    for name in asgi_oauth.__all__:
        getattr(asgi_oauth, name)  # public names load on first use; load them all, as imports would
    public = {name for name in vars(asgi_oauth) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(asgi_oauth, name)).__name__ == "module"}
    assert sorted(asgi_oauth.__all__) == asgi_oauth.__all__
    assert set(asgi_oauth.__all__) == public - modules - {"annotations"}
    assert set(asgi_oauth.__all__) <= set(dir(asgi_oauth))


def test_every_exported_name_resolves() -> None:
    for name in asgi_oauth.__all__:
        assert getattr(asgi_oauth, name) is not None, name
