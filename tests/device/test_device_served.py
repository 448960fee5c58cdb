"""RFC 8628 for real: a device polls ``asgi-oauth serve`` (two workers, Redis) while Chromium signs in and decides.

The device is a plain httpx loop, as a CLI would write it: it starts a device authorization, then polls the
token endpoint every ``interval`` seconds (five more after each ``slow_down``) until it gets tokens or an
error. Meanwhile headless Chromium opens the verification URI, signs in at the demo's ``/login``, checks the
code and clicks Allow (or, in the second test, types the code into the form and clicks Deny). In the third
nobody decides, and the device hears ``expired_token``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from ..serving import Server, clean_env, run_cli, serving
from ..serving import chromium as start_chromium

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SECRET_KEY = "served-device-test-key-0123456789abcdefgh"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Server]:
    """``asgi-oauth serve --workers 2`` on Redis with the device grant on, and a device client the CLI registered."""
    prefix = f"dev{time.monotonic_ns() % 10**9}"
    env = clean_env(
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_KEY_PREFIX=prefix,
        ASGI_OAUTH_SECRET_KEY=SECRET_KEY,
        ASGI_OAUTH_ENABLE_DEVICE_AUTHORIZATION="true",
        ASGI_OAUTH_DEVICE_POLL_INTERVAL="1",
        ASGI_OAUTH_DEMO_USERS="alice:wonderland,bob:builder",
    )
    made = run_cli(
        *("clients", "create", "--name", "Living room TV", "--client-id", "tv", "--public"),
        *("--grant-type", "device_code", "refresh_token", "--scope", "read profile"),
        env=env,
    )
    assert made.returncode == 0, made.stderr
    with serving(tmp_path_factory.mktemp("device-served"), env, workers=2) as server:
        assert len(server.workers()) == 2
        yield server


def start(server: Server, scope: str = "read") -> dict[str, Any]:
    metadata = httpx.get(f"{server.base_url}/.well-known/oauth-authorization-server/oauth").json()
    assert DEVICE_GRANT in metadata["grant_types_supported"]
    answer = httpx.post(metadata["device_authorization_endpoint"], data={"client_id": "tv", "scope": scope})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    body["token_endpoint"] = metadata["token_endpoint"]
    return body


def poll_until_decided(started: dict[str, Any], limit: float = 90.0) -> tuple[httpx.Response, list[str]]:
    """What a device does: poll at the interval, slower after each slow_down, until anything but pending."""
    interval, errors = started["interval"], []
    deadline = time.monotonic() + limit
    form = {"grant_type": DEVICE_GRANT, "device_code": started["device_code"], "client_id": "tv"}
    with httpx.Client(timeout=10) as http:
        while time.monotonic() < deadline:
            time.sleep(interval)
            answer = http.post(started["token_endpoint"], data=form)
            error = answer.json().get("error") if answer.status_code == 400 else None
            if error == "slow_down":
                interval += 5
            if error not in ("authorization_pending", "slow_down"):
                return answer, errors
            errors.append(error)
    raise AssertionError(f"still pending after {limit} s: {errors}")


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Debian Chromium (tests.serving.chromium); one browser for the module, so the
    second test finds alice still signed in."""
    driver = start_chromium(tmp_path_factory.mktemp("chromium"))
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, tmp_path: Path, what: str, condition: Any) -> None:
    from selenium.webdriver.support.wait import WebDriverWait

    try:
        WebDriverWait(driver, 15).until(condition)
    except Exception:
        driver.save_screenshot(str(tmp_path / "stuck.png"))
        raise AssertionError(f"no {what} at {driver.current_url}: {driver.page_source[:2000]}") from None


def test_chromium_approves_while_the_device_polls(served: Server, chromium: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    started = start(served, "read profile")
    form = {"grant_type": DEVICE_GRANT, "device_code": started["device_code"], "client_id": "tv"}
    first = httpx.post(started["token_endpoint"], data=form)
    assert first.status_code == 400 and first.json()["error"] == "authorization_pending"
    with ThreadPoolExecutor(1) as pool:
        device: Future[tuple[httpx.Response, list[str]]] = pool.submit(poll_until_decided, started)
        chromium.get(started["verification_uri_complete"])
        assert urlsplit(chromium.current_url).path == "/login"  # enter the code, sign in, then decide
        chromium.find_element(By.ID, "username").send_keys("alice")
        chromium.find_element(By.ID, "password").send_keys("wonderland")
        chromium.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(chromium, tmp_path, "consent page", lambda d: "wants to access your account" in d.page_source)
        assert urlsplit(chromium.current_url).path == "/oauth/device"
        assert started["user_code"] in chromium.page_source  # to compare with what the device shows
        assert "Living room TV" in chromium.page_source
        chromium.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
        wait_for(chromium, tmp_path, "done page", lambda d: "is now connected" in d.page_source)
        answer, errors = device.result(timeout=120)

    assert answer.status_code == 200, answer.text
    assert set(errors) <= {"authorization_pending", "slow_down"}  # however many polls the sign-in took
    tokens = answer.json()
    assert tokens["scope"] == "profile read" and tokens["refresh_token"]
    me = httpx.get(f"{served.base_url}/api/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200 and me.json()["sub"] == "alice" and me.json()["client_id"] == "tv"
    # Issued once: the device code is spent, whichever worker answers.
    for _ in range(4):
        again = httpx.post(started["token_endpoint"], data=form)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_chromium_denies_a_typed_code_and_the_device_hears_access_denied(
    served: Server, chromium: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    started = start(served)
    with ThreadPoolExecutor(1) as pool:
        device: Future[tuple[httpx.Response, list[str]]] = pool.submit(poll_until_decided, started)
        chromium.get(started["verification_uri"])
        # Typed as a person might: lower case, a space for the dash.
        chromium.find_element(By.ID, "user_code").send_keys(started["user_code"].lower().replace("-", " "))
        chromium.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(chromium, tmp_path, "next page", lambda d: urlsplit(d.current_url).path in ("/login", "/oauth/device"))
        if urlsplit(chromium.current_url).path == "/login":  # run alone, the browser is not signed in yet
            chromium.find_element(By.ID, "username").send_keys("alice")
            chromium.find_element(By.ID, "password").send_keys("wonderland")
            chromium.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(chromium, tmp_path, "consent page", lambda d: "wants to access your account" in d.page_source)
        chromium.find_element(By.CSS_SELECTOR, "button[value=deny]").click()
        wait_for(chromium, tmp_path, "done page", lambda d: "was not given access" in d.page_source)
        answer, _ = device.result(timeout=120)
    assert answer.status_code == 400 and answer.json()["error"] == "access_denied"


def test_the_device_hears_expired_token_when_nobody_decides(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    """A short-lived code on two workers: the polling device is told ``expired_token``, and so is any later poll."""
    env = clean_env(
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_KEY_PREFIX=key_prefix,
        ASGI_OAUTH_SECRET_KEY=SECRET_KEY,
        ASGI_OAUTH_ENABLE_DEVICE_AUTHORIZATION="true",
        ASGI_OAUTH_DEVICE_POLL_INTERVAL="1",
        ASGI_OAUTH_DEVICE_CODE_LIFETIME="3",
    )
    made = run_cli("clients", "create", "--name", "TV", "--client-id", "tv", "--public",
                   "--grant-type", "device_code", "--scope", "read", env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    with serving(tmp_path, env, workers=2) as server:
        started = start(server)
        assert started["expires_in"] == 3
        answer, errors = poll_until_decided(started)
        assert answer.status_code == 400 and answer.json()["error"] == "expired_token"
        assert set(errors) <= {"authorization_pending", "slow_down"}
        form = {"grant_type": DEVICE_GRANT, "device_code": started["device_code"], "client_id": "tv"}
        assert httpx.post(started["token_endpoint"], data=form).json()["error"] == "expired_token"
        page = httpx.get(started["verification_uri_complete"])  # signed out: sent to sign in first
        assert page.status_code == 302
