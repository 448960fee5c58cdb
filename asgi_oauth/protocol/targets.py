"""Resource indicators (RFC 8707): which resource a token is for, so a resource server can refuse tokens minted
for another one (MCP requires it: a token for one MCP server must not open another).

A client names the resource with ``resource`` at ``/authorize`` and ``/token``. The server keeps it with the
code and the refresh family and puts it on every access token issued under them (introspection's ``aud``).
Resources compare in the canonical form of :func:`~.resources.canonical_resource`, the one the resource
servers' middleware compares too.
"""

from __future__ import annotations

from ..errors import InvalidTarget
from .params import Params
from .resources import canonical_resource


def requested_resource(params: Params, allowed: tuple[str, ...], parameter: str = "resource") -> str | None:
    """The canonical resource a request names in ``parameter`` (token exchange's ``audience`` is read the same
    way), ``None`` when it names none; :class:`InvalidTarget` when it is not a resource indicator or not one of
    ``allowed`` (canonical; empty allows any)."""
    raw = params.get(parameter)
    if raw is None:
        return None
    try:
        resource = canonical_resource(raw)
    except ValueError:
        raise InvalidTarget(f"{parameter} must be an absolute URI without a fragment (RFC 8707 section 2)") from None
    if allowed and resource not in allowed:
        raise InvalidTarget(f"this server issues no tokens for that {parameter}")
    return resource


def within(requested: str | None, granted: str | None) -> str | None:
    """The resource a token may be for when its grant was for ``granted``: the same one, or any allowed one
    when the grant named none; :class:`InvalidTarget` when a bound grant is asked for another."""
    if granted is None or requested is None or requested == granted:
        return requested if requested is not None else granted
    raise InvalidTarget("the grant is for another resource")
