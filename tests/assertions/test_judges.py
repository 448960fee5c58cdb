"""The judges of ``private_key_jwt`` and ``client_secret_jwt``, which nobody here wrote: Authlib's client and
panva's ``openid-client``.

Both run against ``asgi-oauth serve`` with two workers on Redis, the feature switched on by
``ASGI_OAUTH_FEATURES=private_key_jwt`` and the client registered with ``asgi-oauth clients create
--auth-method private_key_jwt --jwks FILE``: the way an operator would set it up. Each signs its own
assertions (Authlib with ``aud`` the token endpoint, openid-client with ``aud`` the issuer) and gets tokens
from both workers; a replayed assertion is refused by the worker that did not see it first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import ClientSecretJWT as AuthlibClientSecretJWT
from authlib.oauth2.rfc7523 import PrivateKeyJWT as AuthlibPrivateKeyJWT

from ..npm import run_judge
from ..serving import Server, clean_env, run_cli, serving
from .signing import Signer, form

SECRET_KEY = "assertions-judge-key-0123456789abcdefghij"
HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[tuple[Server, dict[str, Signer], dict[str, str]]]:
    logs = tmp_path_factory.mktemp("private-key-jwt")
    prefix = logs.name.replace("-", "")
    env = clean_env(
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_KEY_PREFIX=prefix,
        ASGI_OAUTH_SECRET_KEY=SECRET_KEY,
        ASGI_OAUTH_FEATURES="private_key_jwt",
    )
    signers = {"authlib": Signer.new("RS256"), "openid-client": Signer.new("ES256")}
    for name, signer in signers.items():
        keys = logs / f"{name}.jwks.json"
        keys.write_text(json.dumps(signer.jwks()))
        created = run_cli(
            "clients", "create", "--name", name, "--client-id", name, "--grant-type", "client_credentials",
            "--scope", "read write", "--auth-method", "private_key_jwt", "--jwks", str(keys), env=env,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout) == {"client_id": name}  # no secret: it has keys
    with serving(logs, env, workers=2) as server:
        yield server, signers, env


def tokens_from_both_workers(fetch: Callable[[], str]) -> set[str]:
    """Call ``fetch`` (a token request on new connections, answering the worker's id) until both workers answered."""
    workers: set[str] = set()
    for _ in range(200):
        workers.add(fetch())
        if len(workers) == 2:
            break
    return workers


def test_authlib_client_credentials_with_private_key_jwt_on_two_workers(
    served: tuple[Server, dict[str, Signer], dict[str, str]],
) -> None:
    server, signers, _ = served
    metadata = httpx.get(f"{server.issuer}/.well-known/oauth-authorization-server").json()
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    assert "RS256" in metadata["token_endpoint_auth_signing_alg_values_supported"]
    token_endpoint = metadata["token_endpoint"]
    seen: list[str] = []

    def fetch() -> str:
        with OAuth2Client(
            client_id="authlib",
            client_secret=signers["authlib"].pem,
            token_endpoint_auth_method=AuthlibPrivateKeyJWT(token_endpoint),
            scope="read",
        ) as client:
            token = client.fetch_token(token_endpoint, grant_type="client_credentials")
            assert token["token_type"] == "Bearer" and token["scope"] == "read"
            seen.append(token["access_token"])
            # Introspected with the same method (Authlib signs a new assertion, aud the token endpoint).
            check = client.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
        assert check.status_code == 200 and check.json()["client_id"] == "authlib", check.text
        return str(check.headers["x-demo-worker"])

    assert len(tokens_from_both_workers(fetch)) == 2, "uvicorn never handed a connection to the other worker"
    print("Authlib private_key_jwt judge:", len(seen), "tokens, both workers")


def test_a_replayed_assertion_is_refused_by_the_other_worker(
    served: tuple[Server, dict[str, Signer], dict[str, str]],
) -> None:
    server, signers, _ = served
    for _ in range(200):
        assertion = signers["authlib"].assertion("authlib", audience=server.issuer)
        data = form(assertion, grant_type="client_credentials")
        first = httpx.post(f"{server.issuer}/token", data=data)
        assert first.status_code == 200, first.text
        again = httpx.post(f"{server.issuer}/token", data=data)  # a new connection: maybe the other worker
        assert again.status_code == 401 and again.json()["error"] == "invalid_client", again.text
        if again.headers["x-demo-worker"] != first.headers["x-demo-worker"]:
            return
    pytest.fail("the replay never reached the other worker")


def secret_jwt_client(env: dict[str, str], name: str) -> str:
    """A ``client_secret_jwt`` client made as an operator would, on the served Redis; its derived secret."""
    created = run_cli(
        "clients", "create", "--name", name, "--client-id", name, "--grant-type", "client_credentials",
        "--scope", "read write", "--auth-method", "client_secret_jwt", env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    return str(json.loads(created.stdout)["client_secret"])


def test_authlib_client_credentials_with_client_secret_jwt_on_two_workers(
    served: tuple[Server, dict[str, Signer], dict[str, str]],
) -> None:
    """Authlib signs HS256 with the printed secret (``aud`` the token endpoint); both workers derive it again."""
    server, _, env = served
    secret = secret_jwt_client(env, "authlib-hmac")
    metadata = httpx.get(f"{server.issuer}/.well-known/oauth-authorization-server").json()
    assert "client_secret_jwt" in metadata["token_endpoint_auth_methods_supported"]
    assert "HS256" in metadata["token_endpoint_auth_signing_alg_values_supported"]
    token_endpoint = metadata["token_endpoint"]

    def fetch(secret: str = secret) -> str:
        with OAuth2Client(
            client_id="authlib-hmac",
            client_secret=secret,
            token_endpoint_auth_method=AuthlibClientSecretJWT(token_endpoint),
            scope="read",
        ) as client:
            token = client.fetch_token(token_endpoint, grant_type="client_credentials")
            assert token["token_type"] == "Bearer" and token["scope"] == "read"
            check = client.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
        assert check.status_code == 200 and check.json()["client_id"] == "authlib-hmac", check.text
        return str(check.headers["x-demo-worker"])

    assert len(tokens_from_both_workers(fetch)) == 2, "uvicorn never handed a connection to the other worker"
    with pytest.raises(OAuthError, match="invalid_client"):
        fetch(secret[:-1] + ("A" if secret[-1] != "A" else "B"))  # one character off


@pytest.mark.parametrize("method", ["private_key_jwt", "client_secret_jwt"])
def test_openid_client_client_credentials_with_a_jwt(
    served: tuple[Server, dict[str, Signer], dict[str, str]], openid_client: Path, method: str
) -> None:
    """openid-client signs a JWT per request with its P-256 key (private_key_jwt) or HS256 with its secret."""
    server, signers, env = served
    if method == "private_key_jwt":
        client_id, signer = "openid-client", signers["openid-client"]
        credential = json.dumps(signer.jwk | {"d": _private_d(signer)})
    else:
        client_id = "openid-client-hmac"
        credential = secret_jwt_client(env, client_id)
    answers = run_judge(HERE / "jwt_client_auth.mjs", server.issuer, client_id, method, credential, "4")
    print(f"openid-client {method} judge:", json.dumps(answers[-1]))
    assert len(answers) == 4
    for answer in answers:
        assert answer["token_type"].lower() == "bearer" and answer["scope"] == "read"
        assert answer["active"] is True and answer["client_id"] == client_id


def _private_d(signer: Signer) -> str:
    """The private scalar of an EC key as a JWK ``d`` member (what the judge imports its key from)."""
    import base64

    value = signer.private.private_numbers().private_value
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode()
