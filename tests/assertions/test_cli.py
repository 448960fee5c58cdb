"""``asgi-oauth clients create --auth-method private_key_jwt`` through the real entry point, against Redis."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ..serving import assert_one_line_error, clean_env, run_cli
from .signing import Signer


@pytest.fixture
def env(redis_url: str, key_prefix: str) -> dict[str, str]:
    return clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_KEY_PREFIX=key_prefix)


def create(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = ["clients", "create", "--name", "job", "--grant-type", "client_credentials", "--scope", "read"]
    return run_cli(*base, *args, env=env)


def test_a_keyed_client_is_created_with_its_keys_and_no_secret(env: dict[str, str], tmp_path: Path) -> None:
    signer = Signer.new("ES256")
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(signer.jwks()))
    created = run_cli(
        "clients", "create", "--name", "job", "--client-id", "job", "--grant-type", "client_credentials",
        "--auth-method", "private_key_jwt", "--jwks", str(keys), env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout) == {"client_id": "job"}
    by_url = run_cli(
        "clients", "create", "--name", "fetched", "--client-id", "fetched", "--grant-type", "client_credentials",
        "--auth-method", "private_key_jwt", "--jwks-uri", "https://keys.example.com/jwks.json", env=env,
    )  # fmt: skip
    assert by_url.returncode == 0, by_url.stderr
    listed = {c["client_id"]: c for c in json.loads(run_cli("clients", "list", env=env).stdout)}
    assert listed["job"]["token_endpoint_auth_method"] == "private_key_jwt"
    assert listed["job"]["extra"]["private_key_jwt"]["jwks"] == signer.jwks()
    assert listed["fetched"]["extra"]["private_key_jwt"] == {"jwks_uri": "https://keys.example.com/jwks.json"}


def test_wrong_keys_are_one_line_errors(env: dict[str, str], tmp_path: Path) -> None:
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"keys": [Signer.new("ES256").jwk | {"d": "AAAA"}]}))
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    for args, words in (
        (["--auth-method", "private_key_jwt"], "exactly one"),
        (["--auth-method", "private_key_jwt", "--jwks", str(private)], "public keys only"),
        (["--auth-method", "private_key_jwt", "--jwks", str(junk)], "does not hold JSON"),
        (["--auth-method", "private_key_jwt", "--jwks", str(tmp_path / "absent.json")], "cannot read"),
        (["--auth-method", "private_key_jwt", "--jwks-uri", "https://127.0.0.1/jwks"], "https URL on a public host"),
        (["--jwks-uri", "https://keys.example.com/jwks.json"], "belong to --auth-method private_key_jwt"),
    ):
        assert_one_line_error(create(env, *args), words)
