"""The collector tuning that OAuthServer applies at start-up, each case in a fresh interpreter (it is per process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def run(code: str, **env: str) -> str:
    """Run ``code`` in a new interpreter with the server's settings in ``env``; what it printed."""
    import os

    environment = {**os.environ, "ASGI_OAUTH_ISSUER": "http://localhost:8000", **env}
    environment.pop("ASGI_OAUTH_REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=environment, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


SERVER = """
    import gc
    from asgi_oauth import OAuthServer
    from asgi_oauth.gc_tuning import YOUNG_THRESHOLD
    {before}
    OAuthServer()
    OAuthServer()
    print(gc.get_threshold()[0] == YOUNG_THRESHOLD, gc.get_freeze_count() > 0, gc.get_threshold()[0])
"""


def test_server_freezes_startup_objects_and_raises_the_young_threshold() -> None:
    assert run(SERVER.format(before="")).split()[:2] == ["True", "True"]


def test_setting_off_leaves_the_collector_alone() -> None:
    assert run(SERVER.format(before=""), ASGI_OAUTH_TUNE_GC="false").split() == ["False", "False", "700"]


@pytest.mark.parametrize(
    ("before", "threshold"),
    [("gc.set_threshold(50_000)", "50000"), ("gc.set_threshold(0)", "0"), ("gc.disable()", "700")],
)
def test_a_hosts_own_choice_is_kept(before: str, threshold: str) -> None:
    frozen, young = run(SERVER.format(before=before)).split()[1:]
    assert (frozen, young) == ("False", threshold)
