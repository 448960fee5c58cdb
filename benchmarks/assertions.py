"""What JWT assertions cost at the token endpoint: ``python -m benchmarks.assertions``.

Our server with its defaults on a private Redis and the ``private_key_jwt`` and ``jwt_bearer`` features on,
built in this process, with four clients: one authenticating with ``client_secret_basic`` (a generated secret:
one keyed hash), one with an RS256 key and one with an ES256 key (client_credentials requests), and one with a
secret that exchanges identity assertion grants (ID-JAGs) an ES256 identity provider signed (the jwt-bearer
grant). Each request is called through ASGI (no sockets), in interleaved rounds; each sample is this process's
CPU time (``time.process_time``, so Redis's own work is left out) over ``--requests`` requests, and the figures
are medians over ``--rounds``. Every assertion is signed before its round starts (a client or an identity
provider signs, not the server) and used once, as the server demands. The ratio is the client_credentials
request with a secret's CPU per request over the row's, so 1.0 means "as cheap as a secret".

What an assertion adds: parsing it, one signature check, and claiming its ``jti`` in the store (a second
round trip; the issuance itself is one).
"""

from __future__ import annotations

import secrets
import sys
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.routing import Mount

from asgi_oauth import OAuthServer, OAuthSettings, RedisStore, new_client
from asgi_oauth.features.assertions import (
    ASSERTION_TYPE,
    JWT_BEARER,
    JWTBearerGrant,
    PrivateKeyJWT,
    TrustedIssuer,
    registered_keys,
)
from asgi_oauth.validation_cache import CacheOptions

from .asgi_driver import build_scope, call_scope
from .messages import basic_auth, form_post
from .micro import on_private_redis, rounds_parser, table

ISSUER = "http://127.0.0.1:8000/oauth"
IDP = "https://idp.example.com"
ID_JAG = "client_secret_basic, jwt-bearer grant of an ES256 ID-JAG"
TOKEN_PATH = "/oauth/token"


def signing_key(alg: str) -> Any:
    """A new private key of a client or an identity provider for ``alg`` (RS256: RSA 2048, else P-256)."""
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _jwk(alg: str, private: Any) -> dict[str, Any]:
    algorithm = RSAAlgorithm if alg == "RS256" else ECAlgorithm
    return {**algorithm.to_jwk(private.public_key(), as_dict=True), "kid": alg, "use": "sig"}


def _assertion(issuer: str, alg: str, private: Any, **more: str) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": issuer, "sub": issuer, "aud": ISSUER, "iat": now, "exp": now + 300, **more}
    claims["jti"] = secrets.token_urlsafe(16)
    header = {"kid": alg, "typ": "oauth-id-jag+jwt"} if "client_id" in more else {"kid": alg}
    return jwt.encode(claims, private, algorithm=alg, headers=header)


async def measure(redis_url: str, rounds: int, requests: int) -> dict[str, list[float]]:
    settings = OAuthSettings(issuer=ISSUER, secret_key=("bench-assertions-signing-key-0123456789",))
    store = RedisStore.from_url(redis_url, key_prefix="oauth", cache=CacheOptions())
    keys = {alg: signing_key(alg) for alg in ("RS256", "ES256")}
    common: dict[str, Any] = {"grant_types": ["client_credentials"], "scope": "read"}
    basic, secret = new_client(name="basic", client_id="basic", **common)
    assert secret is not None
    keyed = [
        new_client(
            name=alg,
            client_id=f"jwt-{alg}",
            token_endpoint_auth_method="private_key_jwt",
            extra=registered_keys(jwks={"keys": [_jwk(alg, private)]}),
            **common,
        )[0]
        for alg, private in keys.items()
    ]
    agent, agent_secret = new_client(name="agent", client_id="agent", grant_types=[JWT_BEARER], scope="read")
    assert agent_secret is not None
    idp = signing_key("ES256")
    trusted = TrustedIssuer(issuer=IDP, jwks={"keys": [_jwk("ES256", idp)]})
    features = [PrivateKeyJWT(), JWTBearerGrant(issuers=[trusted])]
    server = OAuthServer(settings, store=store, clients=[basic, *keyed, agent], features=features)
    app = Starlette(routes=[Mount("/oauth", app=server)])
    basic_req = form_post(
        TOKEN_PATH, {"grant_type": "client_credentials", "scope": "read"}, auth=basic_auth("basic", secret)
    )

    def bodies(name: str, n: int) -> list[tuple[dict[str, Any], bytes]]:
        if name == "client_secret_basic":
            return [(build_scope(basic_req), basic_req.body)] * n
        if name == ID_JAG:
            auth = basic_auth("agent", agent_secret)
            grants = [
                form_post(
                    TOKEN_PATH,
                    {
                        "grant_type": JWT_BEARER,
                        "assertion": _assertion(IDP, "ES256", idp, sub="alice", client_id="agent"),
                    },
                    auth=auth,
                )
                for _ in range(n)
            ]
            return [(build_scope(req), req.body) for req in grants]
        alg = name.rpartition(" ")[2]
        reqs = [
            form_post(
                TOKEN_PATH,
                {
                    "grant_type": "client_credentials",
                    "scope": "read",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": _assertion(f"jwt-{alg}", alg, keys[alg]),
                },
            )
            for _ in range(n)
        ]
        return [(build_scope(req), req.body) for req in reqs]

    async def sample(name: str, n: int) -> float:
        work = bodies(name, n)  # signed before the clock starts
        cpu0 = time.process_time()
        for scope, body in work:
            answer = await call_scope(app, scope, body)  # type: ignore[arg-type]
            if answer.status != 200:
                raise RuntimeError(f"{name}: non-200 answer in the timed loop: {answer.short()}")
        return (time.process_time() - cpu0) / n * 1e6

    names = ["client_secret_basic", "private_key_jwt RS256", "private_key_jwt ES256", ID_JAG]
    try:
        for name in names:  # warm: imports, connections, the client cache, the parsed keys
            await sample(name, min(requests, 500))
        samples: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(rounds):
            for name in names:
                samples[name].append(await sample(name, requests))
        return samples
    finally:
        await store.aclose()


def main(argv: list[str] | None = None) -> int:
    args = rounds_parser("benchmarks.assertions", __doc__ or "").parse_args(argv)
    samples = on_private_redis(lambda url: measure(url, args.rounds, args.requests))
    what = "a token issued for a client authenticated with"
    print("\n".join(table(samples, base="client_secret_basic", what=what)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
