"""Real clients against a real ``asgi-oauth serve``: Authlib's OAuth2Client and Debian's Chromium.

Both complete the whole browser flow over HTTP: authorization request, sign-in at the demo's /login,
the consent page, the redirect back with ``code``, ``state`` and ``iss``, and the code exchange with
a PKCE verifier. The last test signs in with OpenID Connect in Chromium, on Redis, and verifies
the ID token against the provider's JWKS.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client

from .serving import Server, banner_value, chromium, clean_env, hidden_fields, serving

if TYPE_CHECKING:
    pass

USERS = "alice:wonderland,bob:builder"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    with serving(tmp_path_factory.mktemp("demo"), clean_env(ASGI_OAUTH_DEMO_USERS=USERS)) as server:
        yield server, banner_value(server.stdout, "client_secret")


def test_authlib_client_completes_the_code_flow_with_pkce(demo: tuple[Server, str]) -> None:
    server, secret = demo
    issuer = f"{server.base_url}/oauth"
    metadata = httpx.get(f"{server.base_url}/.well-known/oauth-authorization-server/oauth").json()
    client = OAuth2Client(
        client_id="demo-client",
        client_secret=secret,
        redirect_uri=f"{server.base_url}/callback",
        scope="read profile",
        code_challenge_method="S256",
    )
    verifier = generate_token(64)
    url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)

    with httpx.Client(timeout=10) as browser:
        to_login = browser.get(url)
        assert to_login.status_code == 302
        login_url = urljoin(url, to_login.headers["location"])
        assert urlsplit(login_url).path == "/login"
        form = browser.get(login_url)
        fields = hidden_fields(form.text) | {"username": "alice", "password": "wonderland"}
        signed_in = browser.post(f"{server.base_url}/login", data=fields)
        assert signed_in.status_code == 303
        consent = browser.get(urljoin(server.base_url, signed_in.headers["location"]))
        assert consent.status_code == 200 and "wants to access your account" in consent.text
        assert consent.headers["x-frame-options"] == "DENY"
        approved = browser.post(
            urljoin(url, "/oauth/authorize"), data={**hidden_fields(consent.text), "decision": "allow"}
        )
        assert approved.status_code == 303
        callback = approved.headers["location"]
    back = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    assert back["state"] == state and back["iss"] == issuer  # RFC 9207: the client can check who answered

    token = client.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["refresh_token"] and token["scope"] == "profile read"
    me = client.get(f"{server.base_url}/api/me")
    assert me.status_code == 200 and me.json()["sub"] == "alice" and me.json()["client_id"] == "demo-client"

    refreshed = client.refresh_token(metadata["token_endpoint"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    client.close()


def test_chromium_signs_in_consents_and_lands_on_the_redirect_uri(demo: tuple[Server, str], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    def wait_for_path(path: str) -> None:
        try:
            WebDriverWait(driver, 15).until(lambda d: urlsplit(d.current_url).path == path)
        except Exception:
            driver.save_screenshot(str(tmp_path / "stuck.png"))
            raise AssertionError(f"stuck at {driver.current_url}: {driver.page_source[:2000]}") from None

    server, _ = demo
    driver = chromium(tmp_path)
    try:
        driver.set_page_load_timeout(20)
        # The demo's /start plays the client: it makes the PKCE pair and state, then sends us to /authorize.
        driver.get(f"{server.base_url}/start")
        assert urlsplit(driver.current_url).path == "/login"
        driver.find_element(By.ID, "username").send_keys("bob")
        driver.find_element(By.ID, "password").send_keys("builder")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for_path("/oauth/authorize")
        assert "wants to access your account" in driver.page_source
        shot = tmp_path / "consent.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 1000
        driver.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
        wait_for_path("/callback")
        landed = urlsplit(driver.current_url)
        assert f"{landed.scheme}://{landed.netloc}{landed.path}" == f"{server.base_url}/callback"
        received = parse_qs(landed.query)
        assert received["iss"] == [f"{server.base_url}/oauth"] and received["code"] and received["state"]
        # The callback page's own checks (state and iss match what /start sent) passed.
        assert "✗" not in driver.find_element(By.TAG_NAME, "body").text
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def oidc_demo(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[Server, str]]:
    """The demo as an OpenID provider, on Redis, with generated keys."""
    env = clean_env(
        ASGI_OAUTH_DEMO_USERS=USERS,
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_KEY_PREFIX="chromium-oidc",
        ASGI_OAUTH_SECRET_KEY="chromium-oidc-signing-key-0123456789abcdefgh",
        ASGI_OAUTH_ENABLE_OIDC="1",
    )
    with serving(tmp_path_factory.mktemp("oidc-demo"), env) as server:
        yield server, banner_value(server.stdout, "client_secret")


def test_chromium_signs_in_with_openid_connect_and_the_id_token_verifies(
    oidc_demo: tuple[Server, str], tmp_path: Path
) -> None:
    import jwt
    from authlib.oidc.core import CodeIDToken
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    server, secret = oidc_demo
    issuer = f"{server.base_url}/oauth"
    metadata = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    assert "openid" in metadata["scopes_supported"] and metadata["jwks_uri"] == f"{issuer}/jwks"
    client = OAuth2Client(
        client_id="demo-client",
        client_secret=secret,
        redirect_uri=f"{server.base_url}/callback",
        scope="openid profile email",
        code_challenge_method="S256",
    )
    verifier, nonce = generate_token(64), generate_token(20)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    driver = chromium(tmp_path)
    try:
        driver.set_page_load_timeout(20)
        driver.get(url)
        assert urlsplit(driver.current_url).path == "/login"
        driver.find_element(By.ID, "username").send_keys("alice")
        driver.find_element(By.ID, "password").send_keys("wonderland")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(driver, 15).until(lambda d: urlsplit(d.current_url).path == "/oauth/authorize")
        assert "Sign you in with your account" in driver.page_source
        driver.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
        WebDriverWait(driver, 15).until(lambda d: urlsplit(d.current_url).path == "/callback")
        callback = driver.current_url
    except Exception:
        driver.save_screenshot(str(tmp_path / "stuck.png"))
        raise
    finally:
        driver.quit()
    back = parse_qs(urlsplit(callback).query)
    assert back["state"] == [state] and back["iss"] == [issuer]

    token = client.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    client.close()
    assert "refresh_token" not in token  # no offline_access asked: OIDC Core section 11
    key = jwt.PyJWKClient(metadata["jwks_uri"]).get_signing_key_from_jwt(token["id_token"])
    claims = jwt.decode(token["id_token"], key, algorithms=["RS256"], audience="demo-client", issuer=issuer)
    # Authlib's own ID token rules: nonce, azp, at_hash against the access token, times.
    params = {"nonce": nonce, "client_id": "demo-client", "access_token": token["access_token"]}
    CodeIDToken(claims, jwt.get_unverified_header(token["id_token"]), {"iss": {"values": [issuer]}}, params).validate()
    assert claims["sub"] == "alice" and claims["nonce"] == nonce


def test_chromium_sees_whom_it_signs_in_for_and_a_styled_device_page(tmp_path: Path) -> None:
    """The sign-in page names the application (or the device) it leads to; the device page's code field and
    its refusal carry the pages' style."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    env = clean_env(ASGI_OAUTH_DEMO_USERS=USERS, ASGI_OAUTH_ENABLE_DEVICE_AUTHORIZATION="true")
    with serving(tmp_path / "logs", env) as server:
        driver = chromium(tmp_path)
        try:
            driver.set_page_load_timeout(20)
            driver.get(f"{server.base_url}/start")
            assert urlsplit(driver.current_url).path == "/login"
            text = driver.find_element(By.TAG_NAME, "main").text
            assert "Sign in to continue to asgi-oauth demo client." in text
            assert "Application id demo-client" in text

            driver.get(f"{server.base_url}/oauth/device?user_code=BBBB-BBBB")
            assert urlsplit(driver.current_url).path == "/login"
            assert "Sign in to connect a device to your account." in driver.find_element(By.TAG_NAME, "main").text
            driver.find_element(By.ID, "username").send_keys("alice")
            driver.find_element(By.ID, "password").send_keys("wonderland")
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            WebDriverWait(driver, 15).until(lambda d: urlsplit(d.current_url).path == "/oauth/device")

            refusal = driver.find_element(By.CSS_SELECTOR, "[role=alert]")
            assert refusal.text == "That code is not valid, or it has expired."
            assert refusal.value_of_css_property("color") == "rgba(160, 0, 0, 1)"
            assert refusal.value_of_css_property("font-weight") == "600"
            field = driver.find_element(By.ID, "user_code")
            assert field.value_of_css_property("border-radius") == "8px"
            assert field.value_of_css_property("border-top-color") == "rgba(197, 202, 211, 1)"
            # As wide as the form, not the browser's default text box.
            assert field.size["width"] == driver.find_element(By.TAG_NAME, "form").size["width"]
        except Exception:
            driver.save_screenshot(str(tmp_path / "stuck.png"))
            raise
        finally:
            driver.quit()
