"""The worker-local cache on its own: what it answers, and when it refuses to, with clocks the test moves."""

from __future__ import annotations

from asgi_oauth.models import AccessToken, Client
from asgi_oauth.store import MemoryStore
from asgi_oauth.store.records import access_name
from asgi_oauth.validation_cache import CacheOptions, ValidationCache, cache_of


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def key(family_id: str, digest: str) -> bytes:
    """A memory key for a token of ``family_id`` stored under ``digest`` (the cache only files by it)."""
    return f"{family_id}.{digest}".encode()


def token(client_id: str = "app", exp: float = 2000.0, sub: str | None = "alice") -> AccessToken:
    return AccessToken(client_id=client_id, scope="read", sub=sub, iat=900, exp=exp)


def proven_cache(size: int = 100, lease: float = 0.25) -> tuple[ValidationCache, Clock]:
    """A cache whose subscription is confirmed and whose first heartbeat was just answered."""
    monotonic = Clock(50.0)
    cache = ValidationCache(CacheOptions(size=size, lease=lease), clock=Clock(), lease_clock=monotonic)
    cache.subscribed()
    cache.lease.sent()
    cache.lease.answered()
    return cache, monotonic


def test_nothing_is_answered_before_a_heartbeat_is() -> None:
    cache = ValidationCache(CacheOptions(), clock=Clock(), lease_clock=Clock(50.0))
    cache.subscribed()
    cache.keep_access("F", key("F", "d"), "d", token(), cache.epoch)
    assert cache.access(key("F", "d"), 1000.0) is None  # subscribed, but no heartbeat answered yet
    assert len(cache) == 1
    cache.lease.sent()
    cache.lease.answered()
    assert cache.access(key("F", "d"), 1000.0) == token()


def test_a_lapsed_lease_suspends_answers_and_a_lost_subscription_empties_the_cache() -> None:
    cache, monotonic = proven_cache(lease=0.25)
    cache.keep_access("F", key("F", "d"), "d", token(), cache.epoch)
    monotonic.now += 0.25
    assert cache.access(key("F", "d"), 1000.0) == token()
    monotonic.now += 0.001
    assert cache.access(key("F", "d"), 1000.0) is None  # Redis silent: read the store
    cache.lease.sent()
    cache.lease.answered()
    # The connection delivers in order: this answer proves every announcement before it arrived.
    assert cache.access(key("F", "d"), 1000.0) == token()
    cache.lost()
    assert len(cache) == 0
    cache.subscribed()
    cache.lease.sent()
    cache.lease.answered()
    assert cache.access(key("F", "d"), 1000.0) is None  # what the lost connection would have said is unknown


def test_a_heartbeat_proves_only_what_was_sent_before_it() -> None:
    """Answers pair with heartbeats in order: the proof is the send time of the newest answered one."""
    cache, monotonic = proven_cache(lease=0.25)
    monotonic.now += 0.2
    cache.lease.sent()  # at 50.2, still unanswered
    monotonic.now += 0.1  # 50.3: the answered one (50.0) is too old
    assert not cache.trusted()
    cache.lease.answered()
    assert cache.trusted()  # proven at 50.2


def test_announcements_forget_what_they_revoke() -> None:
    cache, _ = proven_cache()
    for family, digest in (("F1", "a"), ("F1", "b"), ("F2", "c")):
        cache.keep_access(family, key(family, digest), digest, token(), cache.epoch)
    cache.announced(b"access:F1:a")
    assert cache.access(key("F1", "a"), 1000.0) is None
    assert cache.access(key("F1", "b"), 1000.0) is not None
    cache.announced(b"family:F1")
    assert cache.access(key("F1", "b"), 1000.0) is None
    assert cache.access(key("F2", "c"), 1000.0) is not None
    cache.keep_client(Client(client_id="app", name="app", secret_hash=None), cache.epoch)
    cache.announced(b"client:app")
    assert cache.client("app") is None
    assert cache.access(key("F2", "c"), 1000.0) is None  # a client's tokens are not indexed: all forgotten
    cache.keep_access("F3", key("F3", "d"), "d", token(), cache.epoch)
    cache.announced(b"user:alice")
    assert len(cache) == 0
    cache.keep_access("F4", key("F4", "e"), "e", token(), cache.epoch)
    cache.announced(b"something-newer:x")
    assert len(cache) == 0


def test_an_announcement_naming_a_digest_by_its_first_characters_forgets_that_token() -> None:
    """The Redis store names an access token by its digest's first 22 characters (``records.access_name``);
    releases before named it by the whole digest. Either forgets the token, and only that one."""
    cache, _ = proven_cache()
    revoked, kept, older = "A" * 22 + "x" * 10, "B" * 22 + "x" * 10, "C" * 22 + "x" * 10
    for digest in (revoked, kept, older):
        cache.keep_access("F1", key("F1", digest), digest, token(), cache.epoch)
    cache.announced(f"access:F1:{access_name(revoked)}".encode())
    assert cache.access(key("F1", revoked), 1000.0) is None
    assert cache.access(key("F1", kept), 1000.0) is not None
    cache.announced(f"access:F1:{older}".encode())
    assert cache.access(key("F1", older), 1000.0) is None
    assert cache.access(key("F1", kept), 1000.0) is not None


def test_a_read_that_raced_an_announcement_is_not_kept() -> None:
    """The record read from the store may be the one just revoked: it must not outlive the announcement."""
    cache, _ = proven_cache()
    epoch = cache.epoch  # the store read starts
    cache.announced(b"family:F")  # the revocation arrives before the read's reply
    cache.keep_access("F", key("F", "d"), "d", token(), epoch)
    assert cache.access(key("F", "d"), 1000.0) is None
    client = Client(client_id="app", name="app", secret_hash=None)
    cache.keep_client(client, epoch)
    assert cache.client("app") is None


def test_nothing_is_kept_while_unsubscribed() -> None:
    cache, _ = proven_cache()
    cache.lost()
    cache.keep_access("F", key("F", "d"), "d", token(), cache.epoch)
    cache.subscribed()
    cache.lease.sent()
    cache.lease.answered()
    assert cache.access(key("F", "d"), 1000.0) is None


def test_entries_never_outlive_their_token() -> None:
    cache, _ = proven_cache()
    cache.keep_access("F", key("F", "d"), "d", token(exp=1500.0), cache.epoch)
    assert cache.access(key("F", "d"), 1499.0) is not None
    assert cache.access(key("F", "d"), 1500.0) is None
    expiring = Client(client_id="dyn", name="d", secret_hash=None, dynamic=True, unused_expires_at=999.0)
    cache.keep_client(expiring, cache.epoch)
    assert cache.client("dyn") is None  # the cache's wall clock says 1000


def test_the_cache_is_bounded_and_drops_the_oldest_first() -> None:
    cache, _ = proven_cache(size=3)
    for n in range(5):
        cache.keep_access(f"F{n}", key(f"F{n}", "d"), "d", token(), cache.epoch)
    assert len(cache) == 3
    assert cache.access(key("F0", "d"), 1000.0) is None
    assert cache.access(key("F4", "d"), 1000.0) is not None
    for n in range(5):
        cache.keep_client(Client(client_id=f"c{n}", name="c", secret_hash=None), cache.epoch)
    assert cache.client("c0") is None
    assert cache.client("c4") is not None


def test_the_memory_store_keeps_no_cache() -> None:
    """Its reads are already memory reads; nothing to keep honest."""
    assert cache_of(MemoryStore()) is None


def test_one_family_cannot_grow_past_the_bound() -> None:
    """A family gains an access token at every refresh; the bound counts tokens, not families."""
    cache, _ = proven_cache(size=3)
    for n in range(5):
        cache.keep_access("F", key("F", f"d{n}"), f"d{n}", token(), cache.epoch)
    assert len(cache) <= 3
    assert cache.access(key("F", "d4"), 1000.0) is not None


def test_expired_tokens_leave_memory_as_new_ones_arrive() -> None:
    """A worker keeps what is alive, not every token it ever saw: once tokens expire, the next keeps drop them,
    so under steady traffic the cache levels off at the tokens alive at once, far below its size bound."""
    cache, _ = proven_cache(size=100_000)
    wall = cache._clock
    assert isinstance(wall, Clock)
    lifetime = 60.0
    sizes = []
    for second in range(600):  # ten minutes, ten new tokens a second, each living a minute
        for n in range(10):
            cache.keep_access(
                f"F{second}-{n}", key(f"F{second}-{n}", "d"), "d", token(exp=wall.now + lifetime), cache.epoch
            )
        wall.now += 1
        sizes.append(len(cache))
    assert max(sizes[120:]) <= 10 * (lifetime + 1), max(sizes)
    assert sizes[-1] == sizes[300]  # level, not growing
    assert len(cache._expiries) <= 2 * len(cache) + 10


def test_a_token_kept_again_with_a_later_expiry_is_not_dropped_at_the_first() -> None:
    cache, _ = proven_cache()
    wall = cache._clock
    assert isinstance(wall, Clock)
    cache.keep_access("F", key("F", "d"), "d", token(exp=wall.now + 10), cache.epoch)
    cache.keep_access(
        "F", key("F", "d"), "d", token(exp=wall.now + 100), cache.epoch
    )  # read again after a refresh, say
    wall.now += 50
    cache.keep_access("G", key("G", "d"), "d", token(exp=wall.now + 10), cache.epoch)  # a keep sweeps what expired
    assert cache.access(key("F", "d"), wall.now) == token(exp=wall.now + 50)


def test_expired_clients_leave_memory_too() -> None:
    cache, _ = proven_cache()
    wall = cache._clock
    assert isinstance(wall, Clock)
    short = Client(client_id="dyn", name="d", secret_hash=None, unused_expires_at=wall.now + 10)
    lasting = Client(client_id="static", name="s", secret_hash=None)
    cache.keep_client(short, cache.epoch)
    cache.keep_client(lasting, cache.epoch)
    wall.now += 11
    cache.keep_access("F", key("F", "d"), "d", token(exp=wall.now + 10), cache.epoch)
    assert "dyn" not in cache._clients and "static" in cache._clients


def test_the_expiry_queue_stays_bounded_when_tokens_are_evicted_long_before_they_expire() -> None:
    """A flood of distinct long-lived tokens through a small cache: evicted entries must not pile up in the queue."""
    cache, _ = proven_cache(size=100)
    for n in range(20_000):
        cache.keep_access(f"F{n}", key(f"F{n}", "d"), "d", token(exp=1_000_000.0), cache.epoch)
    assert len(cache) == 100
    assert len(cache._expiries) <= 2 * (100 + 512) + 1


def test_tokens_revoked_one_by_one_leave_no_family_behind() -> None:
    """A revoked access token (``access:<F>:<digest>``) was its family's only entry: the family goes too, so a
    worker's memory does not grow with every token ever revoked (a soak's workers grew steadily before)."""
    cache, _ = proven_cache(size=100_000)
    wall = cache._clock
    assert isinstance(wall, Clock)
    for second in range(600):  # ten minutes, ten tokens a second, each revoked the moment after it was kept
        for n in range(10):
            family = f"F{second}-{n}"
            cache.keep_access(family, key(family, "d"), "d", token(exp=wall.now + 60), cache.epoch)
            cache.announced(f"access:{family}:d".encode())
        wall.now += 1
    assert len(cache) == 0
    assert cache._families == {}
    assert len(cache._expiries) <= 10 * 61  # the queue's entries of revoked tokens leave when their time comes
