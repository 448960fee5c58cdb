"""``rediss://``: the store's pipelined connection over TLS, against a real redis-server with TLS on.

The certificates are made here (a throw-away CA and a server certificate for 127.0.0.1), so the test
needs nothing but a redis-server built with TLS, as Debian's is.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from redis import exceptions as rexc

from asgi_oauth.store.pipeline import PipelinedRedis
from asgi_oauth.store.redis import RedisStore
from asgi_oauth.testing.records import at

from ..reliability.stack import RedisProcess
from ..serving import free_port
from .test_pipeline import endpoint_of


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None, signer: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if issuer is None:  # the CA
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(signer, hashes.SHA256())


@dataclass
class TLSRedis:
    server: RedisProcess
    tls_port: int
    ca: Path

    def url(self, db: int = 0, *, ca: Path | None = None) -> str:
        return f"rediss://127.0.0.1:{self.tls_port}/{db}?ssl_ca_certs={ca or self.ca}"


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TLSRedis]:
    """A private redis-server answering TLS on one port (and plain TCP on another, to look at its data)."""
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("asgi-oauth test CA", ca_key, None, ca_key)
    cert = _certificate("127.0.0.1", server_key, ca.subject, ca_key)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(server_key, tmp_path / "server.key")
    tls_port = free_port()
    server = RedisProcess(tmp_path / "redis", persistent=False)
    server.extra = (
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(tmp_path / "server.pem"),
        "--tls-key-file", str(tmp_path / "server.key"),
        "--tls-ca-cert-file", str(tmp_path / "ca.pem"),
        "--tls-auth-clients", "no",
    )  # fmt: skip
    server.start()
    try:
        yield TLSRedis(server, tls_port, tmp_path / "ca.pem")
    finally:
        server.stop()


async def test_commands_run_over_tls_with_the_certificate_checked(tls_redis: TLSRedis, key_prefix: str) -> None:
    ep = endpoint_of(tls_redis.url(db=2), socket_timeout=5)
    assert ep.tls is not None and ep.port == tls_redis.tls_port and ep.db == 2
    client = PipelinedRedis(ep)
    try:
        assert await client.execute("SET", f"{key_prefix}:tls", "over-tls") == b"OK"
        assert await client.execute("GET", f"{key_prefix}:tls") == b"over-tls"
    finally:
        await client.aclose()
    with redis.Redis(port=tls_redis.server.port, db=2, socket_timeout=5) as plain:
        assert plain.get(f"{key_prefix}:tls") == b"over-tls"


async def test_a_server_certificate_from_another_authority_is_refused(tls_redis: TLSRedis, tmp_path: Path) -> None:
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(
        _certificate("someone else", other_key, None, other_key).public_bytes(serialization.Encoding.PEM)
    )
    client = PipelinedRedis(endpoint_of(tls_redis.url(ca=other_ca), socket_timeout=5))
    try:
        with pytest.raises(rexc.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.execute("PING")
    finally:
        await client.aclose()


async def test_plain_commands_to_the_tls_port_fail_cleanly(tls_redis: TLSRedis) -> None:
    """A ``redis://`` URL pointed at the TLS port gets a connection error, not a hang or garbage."""
    client = PipelinedRedis(endpoint_of(f"redis://127.0.0.1:{tls_redis.tls_port}/0", socket_timeout=5))
    try:
        with pytest.raises((rexc.ConnectionError, rexc.TimeoutError)):
            await client.execute("PING")
    finally:
        await client.aclose()


async def test_redis_store_over_tls_uses_the_pipelined_connection(tls_redis: TLSRedis, key_prefix: str) -> None:
    """redis-py opens each connection with HELLO; the pipelined connection does not, so none is counted."""
    with redis.Redis(port=tls_redis.server.port, socket_timeout=5) as plain:
        before = plain.info("commandstats")
        store = RedisStore.from_url(tls_redis.url(), key_prefix=key_prefix, timeout=5)
        try:
            # A consent is one plain SET (issuing a token is a script that also lists it under its owners).
            await store.put_consent("alice", "web", "read", expires_at=at(60))
            assert await store.get_consent("alice", "web") == "read"
        finally:
            await store.aclose()
        after = plain.info("commandstats")
    delta = {k: v["calls"] - before.get(k, {}).get("calls", 0) for k, v in after.items()}
    # Exactly the store's SET and GET (and this test's INFO): no HELLO or PING of a redis-py connection.
    assert {k: n for k, n in delta.items() if n} == {"cmdstat_set": 1, "cmdstat_get": 1, "cmdstat_info": 1}
