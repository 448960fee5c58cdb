"""The names token exchange uses on the wire (RFC 8693 section 3 and the ID-JAG draft), and its ``extra`` key."""

from __future__ import annotations

#: RFC 8693 section 2.1: the ``grant_type`` of a token exchange.
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
#: RFC 8693 section 3: an access token.
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 (a type name)
#: RFC 8693 section 3: a JWT, here one of an issuer the ``jwt_bearer`` feature trusts.
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105 (a type name)
#: RFC 8693 section 3: an OpenID Connect ID token.
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105 (a type name)
#: The ID-JAG draft: an Identity Assertion JWT Authorization Grant, asked for as ``requested_token_type``.
ID_JAG_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id-jag"  # noqa: S105 (a type name)
#: The JWT ``typ`` of an ID-JAG (the draft's media type, without ``application/``).
ID_JAG_TYP = "oauth-id-jag+jwt"
#: The key of the feature's data: in a client's ``extra`` the audiences it may exchange tokens of, in a token's
#: ``extra`` its ``act`` claim.
EXTRA_KEY = "token_exchange"
