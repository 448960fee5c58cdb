"""Known-device cookies: what a cookie proves, for whom, and what it never proves."""

from __future__ import annotations

import time
from unittest import mock

from asgi_oauth.known_devices import KnownDevices

KEY = "k" * 40
NEW_KEY = "n" * 40


def test_a_cookie_proves_a_device_for_the_principal_that_signed_in_only() -> None:
    devices = KnownDevices([KEY], max_age=60)
    cookie = devices.remember(None, "user:alice")
    device = devices.device_for(cookie, "user:alice")
    assert device is not None and len(device) >= 16
    assert devices.device_for(cookie, "user:bob") is None
    assert devices.device_for(None, "user:alice") is None


def test_signing_in_again_keeps_the_device_id_and_adds_other_users() -> None:
    devices = KnownDevices([KEY], max_age=60)
    first = devices.remember(None, "user:alice")
    both = devices.remember(first, "user:bob")
    again = devices.remember(both, "user:alice")
    assert devices.device_for(again, "user:alice") == devices.device_for(first, "user:alice")
    assert devices.device_for(again, "user:bob") == devices.device_for(both, "user:bob")
    assert devices.device_for(again, "user:alice") != devices.device_for(again, "user:bob")


def test_a_browser_remembers_a_few_users_the_oldest_falling_out() -> None:
    devices = KnownDevices([KEY], max_age=60)
    cookie = None
    for name in ("u1", "u2", "u3", "u4", "u5", "u6"):
        cookie = devices.remember(cookie, f"user:{name}")
    assert devices.device_for(cookie, "user:u1") is None
    assert all(devices.device_for(cookie, f"user:u{n}") for n in range(2, 7))


def test_forged_altered_or_foreign_cookies_prove_nothing() -> None:
    devices = KnownDevices([KEY], max_age=60)
    cookie = devices.remember(None, "user:alice")
    payload, _, signature = cookie.rpartition(".")
    assert devices.device_for(payload + "." + signature[::-1], "user:alice") is None
    assert devices.device_for("not-a-cookie", "user:alice") is None
    assert devices.device_for(KnownDevices(["x" * 40], max_age=60).remember(None, "user:alice"), "user:alice") is None
    # A forged cookie never breaks sign-in either: remembering over it starts afresh.
    assert devices.device_for(devices.remember("garbage", "user:alice"), "user:alice") is not None


def test_a_cookie_expires_after_the_known_device_lifetime() -> None:
    devices = KnownDevices([KEY], max_age=60)
    cookie = devices.remember(None, "user:alice")
    with mock.patch("time.time", return_value=time.time() + 61):
        assert devices.device_for(cookie, "user:alice") is None


def test_rotating_secret_key_keeps_known_devices() -> None:
    cookie = KnownDevices([KEY], max_age=60).remember(None, "user:alice")
    rotated = KnownDevices([NEW_KEY, KEY], max_age=60)
    device = rotated.device_for(cookie, "user:alice")
    assert device is not None
    assert rotated.device_for(rotated.remember(cookie, "user:alice"), "user:alice") == device


def test_a_user_attempt_comes_from_the_proven_device_or_else_from_the_address() -> None:
    devices = KnownDevices([KEY], max_age=60)
    cookie = devices.remember(None, "user:alice")
    known = devices.user_attempt("alice", "127.0.0.2", cookie)
    assert known.principal == "user:alice" and known.device == devices.device_for(cookie, "user:alice")
    assert devices.user_attempt("bob", "127.0.0.2", cookie).device is None  # alice's device proves nothing for bob
    assert devices.user_attempt("alice", "127.0.0.2", None).place == "address:127.0.0.2"
