"""Each grant function and the token endpoint's dispatch, called directly: no HTTP, a Context on memory and Redis."""

from __future__ import annotations

from dataclasses import replace

import pytest

from asgi_oauth import crypto
from asgi_oauth.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from asgi_oauth.protocol import grants
from asgi_oauth.protocol.grants import authorization_code, client_credentials, password, refresh_token

from ..web.helpers import pkce_pair
from .conftest import ALICE, Protocol, form

# -- client_credentials -------------------------------------------------------------------------


async def test_client_credentials_issues_a_narrowed_access_token_only(proto: Protocol) -> None:
    tokens = await client_credentials(proto.ctx, proto.clients["job"], form(scope="read"))

    assert tokens.scope == "read"
    assert tokens.refresh_token is None
    assert tokens.expires_in == 3600
    assert await proto.active(tokens)


async def test_client_credentials_without_scope_gets_all_the_clients_scope(proto: Protocol) -> None:
    tokens = await client_credentials(proto.ctx, proto.clients["job"], form())

    assert set(tokens.scope.split()) == {"read", "write"}


async def test_client_credentials_refuses_scope_the_client_lacks(proto: Protocol) -> None:
    with pytest.raises(InvalidScope):
        await client_credentials(proto.ctx, proto.clients["job"], form(scope="read admin"))


# -- authorization_code -------------------------------------------------------------------------


async def test_code_exchange_with_pkce(proto: Protocol) -> None:
    verifier, challenge = pkce_pair()
    code = await proto.code(challenge=challenge)

    tokens = await authorization_code(
        proto.ctx, proto.clients["web"], form(code=code, redirect_uri="https://web.test/cb", code_verifier=verifier)
    )

    assert tokens.scope == "read"
    assert tokens.refresh_token is not None  # the client may use refresh_token
    assert await proto.active(tokens)


async def test_pkce_mismatch_fails_and_burns_the_code(proto: Protocol) -> None:
    verifier, challenge = pkce_pair()
    code = await proto.code(challenge=challenge)
    wrong, _ = pkce_pair()

    with pytest.raises(InvalidGrant, match="code_verifier does not match"):
        await authorization_code(proto.ctx, proto.clients["web"], form(code=code, code_verifier=wrong))
    # Single use: the right verifier comes too late.
    with pytest.raises(InvalidGrant):
        await authorization_code(proto.ctx, proto.clients["web"], form(code=code, code_verifier=verifier))


async def test_pkce_verifier_is_required_when_the_request_had_a_challenge(proto: Protocol) -> None:
    _, challenge = pkce_pair()
    code = await proto.code(challenge=challenge)

    with pytest.raises(InvalidGrant, match="code_verifier is required"):
        await authorization_code(proto.ctx, proto.clients["web"], form(code=code))


async def test_code_of_another_client_fails(proto: Protocol) -> None:
    verifier, challenge = pkce_pair()
    code = await proto.code("web", challenge)

    with pytest.raises(InvalidGrant, match="another client"):
        await authorization_code(proto.ctx, proto.clients["other"], form(code=code, code_verifier=verifier))


async def test_expired_code_fails(proto: Protocol) -> None:
    verifier, challenge = pkce_pair()
    code = await proto.code(challenge=challenge)
    proto.clock.advance(proto.ctx.settings.authorization_code_lifetime + 1)

    with pytest.raises(InvalidGrant, match="expired"):
        await authorization_code(proto.ctx, proto.clients["web"], form(code=code, code_verifier=verifier))


async def test_replayed_code_fails_and_revokes_what_it_issued(proto: Protocol) -> None:
    verifier, challenge = pkce_pair()
    code = await proto.code(challenge=challenge)
    request = form(code=code, code_verifier=verifier)
    first = await authorization_code(proto.ctx, proto.clients["web"], request)

    with pytest.raises(InvalidGrant, match="already used"):
        await authorization_code(proto.ctx, proto.clients["web"], request)
    assert not await proto.active(first)


async def test_malformed_code_fails_without_a_store_lookup(proto: Protocol) -> None:
    with pytest.raises(InvalidGrant, match="invalid authorization code"):
        await authorization_code(proto.ctx, proto.clients["web"], form(code="no-family-here"))


# -- refresh_token ------------------------------------------------------------------------------


async def test_refresh_rotates_and_may_narrow(proto: Protocol) -> None:
    tokens = await password(proto.ctx, proto.clients["app"], form(username="alice", password="wonderland"))
    assert tokens.refresh_token is not None

    refreshed = await refresh_token(proto.ctx, proto.clients["app"], form(refresh_token=tokens.refresh_token))

    assert refreshed.refresh_token not in (None, tokens.refresh_token)
    assert refreshed.scope == "read"
    assert await proto.active(refreshed)


async def test_reused_refresh_token_revokes_the_family(proto: Protocol) -> None:
    tokens = await password(proto.ctx, proto.clients["app"], form(username="alice", password="wonderland"))
    assert tokens.refresh_token is not None
    refreshed = await refresh_token(proto.ctx, proto.clients["app"], form(refresh_token=tokens.refresh_token))
    assert refreshed.refresh_token is not None

    with pytest.raises(InvalidGrant, match="already used"):
        await refresh_token(proto.ctx, proto.clients["app"], form(refresh_token=tokens.refresh_token))

    assert not await proto.active(refreshed)
    assert not await proto.active(tokens)
    with pytest.raises(InvalidGrant):  # the newest refresh token went with its family
        await refresh_token(proto.ctx, proto.clients["app"], form(refresh_token=refreshed.refresh_token))


async def test_refresh_never_widens_scope(proto: Protocol) -> None:
    verifier, challenge = pkce_pair()
    code = await proto.code(challenge=challenge)
    tokens = await authorization_code(proto.ctx, proto.clients["web"], form(code=code, code_verifier=verifier))
    assert tokens.refresh_token is not None

    with pytest.raises(InvalidScope):
        await refresh_token(proto.ctx, proto.clients["web"], form(refresh_token=tokens.refresh_token, scope="write"))


async def test_refresh_token_of_another_client_fails(proto: Protocol) -> None:
    verifier, challenge = pkce_pair()
    code = await proto.code(challenge=challenge)
    tokens = await authorization_code(proto.ctx, proto.clients["web"], form(code=code, code_verifier=verifier))
    assert tokens.refresh_token is not None

    with pytest.raises(InvalidGrant, match="another client"):
        await refresh_token(proto.ctx, proto.clients["other"], form(refresh_token=tokens.refresh_token))


async def test_expired_refresh_token_fails(proto: Protocol) -> None:
    tokens = await password(proto.ctx, proto.clients["app"], form(username="alice", password="wonderland"))
    assert tokens.refresh_token is not None
    proto.clock.advance(proto.ctx.settings.refresh_token_lifetime + 1)

    with pytest.raises(InvalidGrant, match="expired"):
        await refresh_token(proto.ctx, proto.clients["app"], form(refresh_token=tokens.refresh_token))


# -- password -----------------------------------------------------------------------------------


async def test_password_grant_binds_the_user(proto: Protocol) -> None:
    tokens = await password(proto.ctx, proto.clients["app"], form(username="alice", password="wonderland"))

    access = await proto.ctx.store.get_access(*_family_and_digest(tokens.access_token))
    assert access is not None
    assert (access.sub, access.username) == (ALICE.sub, ALICE.username)


async def test_wrong_password_fails(proto: Protocol) -> None:
    with pytest.raises(InvalidGrant, match="resource owner credentials"):
        await password(proto.ctx, proto.clients["app"], form(username="alice", password="looking-glass"))


async def test_password_grant_without_a_verifier_is_unsupported(proto: Protocol) -> None:
    ctx = replace(proto.ctx, password_verifier=None)

    with pytest.raises(UnsupportedGrantType):
        await password(ctx, proto.clients["app"], form(username="alice", password="wonderland"))


async def test_password_grant_needs_both_parameters(proto: Protocol) -> None:
    with pytest.raises(InvalidRequest, match="password"):
        await password(proto.ctx, proto.clients["app"], form(username="alice"))


# -- token(): authenticate, then dispatch ---------------------------------------------------------


async def test_token_dispatches_to_the_requested_grant(proto: Protocol) -> None:
    enabled = grants.enabled_grants(proto.ctx.settings)

    tokens = await grants.token(proto.ctx, enabled, proto.auth("job", grant_type="client_credentials", scope="write"))

    assert tokens.scope == "write"
    assert await proto.active(tokens)


@pytest.mark.parametrize("grant_type", ["device_code", "urn:ietf:params:oauth:grant-type:device_code", "password"])
async def test_token_refuses_grants_the_server_lacks(proto: Protocol, grant_type: str) -> None:
    enabled = grants.enabled_grants(proto.ctx.settings)  # password is off by default

    with pytest.raises(UnsupportedGrantType):
        await grants.token(proto.ctx, enabled, proto.auth("app", grant_type=grant_type))


async def test_token_refuses_a_grant_the_client_is_not_registered_for(proto: Protocol) -> None:
    enabled = grants.enabled_grants(proto.ctx.settings)

    with pytest.raises(UnauthorizedClient, match="client_credentials"):
        await grants.token(proto.ctx, enabled, proto.auth("web", grant_type="client_credentials"))


async def test_token_needs_a_grant_type(proto: Protocol) -> None:
    with pytest.raises(InvalidRequest, match="grant_type"):
        await grants.token(proto.ctx, grants.enabled_grants(proto.ctx.settings), proto.auth("job"))


async def test_token_authenticates_the_client_before_anything_else(proto: Protocol) -> None:
    request = form(grant_type="client_credentials", client_id="job", client_secret="not-the-secret")

    with pytest.raises(InvalidClient):
        await grants.token(proto.ctx, grants.enabled_grants(proto.ctx.settings), request)


def _family_and_digest(token: str) -> tuple[str, str]:
    family = crypto.family_of(token)
    assert family is not None
    return family, crypto.digest(token, "access")
