"""Server nonces without a store (``features/dpop/nonces.py``): the same on every worker sharing the key, rotating
each period, the previous one still accepted, nothing older."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgi_oauth.dpop.nonces import NONCE_LENGTH, Nonces

KEY = b"k" * 32
PERIOD = 300.0
START = 1_800_000_000.0  # the start of a period: a multiple of 300


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def nonces(clock: Clock, key: bytes = KEY) -> Nonces:
    return Nonces(key, period=PERIOD, clock=clock)


def test_the_current_nonce_is_valid_and_fits_a_dpop_nonce_header() -> None:
    clock = Clock()
    made = nonces(clock)
    nonce = made.current()
    assert made.valid(nonce)
    # RFC 9449 section 8.1: NQCHAR only; base64url, 128 bits of the MAC
    assert len(nonce) == NONCE_LENGTH and re.fullmatch(r"[A-Za-z0-9_-]+", nonce)


def test_every_worker_with_the_same_key_gives_and_accepts_the_same_nonce() -> None:
    clock = Clock(START + 17)
    one, other = nonces(clock), nonces(clock)
    assert one.current() == other.current() and other.valid(one.current())


def test_the_nonce_stays_the_same_within_a_period_and_changes_with_the_next() -> None:
    clock = Clock()
    made = nonces(clock)
    first = made.current()
    clock.now = START + PERIOD - 0.001
    assert made.current() == first
    clock.now = START + PERIOD
    assert made.current() != first


def test_the_previous_periods_nonce_is_still_valid_one_older_is_not() -> None:
    clock = Clock(START + PERIOD - 1)  # handed out at the very end of its period
    made = nonces(clock)
    nonce = made.current()
    clock.now = START + PERIOD + 1
    assert made.valid(nonce)  # the previous period's
    clock.now = START + 2 * PERIOD - 1
    assert made.valid(nonce)
    clock.now = START + 2 * PERIOD
    assert not made.valid(nonce)  # two periods old


def test_a_nonce_from_a_later_period_is_not_valid_now() -> None:
    clock = Clock(START + PERIOD)
    future = nonces(clock).current()
    clock.now = START
    assert not nonces(clock).valid(future)


def test_a_nonce_made_with_another_key_is_not_valid() -> None:
    clock = Clock()
    assert not nonces(clock).valid(nonces(clock, key=b"other key").current())


@pytest.mark.parametrize("garbage", ["", "n", "A" * NONCE_LENGTH, "\ud800" * NONCE_LENGTH, "é" * NONCE_LENGTH, None, 5])
def test_garbage_is_not_valid(garbage: Any) -> None:
    assert not nonces(Clock()).valid(garbage)


@given(st.text(max_size=40))
def test_fuzz_nothing_but_the_nonces_of_now_and_before_is_valid(text: str) -> None:
    made = nonces(Clock())
    assert made.valid(text) == (text == made.current())


def test_a_nonce_needs_a_key_and_a_positive_period() -> None:
    with pytest.raises(ValueError, match="key"):
        Nonces(b"")
    for period in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="period"):
            Nonces(KEY, period=period)
