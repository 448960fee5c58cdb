"""The MCP conformance suite's ``authorization`` command against ``asgi-oauth serve``, with its verdict made stricter.

Both scenarios run together (the code grant reuses the metadata the first one found), once per spec
version the suite lists, against the demo on two uvicorn workers sharing Redis. The suite needs a
registered client: a public one whose redirect URI is the portless loopback ``http://127.0.0.1/callback``,
so each run's callback server may take any free port (RFC 8252 section 7.3). The browser step (sign-in
as alice, consent) is :class:`tests.mcp.conformance.Browser`.

The suite's own verdict (exit code 0, no FAILURE) is required, and so is more than it asks: no check may be
SKIPPED, and no WARNING is allowed either. From 2025-11-25 on it warns unless the metadata advertises Client
ID Metadata Documents, which the demo does here with ASGI_OAUTH_ENABLE_CLIENT_ID_METADATA_DOCUMENTS.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..serving import Server, clean_env, free_port, run_cli, serving
from ..test_serve import SECRET_KEY
from .conformance import SPEC_VERSIONS, ConformanceUnavailable, Run, Suite, install, run_authorization

pytestmark = pytest.mark.slow

CLIENT_ID = "mcp-conformance"
REDIRECT_URI = "http://127.0.0.1/callback"
#: The resource (RFC 8707) the suite asks tokens for: the demo's MCP endpoint, once it has one.
RESOURCE_PATH = "/mcp"
#: Seconds one run of the suite may take; it needs about one.
RUN_TIMEOUT = 90.0
#: What the demo needs beyond its defaults for the suite to pass without a warning (the MCP guide says so):
#: from 2025-11-25 on it expects Client ID Metadata Documents to be advertised.
NO_WARNING_SETTINGS = {"ASGI_OAUTH_ENABLE_CLIENT_ID_METADATA_DOCUMENTS": "1"}


class SuiteWarned(AssertionError):
    """The suite passed but reported a WARNING, which this test counts as a failure."""


@pytest.fixture(scope="module")
def suite() -> Suite:
    try:
        return install()
    except ConformanceUnavailable as exc:
        pytest.fail(f"the MCP conformance suite is not available: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Server]:
    """``asgi-oauth serve --workers 2`` on Redis, with the suite's public client registered beforehand."""
    env = clean_env(
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_SECRET_KEY=SECRET_KEY,
        ASGI_OAUTH_KEY_PREFIX=f"mcp-{uuid.uuid4().hex[:12]}",
        **NO_WARNING_SETTINGS,
    )
    created = run_cli(
        "clients", "create", "--name", "MCP conformance suite", "--client-id", CLIENT_ID, "--public",
        "--grant-type", "authorization_code", "refresh_token", "--redirect-uri", REDIRECT_URI,
        env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    with serving(tmp_path_factory.mktemp("mcp-demo"), env, workers=2) as server:
        yield server


def judge(run: Run) -> None:
    """The suite's verdict, then nothing skipped, then no warning (raised as :class:`SuiteWarned`)."""
    assert run.exit_code == 0, f"the suite failed:\n{run.output}"
    assert not run.with_status("FAILURE"), run.output
    passed = {check.id for check in run.with_status("SUCCESS")}
    assert {"authorization-server-metadata", "authorization-code-grant"} <= passed, run.output
    assert not run.with_status("SKIPPED"), run.output
    warnings = run.with_status("WARNING")
    if warnings:
        raise SuiteWarned("the suite warned:\n" + "\n".join(str(check) for check in warnings))


@pytest.mark.parametrize("spec_version", SPEC_VERSIONS)
def test_authorization(spec_version: str, suite: Suite, demo: Server, tmp_path: Path) -> None:
    run = run_authorization(
        demo.issuer,
        spec_version,
        client_id=CLIENT_ID,
        port=free_port(),
        resource=demo.base_url + RESOURCE_PATH,
        suite=suite,
        timeout=RUN_TIMEOUT,
        output_dir=tmp_path / "results",
    )
    assert any(line.startswith("delivered ") for line in run.browser), run.output
    judge(run)
