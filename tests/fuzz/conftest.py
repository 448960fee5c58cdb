"""Fixtures for the fuzz suite, the example budget, and the figures printed at the end of the run.

Every test runs twice, on the memory store and on a real private Redis (``store`` from tests/conftest.py).
Example counts are modest so the suite fits in about a minute on two shared cores; set
``ASGI_OAUTH_FUZZ_SCALE=10`` (any positive number) to run that many times more examples.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, settings

from asgi_oauth import Store

from .harness import EXAMPLES, REQUESTS, Fuzz, make_demo, make_fuzz

SCALE = float(os.environ.get("ASGI_OAUTH_FUZZ_SCALE", "1"))


def budget(examples: int) -> settings:
    """Hypothesis settings for one fuzz test: ``examples`` (times the scale), no deadline, one app per test."""
    return settings(
        max_examples=max(1, round(examples * SCALE)),
        deadline=None,
        # The app (and its store) is built once per test and shared by its examples, on purpose: state
        # left by one example (spent codes, rotated tokens, counted failures) is input for the next.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture
async def fuzz(store: Store, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Fuzz]:
    made, http = await make_fuzz(store, request.node.nodeid)
    try:
        yield made
    finally:
        await http.aclose()
    no_error_logged(caplog)


@pytest.fixture
async def demo(store: Store, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Fuzz]:
    """The demo ``asgi-oauth serve`` runs (sign-in page, session, demo client pages), on the test's store."""
    made, http = await make_demo(store, request.node.nodeid)
    try:
        yield made
    finally:
        await http.aclose()
    no_error_logged(caplog)


def no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing was swallowed and logged either: no error records, no traceback in any record."""
    for record in caplog.records:
        assert record.levelno < logging.ERROR and record.exc_info is None, record.getMessage()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Examples run and requests sent per test function (both stores, every operation), and in all."""
    if not EXAMPLES:
        return
    examples: Counter[str] = Counter()
    requests: Counter[str] = Counter()
    for test_id in set(EXAMPLES) | set(REQUESTS):
        name = test_id.split("::")[-1].split("[")[0]
        examples[name] += EXAMPLES[test_id]
        requests[name] += REQUESTS[test_id]
    terminalreporter.section("fuzz figures")
    for name in sorted(examples, key=lambda n: -examples[n]):
        if examples[name]:
            terminalreporter.write_line(f"{name}: {examples[name]} examples, {requests[name]} requests")
    terminalreporter.write_line(f"total: {examples.total()} examples, {requests.total()} requests")
