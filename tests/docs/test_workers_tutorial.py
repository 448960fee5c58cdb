"""docs/tutorials/workers.md followed as written: ``asgi-oauth serve --workers 2`` on Redis with the page's settings,
the page's client registration, token, calls and revocation in one shell, each printing what the page shows; and
the test's own check that both workers answered the token, before and after its revocation, each connection's
worker found in ``/proc`` (the page's "on both workers" and "neither accepts it any more")."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ..serving import clean_env, free_port, run_cli
from .pages import code, section, serving_block, shell_steps

PAGE = "tutorials/workers"

pytestmark = pytest.mark.slow


def _server_side_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the accepted socket of the loopback connection from ``client_port`` to ``server_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            return inode
    return None


def _owner(pids: list[int], inode: str) -> int:
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if fd.readlink().name == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no worker of {pids} holds socket {inode}")


def ask_a_worker(port: int, token: str, pids: list[int]) -> tuple[int, int]:
    """``GET /api/me`` with ``token`` on a new connection: (the worker that accepted it, the status it answered)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        request = f"GET /api/me HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
        sock.sendall(request.encode())
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, head
            head += chunk
        inode = _server_side_inode(port, sock.getsockname()[1])  # still open (keep-alive): still listed
        assert inode is not None
        return _owner(pids, inode), int(head.split(b" ", 2)[1])


def answers_by_worker(port: int, token: str, pids: list[int], tries: int = 200) -> dict[int, set[int]]:
    """Ask until both workers answered (bounded): the statuses each worker gave."""
    seen: dict[int, set[int]] = {}
    for _ in range(tries):
        pid, status = ask_a_worker(port, token, pids)
        seen.setdefault(pid, set()).add(status)
        if len(seen) == len(pids):
            break
    return seen


def test_two_workers_share_a_token_and_its_revocation(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    (start,) = code(PAGE, "Workers tutorial: start two workers", "sh")
    register, calls = code(PAGE, "Workers tutorial: a token through both workers", "sh")
    (revoke,) = code(PAGE, "Workers tutorial: revoke it everywhere", "sh")
    (accepted,) = code(PAGE, "Workers tutorial: a token through both workers", "text")
    (refused,) = code(PAGE, "Workers tutorial: revoke it everywhere", "text")
    env = clean_env(ASGI_OAUTH_KEY_PREFIX=key_prefix)
    port = free_port()
    moved = {8000: port}

    with serving_block(start, env, port, tmp_path / "serve", redis_url=redis_url, workers=2) as server:
        assert "workers:  2" in server.stdout and redis_url in server.stdout  # the banner, as the page says
        pids = server.workers()
        assert len(pids) == 2
        # The second terminal, up to the revocation; the test's own lines print the shell's two variables.
        steps = [register, calls, 'echo "$CLIENT_SECRET"', 'echo "$TOKEN"']
        registered, called, secret, token = shell_steps(steps, env, moved, redis_url=redis_url)
        assert registered == ""
        assert called.split() == accepted.split()
        # "Every call is accepted, on both workers": each worker's own answer to the token.
        before = answers_by_worker(port, token.strip(), pids)
        assert before == {pid: {200} for pid in pids}, before

        # The same shell goes on: its variables are as the steps above left them.
        shell_vars = {**env, "CLIENT_SECRET": secret.strip(), "TOKEN": token.strip()}
        (revoked,) = shell_steps([revoke], shell_vars, moved, redis_url=redis_url)
        assert revoked.split() == refused.split()
        # "Whichever worker revoked it, neither accepts it any more".
        after = answers_by_worker(port, token.strip(), pids)
        assert after == {pid: {401} for pid in pids}, after
    assert "Traceback" not in server.stderr


def test_serve_refuses_two_workers_without_the_two_settings() -> None:
    """The page: "`serve` refuses `--workers 2` without either setting, saying which is missing"."""
    assert "`serve` refuses `--workers 2` without either setting" in section(
        PAGE, "Workers tutorial: start two workers"
    )
    for given in ({}, {"ASGI_OAUTH_REDIS_URL": "redis://127.0.0.1:6379/0"}):
        refused = run_cli("serve", "--port", str(free_port()), "--workers", "2", env=clean_env(**given))
        assert refused.returncode != 0
        missing = "ASGI_OAUTH_SECRET_KEY" if given else "ASGI_OAUTH_REDIS_URL"
        assert "--workers 2 needs" in refused.stderr and missing in refused.stderr, refused.stderr


@pytest.mark.parametrize("title", ["Workers tutorial: Redis Sentinel", "Workers tutorial: Redis Cluster"])
async def test_the_sentinel_and_cluster_fragments_name_urls_the_store_reads(title: str) -> None:
    """The fragments are not run (they need a Sentinel or a Cluster); their URLs are read by the store's own
    ``connect`` as the page says (which hosts, which master and database), and accepted by the settings, and the
    rest of each fragment is the single-Redis block's, but for the host and the number of workers."""
    from pydantic import SecretStr
    from redis.asyncio.cluster import RedisCluster
    from redis.asyncio.sentinel import SentinelConnectionPool

    from asgi_oauth.settings import OAuthSettings
    from asgi_oauth.store.redis import connect

    (fragment,) = code(PAGE, title, "console")
    lines = [line.removeprefix("$ ") for line in fragment.splitlines()]
    assert all(line.startswith("$ ") for line in fragment.splitlines())
    url = lines[0].removeprefix("export ASGI_OAUTH_REDIS_URL=")
    assert lines[1].startswith("export ASGI_OAUTH_SECRET_KEY=")
    assert lines[2] == ".venv/bin/asgi-oauth serve --host 0.0.0.0 --port 8000 --workers 4"
    assert OAuthSettings(redis_url=url, secret_key=(SecretStr("k" * 40),)).redis_url == url
    client = connect(url)
    try:
        if "Cluster" in title:
            assert isinstance(client, RedisCluster)
            assert set(client.nodes_manager.startup_nodes) == {"redis-1:6379", "redis-2:6379", "redis-3:6379"}
        else:
            assert not isinstance(client, RedisCluster)
            pool = client.connection_pool
            assert isinstance(pool, SentinelConnectionPool)
            assert pool.service_name == "mymaster" and pool.connection_kwargs["db"] == 0
            hosts = [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
                     for s in pool.sentinel_manager.sentinels]  # fmt: skip
            assert hosts == [("sentinel-1", 26379), ("sentinel-2", 26379), ("sentinel-3", 26379)]
    finally:
        await client.aclose()
    assert "fragments" in section(PAGE, "Workers tutorial: Redis Cluster")
