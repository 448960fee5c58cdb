"""Liveness, readiness and the Prometheus endpoint, through the real app on a real Redis (one we start and stop
for readiness), and the metrics of a served demo with two workers."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from asgi_oauth import RedisStore

from ..conftest import open_redis_store, start_redis
from ..serving import clean_env, free_port, run_printed_curl, serving
from ..web.conftest import MakeServer
from ..web.helpers import default_clients

LIVE, READY, METRICS = "/oauth/health/live", "/oauth/health/ready", "/oauth/metrics"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_probes_answer_while_redis_runs_and_readiness_fails_while_it_is_stopped(
    make_server: MakeServer, tmp_path: Path, key_prefix: str
) -> None:
    port = free_port()
    redis_proc = start_redis(tmp_path / "redis", port)
    try:
        async with open_redis_store(f"redis://127.0.0.1:{port}/0", key_prefix=key_prefix, timeout=0.5) as store:
            server = await make_server(store=store, stored=[])
            for path in (LIVE, READY):
                answer = await server.http.get(path)
                assert answer.status_code == 200 and answer.json() == {"status": "ok"}
                assert answer.headers["cache-control"] == "no-store"
            assert (await server.http.head(READY)).status_code == 200

            redis_proc.terminate()
            redis_proc.wait(timeout=10)
            down = await server.http.get(READY)
            assert down.status_code == 503
            assert down.json() == {"status": "unavailable", "reason": "the store cannot be reached"}
            assert (await server.http.get(LIVE)).status_code == 200  # the process itself is fine

            redis_proc = start_redis(tmp_path / "redis", port)
            assert (await server.http.get(READY)).status_code == 200  # back once Redis is
    finally:
        redis_proc.kill()
        redis_proc.wait(timeout=10)


async def test_probes_refuse_other_methods_and_can_be_moved_or_switched_off(make_server: MakeServer) -> None:
    server = await make_server()
    refused = await server.http.post(READY)
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
    moved = await make_server(health_live_path="/livez", health_ready_path="")
    assert (await moved.http.get("/oauth/livez")).status_code == 200
    assert (await moved.http.get(READY)).status_code == 404
    metadata = (await server.http.get("/oauth/.well-known/oauth-authorization-server")).json()
    assert not any("health" in str(value) for value in metadata.values())
    assert (await server.http.get(METRICS)).status_code == 404  # metrics are off by default


async def test_metrics_count_answers_by_endpoint_status_and_error_and_count_events(make_server: MakeServer) -> None:
    server = await make_server(metrics=True, enable_password_grant=True)
    for _ in range(3):
        assert (await server.token("m2m", grant_type="client_credentials")).status_code == 200
    assert (await server.token("m2m", grant_type="password")).status_code == 400  # unauthorized_client
    wrong = await server.http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("m2m", "x"))
    assert wrong.status_code == 401
    await server.http.get(READY)

    page = await server.http.get(METRICS)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    found = samples(page.text)

    def requests(endpoint: str, status: str, error: str = "") -> float:
        labels = (("endpoint", endpoint), ("error", error), ("status", status))
        return found[("asgi_oauth_requests_total", labels)]

    assert requests("/token", "200") == 3
    assert requests("/token", "400", "unauthorized_client") == 1
    assert requests("/token", "401", "invalid_client") == 1
    assert requests("/health/ready", "200") == 1
    durations = {
        status: found[("asgi_oauth_request_duration_seconds_count", (("endpoint", "/token"), ("status", status)))]
        for status in ("200", "400", "401")
    }
    assert durations == {"200": 3, "400": 1, "401": 1}
    assert found[("asgi_oauth_events_total", (("kind", "issued"),))] == 3
    assert found[("asgi_oauth_events_total", (("kind", "client_auth_failed"),))] == 1


async def test_store_errors_are_counted(make_server: MakeServer, unreachable_store: RedisStore) -> None:
    server = await make_server(store=unreachable_store, stored=[], declared=default_clients()[:1], metrics=True)
    answer = await server.token("m2m", grant_type="client_credentials")
    assert answer.status_code == 503 and answer.json()["error"] == "temporarily_unavailable"
    assert (await server.http.get(READY)).status_code == 503
    found = samples((await server.http.get(METRICS)).text)
    assert found[("asgi_oauth_store_errors_total", (("endpoint", "/token"),))] == 1
    assert found[("asgi_oauth_store_errors_total", (("endpoint", "/health/ready"),))] == 1


def test_the_demo_serves_summed_metrics_from_two_workers(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    """With PROMETHEUS_MULTIPROC_DIR every worker's counts are in the answer, whichever worker scrapes."""
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = clean_env(
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_SECRET_KEY=secrets.token_urlsafe(32),
        ASGI_OAUTH_KEY_PREFIX=key_prefix,
        ASGI_OAUTH_METRICS="1",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    with serving(tmp_path / "logs", env, workers=2) as server:
        workers: set[str] = set()
        issued = 0
        for _ in range(200):  # each on a new connection, until both workers issued tokens (bounded)
            response = run_printed_curl(server.stdout)
            assert response.status_code == 200, response.text
            issued += 1
            workers.add(response.headers["x-demo-worker"])
            if len(workers) == 2 and issued >= 4:
                break
        assert len(workers) == 2, "uvicorn never handed a connection to the second worker"
        scraped_by: set[str] = set()
        for _ in range(200):
            page = httpx.get(f"{server.base_url}{METRICS}", timeout=10)
            scraped_by.add(page.headers["x-demo-worker"])
            labels = (("endpoint", "/token"), ("error", ""), ("status", "200"))
            assert samples(page.text)[("asgi_oauth_requests_total", labels)] == issued
            if len(scraped_by) == 2:
                break
        assert len(scraped_by) == 2


@pytest.mark.parametrize("value", ["metrics", "/metrics?x", ""])
def test_a_bad_metrics_path_stops_start_up_naming_the_setting(value: str) -> None:
    from ..serving import run_cli

    env = clean_env(ASGI_OAUTH_METRICS="1", ASGI_OAUTH_METRICS_PATH=value)
    result = run_cli("serve", "--port", str(free_port()), env=env)
    assert result.returncode != 0 and "ASGI_OAUTH_METRICS_PATH" in result.stderr, result.stderr
