"""docs/tutorials/devices.md followed as written: ``asgi-oauth serve`` with the page's settings on Redis, the page's
client registration, and the page's ``device_login.py`` run with the page's command while a person (an httpx
browser, as in tests/device/test_readme.py) opens the printed address, signs in on the demo's page and allows;
the tool prints what the page shows. A person who denies makes it stop as the page says."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ..serving import free_port, hidden_fields
from .pages import app_env, code, ports, section, serving_block, shell_steps, write_file

PAGE = "tutorials/devices"

pytestmark = pytest.mark.slow


def approve(base_url: str, complete: str, decision: str) -> str:
    """A person at the printed address: signs in on the demo's page, compares, decides; the page's last words."""
    with httpx.Client(base_url=base_url, timeout=10) as browser:
        to_login = browser.get(complete)
        assert to_login.status_code == 302
        next_path = httpx.URL(to_login.headers["location"]).params["next"]
        signed_in = browser.post("/login", data={"username": "alice", "password": "wonderland", "next": next_path})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == next_path
        page = browser.get(next_path)
        assert page.status_code == 200 and "My CLI" in page.text
        done = browser.post("/oauth/device", data={**hidden_fields(page.text), "decision": decision})
        assert done.status_code == 200
        return done.text


@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_the_tool_signs_in_when_the_person_allows(
    decision: str, tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    (start,) = code(PAGE, "Devices tutorial: turn it on", "sh")
    (register,) = code(PAGE, "Devices tutorial: register the tool", "sh")
    (registered_shown,) = code(PAGE, "Devices tutorial: register the tool", "json")
    (tool,) = code(PAGE, "Devices tutorial: the tool", "python")
    (run,) = code(PAGE, "Devices tutorial: sign in", "sh")
    waiting_shown, signed_in_shown = code(PAGE, "Devices tutorial: sign in", "text")
    port = free_port()
    moved = {8000: port}
    clone = tmp_path / "clone"
    write_file(clone, "device_login.py", ports(tool, moved))
    # Polls every second instead of five: the only setting the test adds.
    env = app_env(clone, ASGI_OAUTH_KEY_PREFIX=key_prefix, ASGI_OAUTH_DEVICE_POLL_INTERVAL="1", PYTHONUNBUFFERED="1")

    with serving_block(start, env, port, tmp_path / "serve", redis_url=redis_url) as server:
        (printed,) = shell_steps([register], env, moved, redis_url=redis_url)
        assert json.loads(printed) == json.loads(registered_shown)
        argv = shlex.split(run)
        assert argv == [".venv/bin/python", "device_login.py"]
        proc = subprocess.Popen(
            [sys.executable, *argv[1:]], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None
            shown = [proc.stdout.readline().rstrip("\n"), proc.stdout.readline().rstrip("\n")]
            code_shape = re.compile(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}")
            user_code = code_shape.findall(shown[0])[0]
            assert shown == ports(waiting_shown, moved).replace("BXKT-PWMR", user_code).splitlines()
            complete = shown[1].removeprefix("(or open ").removesuffix(")")
            said = approve(server.base_url, complete, decision)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if decision == "allow":
        assert "is now connected" in said
        assert proc.returncode == 0, err
        assert out.splitlines() == signed_in_shown.splitlines()
    else:
        assert proc.returncode == 1
        assert err.strip() == "not signed in: access_denied"
        assert "`not signed in: access_denied`" in section(PAGE, "Devices tutorial: sign in")
