"""``asgi-oauth clients create --auth-method private_key_jwt`` and ``asgi-oauth issuers`` through the real entry
point, against Redis."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from asgi_oauth.features.assertions import JWT_BEARER

from ..serving import assert_one_line_error, clean_env, run_cli, serving
from .signing import Signer, id_jag


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


def test_issuers_are_added_listed_and_removed_and_a_running_server_follows(env: dict[str, str], tmp_path: Path) -> None:
    """``asgi-oauth issuers`` against Redis while ``serve`` runs two workers: trust given and taken away by the
    command reaches both workers at the next grant."""
    idp = Signer.new("ES256")
    keys = tmp_path / "idp.jwks.json"
    keys.write_text(json.dumps(idp.jwks()))
    issuer = "https://idp.acme.example"
    served_env = env | {"ASGI_OAUTH_FEATURES": "jwt_bearer", "ASGI_OAUTH_SECRET_KEY": "assertion-cli-" + "k" * 32}
    created = run_cli(
        "clients", "create", "--name", "agent", "--client-id", "agent", "--grant-type", "jwt-bearer", "--scope",
        "mcp", "--auth-method", "client_secret_post", env=env,
    )  # fmt: skip
    secret = json.loads(created.stdout)["client_secret"]
    with serving(tmp_path / "serve", served_env, workers=2) as server:

        def exchange() -> httpx.Response:
            data = {"grant_type": JWT_BEARER, "assertion": id_jag(idp, issuer, audience=server.issuer)}
            return httpx.post(f"{server.issuer}/token", data={**data, "client_id": "agent", "client_secret": secret})

        assert exchange().json()["error"] == "invalid_grant"
        added = run_cli("issuers", "add", "--issuer", issuer, "--jwks", str(keys), "--algorithm", "ES256", env=env)
        assert added.returncode == 0, added.stderr
        assert json.loads(added.stdout) == {
            "issuer": issuer,
            "jwks": idp.jwks(),
            "algorithms": ["ES256"],
            "profile": "id-jag",
        }
        answered = [exchange() for _ in range(2)]
        while len({a.headers["x-demo-worker"] for a in answered}) < 2 and len(answered) < 200:
            answered.append(exchange())  # each on a new connection, until the other worker answered too
        assert {a.status_code for a in answered} == {200} and len({a.headers["x-demo-worker"] for a in answered}) == 2
        listed = json.loads(run_cli("issuers", "list", env=env).stdout)
        assert [trusted["issuer"] for trusted in listed] == [issuer]
        removed = run_cli("issuers", "remove", issuer, env=env)
        assert json.loads(removed.stdout) == {"issuer": issuer, "removed": True}
        assert {exchange().status_code for _ in range(6)} == {400}
    assert json.loads(run_cli("issuers", "list", env=env).stdout) == []


def test_wrong_issuers_are_one_line_errors(env: dict[str, str], tmp_path: Path) -> None:
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"keys": [Signer.new("ES256").jwk | {"d": "AAAA"}]}))
    for args, words in (
        (["add", "--issuer", "https://idp.example", "--jwks", str(private)], "public keys only"),
        (["add", "--issuer", "https://idp.example", "--jwks-uri", "http://idp.example/jwks"], "https"),
        (["add", "--issuer", "https://idp.example", "--jwks-uri", "https://idp.example/k", "--algorithm", "HS256"],
         "algorithms"),
        (["remove", "https://never.example"], "no added identity provider"),
    ):  # fmt: skip
        assert_one_line_error(run_cli("issuers", *args, env=env), words)


def test_a_workload_platform_and_its_public_client_are_added_and_a_running_server_admits_its_workloads(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The workload identity profile as an operator sets it up: a public client registered for the grant only,
    the cluster added with its rules, then a service-account token exchanged at ``serve``, twice."""
    cluster, keys = "https://oidc.prod.example.com", tmp_path / "cluster.jwks.json"
    kube = Signer.new("RS256")
    keys.write_text(json.dumps(kube.jwks()))
    created = run_cli(
        "clients", "create", "--name", "billing", "--client-id", "billing", "--public", "--grant-type",
        "jwt-bearer", "--scope", "read write", env=env,
    )  # fmt: skip
    assert json.loads(created.stdout) == {"client_id": "billing"}, created.stderr
    rule = "sub=system:serviceaccount:prod:billing /kubernetes.io/namespace=prod client_id=billing scope='read write'"
    json_rule = json.dumps({"claims": {"sub": "system:serviceaccount:prod:reports"}, "client_id": "reports"})
    added = run_cli(
        "issuers", "add", "--profile", "workload", "--issuer", cluster, "--jwks", str(keys), "--audience",
        "asgi-oauth", "--rule", rule, "--rule", json_rule, env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    (listed,) = json.loads(run_cli("issuers", "list", env=env).stdout)
    assert listed == json.loads(added.stdout)
    assert listed["profile"] == "workload" and listed["audience"] == "asgi-oauth"
    assert listed["rules"] == [
        {
            "claims": {"sub": "system:serviceaccount:prod:billing", "/kubernetes.io/namespace": "prod"},
            "client_id": "billing",
            "scope": "read write",
        },
        {"claims": {"sub": "system:serviceaccount:prod:reports"}, "client_id": "reports", "scope": ""},
    ]
    served_env = env | {"ASGI_OAUTH_FEATURES": "jwt_bearer", "ASGI_OAUTH_SECRET_KEY": "workload-cli-" + "k" * 32}
    token = kube.assertion(
        cluster, audience=["asgi-oauth"], sub="system:serviceaccount:prod:billing", jti=None,
        **{"kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "billing"}}},
    )  # fmt: skip
    with serving(tmp_path / "serve", served_env) as server:
        data = {"grant_type": JWT_BEARER, "assertion": token, "client_id": "billing", "scope": "write"}
        answers = [httpx.post(f"{server.issuer}/token", data=data) for _ in range(2)]
        assert [answer.status_code for answer in answers] == [200, 200], answers[0].text
        assert answers[1].json()["scope"] == "write"


def test_wrong_workload_rules_are_one_line_errors(env: dict[str, str], tmp_path: Path) -> None:
    keys = tmp_path / "cluster.jwks.json"
    keys.write_text(json.dumps(Signer.new("RS256").jwks()))
    add = ["add", "--issuer", "https://oidc.example.com", "--jwks", str(keys)]
    workload = [*add, "--profile", "workload"]
    for args, words in (
        ([*workload], "needs rules"),
        ([*workload, "--rule", "client_id=billing scope=read"], "must pin sub"),
        ([*workload, "--rule", "sub=a client_id=billing scope='read"], "quotation"),
        ([*workload, "--rule", "sub=a billing"], "'billing' is not NAME=VALUE"),
        ([*workload, "--rule", "sub=a"], "client_id: Field required"),
        ([*workload, "--rule", '{"claims": {"sub": "a"}, "client_id": "b", "ns": "c"}'], "ns: Extra inputs"),
        ([*add, "--rule", "sub=a client_id=billing"], "belong to issuers of profile workload"),
        ([*add, "--audience", "asgi-oauth"], "belong to issuers of profile workload"),
        ([*add, "--profile", "saml"], "invalid choice"),
    ):
        result = run_cli("issuers", *args, env=env)
        if words == "invalid choice":  # argparse's own usage error
            assert result.returncode == 2 and words in result.stderr
        else:
            assert_one_line_error(result, words)


def test_a_client_secret_jwt_client_gets_its_derived_secret_printed_once(env: dict[str, str]) -> None:
    keyed_env = env | {"ASGI_OAUTH_SECRET_KEY": "assertion-cli-" + "k" * 32}
    created = create(keyed_env, "--client-id", "hmac-job", "--auth-method", "client_secret_jwt")
    assert created.returncode == 0, created.stderr
    printed = json.loads(created.stdout)
    assert set(printed) == {"client_id", "client_secret"} and len(printed["client_secret"]) == 43
    listed = run_cli("clients", "list", env=keyed_env).stdout
    job = next(c for c in json.loads(listed) if c["client_id"] == "hmac-job")
    assert job["token_endpoint_auth_method"] == "client_secret_jwt" and set(job["extra"]["client_secret_jwt"]) == {
        "salt"
    }
    assert printed["client_secret"] not in listed  # derived when needed, never kept
    for args, words in (
        (["--auth-method", "client_secret_jwt"], "set ASGI_OAUTH_SECRET_KEY"),  # env has no secret key
        (["--auth-method", "client_secret_jwt", "--jwks-uri", "https://keys.example.com/jwks.json"], "--jwks"),
    ):
        assert_one_line_error(create(env, *args), words)
