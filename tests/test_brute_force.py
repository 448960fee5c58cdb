"""Brute force against ``asgi-oauth serve`` on two workers and Redis, with the default limits, as an attacker
sends it: guesses arrive from other loopback addresses (127.0.0.x and 127.0.y.z are all this machine), each
request on a new connection so both workers take part. The right secret must keep working for its owner.

Defaults under test: 10 failures per (principal, place) and 100 per address within 300 s, 50 per principal
from unproven places within an hour.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from asgi_oauth import RedisStore, new_client, register_client

from .serving import Server, banner_value, clean_env, serving

SECRET_KEY = "brute-force-test-key-" + "x" * 24
USERS = "alice:wonderland,bob:builder,carol:cherry-pie,dave:dr4gonfly,erin:ember-glow,frank:fir-cone"
CHOSEN_SECRET = "correct horse battery"


class Site:
    """The served demo, and HTTP clients that reach it from any loopback address."""

    def __init__(self, server: Server, key_prefix: str) -> None:
        self.server = server
        self.key_prefix = key_prefix
        self.workers: set[str] = set()

    @contextmanager
    def at(self, address: str, cookies: httpx.Cookies | None = None) -> Iterator[httpx.Client]:
        # No keep-alive: every request opens a new connection, which uvicorn hands to either worker.
        transport = httpx.HTTPTransport(local_address=address, limits=httpx.Limits(max_keepalive_connections=0))
        with httpx.Client(
            transport=transport, base_url=self.server.base_url, cookies=cookies, timeout=30, event_hooks=self._hooks
        ) as http:
            yield http

    @property
    def _hooks(self) -> dict[str, list[object]]:
        return {"response": [lambda response: self.workers.add(response.headers.get("x-demo-worker", "?"))]}

    def sign_in(self, http: httpx.Client, username: str, password: str) -> httpx.Response:
        return http.post("/login", data={"username": username, "password": password, "next": "/"})

    def guess(self, address: str, username: str, times: int = 1) -> list[int]:
        with self.at(address) as http:
            return [self.sign_in(http, username, "not-the-password").status_code for _ in range(times)]

    def cc_token(self, address: str, client_id: str, secret: str) -> httpx.Response:
        with self.at(address) as http:
            return http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Site]:
    key_prefix = f"bf{uuid.uuid4().hex[:10]}"
    env = clean_env(
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_SECRET_KEY=SECRET_KEY,
        ASGI_OAUTH_KEY_PREFIX=key_prefix,
        ASGI_OAUTH_DEMO_USERS=USERS,
    )
    with serving(tmp_path_factory.mktemp("serve"), env, workers=2) as server:
        yield Site(server, key_prefix)


def assert_signed_in(response: httpx.Response) -> None:
    assert response.status_code == 303, response.text
    assert "asgi_oauth_demo_session=" in response.headers.get("set-cookie", "")


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 3600
    assert "set-cookie" not in response.headers


def test_one_address_guessing_a_user_is_throttled_and_nobody_else_is(site: Site) -> None:
    # Ten failures allowed (RATE_LIMIT_FAILURES), each answered as one; the eleventh attempt is refused.
    assert site.guess("127.0.0.2", "alice", times=11) == [401] * 10 + [429]
    with site.at("127.0.0.2") as attacker:
        # Refused before the password is looked at, so even the right one does not get in from there.
        right = site.sign_in(attacker, "alice", "wonderland")
        assert_throttled(right)
        assert int(right.headers["retry-after"]) <= 300
        # Another user behind the guessing address (a shared NAT, a proxy) signs in.
        assert_signed_in(site.sign_in(attacker, "bob", "builder"))
    # The guessed user signs in from elsewhere, from a browser that never signed in before.
    with site.at("127.0.0.3") as alice:
        assert_signed_in(site.sign_in(alice, "alice", "wonderland"))


def test_guessing_from_many_addresses_never_refuses_a_known_device_or_address(site: Site) -> None:
    with site.at("127.0.0.20") as browser:
        assert_signed_in(site.sign_in(browser, "carol", "cherry-pie"))
        device_cookies = httpx.Cookies({"asgi_oauth_device": browser.cookies["asgi_oauth_device"]})
    # Ten addresses, five guesses each: no pair and no address reaches its limit, carol's count (50) does.
    statuses = [status for n in range(1, 11) for status in site.guess(f"127.0.3.{n}", "carol", times=5)]
    assert statuses == [401] * 50
    assert len(site.workers) == 2, "the guesses did not reach both workers"
    # A browser that never signed in as carol, at an address she never used: refused, right password or not.
    with site.at("127.0.0.21") as stranger:
        assert_throttled(site.sign_in(stranger, "carol", "cherry-pie"))
        # ... which refuses nobody else there.
        assert_signed_in(site.sign_in(stranger, "dave", "dr4gonfly"))
    # Carol's own browser, carrying its device cookie, from a new address (her phone moved networks).
    with site.at("127.0.0.22", cookies=device_cookies) as carols_browser:
        assert_signed_in(site.sign_in(carols_browser, "carol", "cherry-pie"))
    # The address she signed in from before, from a browser without the cookie.
    with site.at("127.0.0.20") as same_network:
        assert_signed_in(site.sign_in(same_network, "carol", "cherry-pie"))
    # A wrong password on the known device is still counted and limited, on that device only.
    with site.at("127.0.0.23", cookies=device_cookies) as carols_browser:
        assert [site.sign_in(carols_browser, "carol", "nope").status_code for _ in range(11)] == [401] * 10 + [429]


def test_credential_stuffing_from_one_address_refuses_it_but_not_the_users_known_there(site: Site) -> None:
    with site.at("127.0.0.30") as office:
        assert_signed_in(site.sign_in(office, "erin", "ember-glow"))
    statuses = [site.guess("127.0.0.30", f"user{n}")[0] for n in range(101)]
    assert statuses == [401] * 100 + [429]
    with site.at("127.0.0.30") as office:
        assert_throttled(site.sign_in(office, "frank", "fir-cone"))
        assert_signed_in(site.sign_in(office, "erin", "ember-glow"))
    with site.at("127.0.0.31") as elsewhere:
        assert_signed_in(site.sign_in(elsewhere, "frank", "fir-cone"))


async def test_a_clients_right_secret_works_while_wrong_ones_are_sent_for_it(site: Site, redis_url: str) -> None:
    chosen, _ = new_client(
        name="configured", client_id="chosen", client_secret=CHOSEN_SECRET, grant_types=["client_credentials"]
    )
    store = RedisStore.from_url(redis_url, key_prefix=site.key_prefix)
    try:
        await register_client(store, chosen)
    finally:
        await store.aclose()
    assert site.cc_token("127.0.0.40", "chosen", CHOSEN_SECRET).status_code == 200
    # Six addresses, nine wrong secrets each: 54 failures, past the principal's 50.
    statuses = [site.cc_token(f"127.0.4.{n}", "chosen", f"guess-{i}").status_code for n in range(6) for i in range(9)]
    assert statuses[:50] == [401] * 50 and set(statuses[50:]) == {429}
    assert site.cc_token("127.0.0.40", "chosen", CHOSEN_SECRET).status_code == 200
    assert site.cc_token("127.0.0.41", "chosen", CHOSEN_SECRET).status_code == 429
    # A generated secret is never pre-checked: wrong ones from anywhere do not stop the right one anywhere.
    demo_secret = banner_value(site.server.stdout, "client_secret")
    assert [site.cc_token("127.0.0.42", "demo-client", "wrong").status_code for _ in range(12)][-1] == 429
    assert site.cc_token("127.0.0.42", "demo-client", demo_secret).status_code == 200


def test_a_secret_sent_the_wrong_way_is_told_the_registered_method(site: Site) -> None:
    demo_secret = banner_value(site.server.stdout, "client_secret")
    for secret in (demo_secret, "wrong"):
        with site.at("127.0.0.50") as http:
            form = {"grant_type": "client_credentials", "client_id": "demo-client", "client_secret": secret}
            response = http.post("/oauth/token", data=form)
        assert response.status_code == 401
        assert response.json() == {
            "error": "invalid_client",
            "error_description": "this client is registered to authenticate with client_secret_basic; use that method",
        }


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer ,", "Bearer tok@en"])
def test_every_malformed_authorization_header_is_challenged(site: Site, header: str) -> None:
    with site.at("127.0.0.60") as http:
        response = http.get("/api/me", headers={"Authorization": header})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.headers["www-authenticate"].startswith('Bearer realm="asgi_oauth", error="invalid_request"')
