"""``asgi-oauth serve`` logs every event as one JSON line on stdout."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from ..serving import clean_env, run_printed_curl, serving


def event_lines(stdout: str) -> list[dict[str, Any]]:
    lines = [line for line in stdout.splitlines() if line.startswith('{"kind":')]
    return [json.loads(line) for line in lines]


def test_the_demo_logs_events_as_json_lines(tmp_path: Path) -> None:
    with serving(tmp_path, clean_env()) as server:
        issued = run_printed_curl(server.stdout)
        assert issued.status_code == 200
        refused = httpx.post(
            f"{server.issuer}/token", data={"grant_type": "client_credentials"}, auth=("demo-client", "wrong")
        )
        assert refused.status_code == 401
        deadline = time.monotonic() + 10  # the lines are written by the server process as it goes
        while len(event_lines(server.stdout)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        events = event_lines(server.stdout)
    assert [(e["kind"], e["client_id"]) for e in events] == [
        ("issued", "demo-client"),
        ("client_auth_failed", "demo-client"),
    ]
    assert events[0]["what"] == "client_credentials" and events[0]["address"] == "127.0.0.1"
    token = issued.json()["access_token"]
    assert token not in server.stdout and token.partition(".")[2] not in server.stdout
    assert server.client_secret not in "\n".join(json.dumps(e) for e in events)
