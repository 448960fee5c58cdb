"""The default fetcher of client metadata documents (:mod:`asgi_oauth.cimd.documents`), on httpx (the ``remote``
extra): a GET that follows no redirect, reads at most ``max_bytes`` within ``timeout`` seconds, and refuses
hosts that resolve to loopback, private, link-local or otherwise non-public addresses.

The host is resolved once and the request goes to the address that was checked (the name still travels as
``Host`` and as the TLS server name, so the certificate is verified for it): a DNS answer that changes between
the check and the connection (DNS rebinding) cannot point the request inside the network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from .documents import DocumentError, Fetched, Fetcher


async def public_address(host: str, port: int, what: str = "the client's metadata document") -> str:
    """An address ``host`` resolves to, if every address it resolves to is public; else :class:`DocumentError`
    (saying ``what`` was being fetched)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # UnicodeError: a name the IDNA codec refuses ("a..b", a label over 63)
        raise DocumentError(f"{what} host does not resolve") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses or not all(address.is_global for address in addresses):
        raise DocumentError(f"{what} host is not on the public internet")
    return str(addresses[0])


def document_fetcher(
    *, seconds: float = 5.0, max_bytes: int = 5120, what: str = "the client's metadata document"
) -> Fetcher:
    """The fetcher :class:`~asgi_oauth.cimd.documents.MetadataDocuments` uses unless given another; also the one
    that gets a client's key set (``what`` names the fetched thing in error messages)."""

    async def fetch(url: str) -> Fetched:
        return await _fetch(url, seconds, max_bytes, what)

    return fetch


async def _fetch(url: str, seconds: float, max_bytes: int, what: str) -> Fetched:
    import httpx  # the 'remote' extra

    timeout = seconds
    # Taken apart once, by the parser that sends the request: the host in its ASCII (IDNA) form, the path and
    # query percent-encoded, so what is resolved, sent as Host and as the TLS name is what a server can read.
    try:
        parsed = httpx.URL(url)
        host, port, netloc = parsed.raw_host.decode("ascii"), parsed.port or 443, parsed.netloc.decode("ascii")
    except (httpx.InvalidURL, UnicodeError):
        raise DocumentError(f"{what} URL is not one that can be fetched") from None
    if parsed.scheme != "https" or not host or not 0 < port < 65536:
        raise DocumentError(f"{what} URL is not one that can be fetched")
    try:
        async with asyncio.timeout(timeout):
            address = await public_address(host, port, what)
            pinned = f"[{address}]" if ":" in address else address
            target = f"https://{pinned}:{port}{parsed.raw_path.decode('ascii')}"
            async with (
                httpx.AsyncClient(follow_redirects=False, timeout=timeout) as http,
                http.stream(
                    "GET",
                    target,
                    headers={"Host": netloc, "Accept": "application/json"},
                    extensions={"sni_hostname": host},
                ) as response,
            ):
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise DocumentError(f"{what} is larger than {max_bytes} bytes")
                headers = {name.lower(): value for name, value in response.headers.items()}
                return Fetched(response.status_code, headers, body)
    except TimeoutError:
        raise DocumentError(f"{what} did not arrive within {timeout:g} seconds") from None
    except httpx.HTTPError as exc:
        raise DocumentError(f"{what} could not be fetched ({type(exc).__name__})") from None
