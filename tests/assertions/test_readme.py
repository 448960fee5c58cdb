"""The documentation's JWT assertion sections as written: their commands run (the install line is checked for its
shape, as the quick start's is), then ``asgi-oauth serve`` with what they exported answers as the sections say."""

from __future__ import annotations

import json
import subprocess
import time
import tomllib
from pathlib import Path

import httpx
import jwt
from pydantic import TypeAdapter

from asgi_oauth.features import BUILTIN
from asgi_oauth.features.assertions import JWT_BEARER, TrustedIssuer

from ..docs.pages import blocks, doc_section, exports_of
from ..serving import ROOT, clean_env, installed_commands, serving
from .signing import Signer, form, id_jag

CLIENT_SECTION = "JWT client authentication (`private_key_jwt`)"
GRANT_SECTION = "Identity assertion grants for enterprise MCP (`jwt_bearer`)"
WORKLOAD_SECTION = "Workload identity"
SECRET_SECTION = "Secrets the server derives (`client_secret_jwt`)"


def run_here(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``script`` as pasted into bash in ``cwd``, with the quick start's ``.venv/bin/`` programs those of this run."""
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", installed_commands(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_private_key_jwt_section_runs_as_written(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    install, create = blocks(doc_section(CLIENT_SECTION), "sh")
    pip = install.splitlines()[0]
    assert pip == ".venv/bin/pip install -c constraints.txt '.[assertions]'"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(dependency.startswith("PyJWT[crypto]") for dependency in extras["assertions"])
    settings = exports_of(install)
    assert settings == {"ASGI_OAUTH_FEATURES": "private_key_jwt"} and "private_key_jwt" in BUILTIN

    signer = Signer.new("RS256")
    (tmp_path / "billing-job.jwks.json").write_text(json.dumps(signer.jwks()))
    env = clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_KEY_PREFIX=key_prefix, **settings)
    created = run_here(create, tmp_path, env)
    assert created.returncode == 0, created.stderr
    client_id = json.loads(created.stdout)["client_id"]
    assert set(json.loads(created.stdout)) == {"client_id"}  # no secret

    with serving(tmp_path / "serve", env) as server:
        url = f"{server.issuer}/token"
        assertion = signer.assertion(client_id, audience=server.issuer)
        answer = httpx.post(url, data=form(assertion, grant_type="client_credentials", scope="read"))
        assert answer.status_code == 200, answer.text
        again = httpx.post(url, data=form(assertion, grant_type="client_credentials"))
        assert again.status_code == 401 and "used before" in again.json()["error_description"]


def test_the_client_secret_jwt_section_runs_as_written(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    """The block makes a secret key and a client with the feature of the section above; a server with that key
    accepts an HS256 assertion signed with the printed secret, once."""
    (block,) = blocks(doc_section(SECRET_SECTION), "sh")
    env = clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_KEY_PREFIX=key_prefix)
    created = run_here(block + '\nprintf %s "$ASGI_OAUTH_SECRET_KEY" > secret-key', tmp_path, env)
    assert created.returncode == 0, created.stderr
    printed = json.loads(created.stdout)
    client_id, secret = printed["client_id"], printed["client_secret"]
    key = (tmp_path / "secret-key").read_text()
    served_env = env | {"ASGI_OAUTH_SECRET_KEY": key, "ASGI_OAUTH_FEATURES": "private_key_jwt"}

    with serving(tmp_path / "serve", served_env) as server:
        claims = {"iss": client_id, "sub": client_id, "aud": server.issuer, "exp": int(time.time()) + 60, "jti": "1"}
        assertion = jwt.encode(claims, secret.encode(), algorithm="HS256")
        url = f"{server.issuer}/token"
        answer = httpx.post(url, data=form(assertion, grant_type="client_credentials", scope="read"))
        assert answer.status_code == 200, answer.text
        again = httpx.post(url, data=form(assertion, grant_type="client_credentials"))
        assert again.status_code == 401 and "used before" in again.json()["error_description"]


def test_the_jwt_bearer_section_runs_as_written(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    """As written, the trusted provider's keys are at https://idp.example.com, which nothing here can reach: the
    server starts, advertises the grant, and refuses an ID-JAG saying the keys could not be fetched, never 5xx."""
    (block,) = blocks(doc_section(GRANT_SECTION), "sh")
    settings = exports_of(block)
    assert settings["ASGI_OAUTH_FEATURES"] == "jwt_bearer"
    env = clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_KEY_PREFIX=key_prefix, **settings)
    created = run_here(block, tmp_path, env)
    assert created.returncode == 0, created.stderr
    printed = json.loads(created.stdout)

    with serving(tmp_path / "serve", env) as server:
        metadata = httpx.get(f"{server.issuer}/.well-known/oauth-authorization-server").json()
        assert JWT_BEARER in metadata["grant_types_supported"]
        assertion = id_jag(Signer.new("ES256"), "https://idp.example.com", client_id=printed["client_id"])
        data = {"grant_type": JWT_BEARER, "assertion": assertion, "client_id": printed["client_id"]}
        answer = httpx.post(f"{server.issuer}/token", data={**data, "client_secret": printed["client_secret"]})
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert body["error"] == "invalid_grant" and "jwks_uri" in body["error_description"], body


def test_the_workload_identity_section_runs_as_written(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    """The cluster's keys come from a stand-in ``kubectl`` (the one command here that needs a cluster); then the
    section's commands and the pod's request run as written against ``serve``, the server's issuer identifier
    put where the section has ``https://auth.example.com/oauth``, and its JSON form is a valid setting."""
    section = doc_section(WORKLOAD_SECTION)
    setup, request = blocks(section, "sh")
    (configured,) = blocks(section, "json")
    (trusted,) = TypeAdapter(list[TrustedIssuer]).validate_json(configured)
    assert trusted.profile == "workload" and trusted.rules[0].client_id == "billing"
    cluster = Signer.new("RS256")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(f"#!/bin/sh\n[ \"$*\" = 'get --raw /openid/v1/jwks' ] && echo '{json.dumps(cluster.jwks())}'\n")
    kubectl.chmod(0o755)
    env = clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_KEY_PREFIX=key_prefix)
    env |= {"PATH": f"{bin_dir}:{env['PATH']}", "ASGI_OAUTH_FEATURES": "jwt_bearer"}
    with serving(tmp_path / "serve", env) as server:
        here = "https://auth.example.com/oauth"
        created = run_here(setup.replace(here, server.issuer), tmp_path, env)
        assert created.returncode == 0, created.stderr
        token = cluster.assertion(
            "https://kubernetes.default.svc.cluster.local",
            audience=[server.issuer],
            sub="system:serviceaccount:prod:billing",
            **{"kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "billing"}}},
        )
        (tmp_path / "auth").write_text(token)
        pod = request.replace(here, server.issuer).replace("/var/run/secrets/tokens/auth", str(tmp_path / "auth"))
        for _ in range(2):  # the same token, again: not single use
            answered = run_here(pod, tmp_path, env)
            assert answered.returncode == 0, answered.stderr
            body = json.loads(answered.stdout)
            assert body["scope"] == "invoices:read" and "refresh_token" not in body, body
