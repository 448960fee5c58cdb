"""The ``asgi-oauth clients`` commands and error paths, run through the real entry point in a subprocess."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .serving import assert_one_line_error, clean_env, free_port, run_cli


@pytest.fixture
def redis_env(redis_url: str, key_prefix: str) -> dict[str, str]:
    return clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_KEY_PREFIX=key_prefix)


def create(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("clients", "create", *args, env=env)


def test_create_list_delete(redis_env: dict[str, str]) -> None:
    created = create(
        redis_env,
        *("--name", "Billing app", "--client-id", "billing"),
        *("--grant-type", "authorization_code", "refresh_token"),
        *("--redirect-uri", "https://billing.example/cb", "--redirect-uri", "http://127.0.0.1:9000/cb"),
        *("--scope", "read write"),
    )
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert body["client_id"] == "billing"
    assert len(body["client_secret"]) >= 43  # 256 bits, base64url
    assert created.stderr == ""

    listed = run_cli("clients", "list", env=redis_env)
    assert listed.returncode == 0, listed.stderr
    clients = json.loads(listed.stdout)
    assert [c["client_id"] for c in clients] == ["billing"]
    (client,) = clients
    assert client["grant_types"] == ["authorization_code", "refresh_token"]
    assert client["redirect_uris"] == ["https://billing.example/cb", "http://127.0.0.1:9000/cb"]
    assert client["scope"] == "read write"
    assert client["public"] is False
    assert body["client_secret"] not in listed.stdout
    assert not {"client_secret", "secret_hash"} & set(client)
    assert "sha256$" not in listed.stdout

    deleted = run_cli("clients", "delete", "billing", env=redis_env)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(run_cli("clients", "list", env=redis_env).stdout) == []
    assert_one_line_error(run_cli("clients", "delete", "billing", env=redis_env), "billing")


def test_an_id_that_starts_with_a_dash_is_managed_as_the_hint_says(redis_env: dict[str, str]) -> None:
    """Generated ids no longer start with "-", but one chosen by hand (or generated before) still can."""
    created = create(redis_env, "--name", "Old", "--client-id=-Ij3old", "--grant-type", "client_credentials")
    assert created.returncode == 0, created.stderr
    revoked = run_cli("tokens", "revoke", "--client=-Ij3old", env=redis_env)
    assert revoked.returncode == 0, revoked.stderr
    deleted = run_cli("clients", "delete", "--", "-Ij3old", env=redis_env)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(run_cli("clients", "list", env=redis_env).stdout) == []


def test_public_client_gets_no_secret(redis_env: dict[str, str]) -> None:
    created = create(
        redis_env,
        *("--name", "CLI tool", "--public", "--first-party"),
        *("--grant-type", "authorization_code", "--redirect-uri", "http://127.0.0.1/callback"),
    )
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert set(body) == {"client_id"}
    (client,) = json.loads(run_cli("clients", "list", env=redis_env).stdout)
    assert client["client_id"] == body["client_id"]
    assert client["public"] is True and client["first_party"] is True
    assert client["token_endpoint_auth_method"] == "none"


def test_existing_client_id_is_refused(redis_env: dict[str, str]) -> None:
    args = ("--name", "Job", "--client-id", "job", "--grant-type", "client_credentials")
    assert create(redis_env, *args).returncode == 0
    assert_one_line_error(create(redis_env, *args), "'job'", "already exists")


@pytest.mark.parametrize(
    ("uri", "complaint"),
    [("/callback", "not an absolute URI"), ("https://app.example/cb#done", "fragment")],
)
def test_bad_redirect_uri_is_refused(redis_env: dict[str, str], uri: str, complaint: str) -> None:
    result = create(redis_env, "--name", "App", "--grant-type", "authorization_code", "--redirect-uri", uri)
    assert_one_line_error(result, complaint)
    assert json.loads(run_cli("clients", "list", env=redis_env).stdout) == []


def test_unknown_grant_type_is_refused_naming_every_choice_and_the_short_name(redis_env: dict[str, str]) -> None:
    refused = create(redis_env, "--name", "App", "--grant-type", "magic")
    assert refused.returncode == 2  # a bad argument
    line = assert_one_line_error(refused, "invalid choice: 'magic'", "'urn:ietf:params:oauth:grant-type:device_code'")
    assert "'device_code'" in line and "'client_credentials'" in line


def test_a_client_created_without_scope_is_warned_about(redis_env: dict[str, str]) -> None:
    """Such a client is granted no scope; said on stderr, while stdout stays the one JSON object."""
    bare = create(redis_env, "--name", "Job", "--client-id", "job", "--grant-type", "client_credentials")
    assert bare.returncode == 0, bare.stderr
    assert set(json.loads(bare.stdout)) == {"client_id", "client_secret"}
    assert bare.stderr.splitlines() == [
        "asgi-oauth: warning: no --scope: job may be granted no scope, so its tokens carry none; "
        'pass --scope "a b" to allow some (--scope "" says none on purpose)'
    ]
    on_purpose = create(
        redis_env, "--name", "API", "--grant-type", "client_credentials", "--introspect-any", "--scope", ""
    )
    assert on_purpose.returncode == 0 and on_purpose.stderr == ""


def test_unreachable_redis_is_one_line() -> None:
    env = clean_env(ASGI_OAUTH_REDIS_URL=f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    for args in (
        ("clients", "list"),
        ("clients", "delete", "x"),
        ("clients", "create", "--name", "A", "--grant-type", "client_credentials"),
    ):
        line = assert_one_line_error(run_cli(*args, env=env), "cannot reach Redis", "ASGI_OAUTH_REDIS_URL")
        assert "hunter2" not in line


def test_clients_commands_need_a_redis_url() -> None:
    assert_one_line_error(run_cli("clients", "list", env=clean_env()), "ASGI_OAUTH_REDIS_URL", "serve")


def test_invalid_settings_name_the_variable(redis_url: str) -> None:
    env = clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_ACCESS_TOKEN_LIFETIME="an hour")
    assert_one_line_error(run_cli("clients", "list", env=env), "ASGI_OAUTH_ACCESS_TOKEN_LIFETIME")
    env = clean_env(ASGI_OAUTH_REDIS_URL="http://127.0.0.1:6379")
    assert_one_line_error(run_cli("clients", "list", env=env), "ASGI_OAUTH_REDIS_URL")


@pytest.mark.parametrize(
    ("args", "fragment", "help_for"),
    [
        ((), "required: COMMAND", "asgi-oauth"),
        (("frobnicate",), "invalid choice: 'frobnicate'", "asgi-oauth"),
        (("clients",), "required: ACTION", "asgi-oauth clients"),
        (("clients", "create", "--grant-type", "client_credentials"), "required: --name", "asgi-oauth clients create"),
        (("clients", "create", "--name", "A"), "required: --grant-type", "asgi-oauth clients create"),
        (("clients", "delete"), "required: ID", "asgi-oauth clients delete"),
        (("clients", "delete", "-Ij3"), "goes after '--'", "asgi-oauth clients delete"),
        (("tokens", "revoke", "--client", "-Ij3"), "is written --client=ID", "asgi-oauth tokens revoke"),
        (("clients", "create", "--client-id", "-Ij3"), "is written --client-id=ID", "asgi-oauth clients create"),
        (("serve", "--port", "http"), "'http' is not a TCP port", "asgi-oauth serve"),
        (("serve", "--workers", "0"), "'0' is not a positive whole number", "asgi-oauth serve"),
        (("serve", "--verbose"), "unrecognized arguments: --verbose", "asgi-oauth"),
    ],
)
def test_argument_errors_are_one_line_and_exit_2(args: tuple[str, ...], fragment: str, help_for: str) -> None:
    """As the README promises for every failure: one ``asgi-oauth: error:`` line, no usage dump."""
    result = run_cli(*args, env=clean_env())
    assert result.returncode == 2
    assert result.stdout == ""
    assert_one_line_error(result, fragment, f"see '{help_for} --help'")


def test_version() -> None:
    result = run_cli("--version", env=clean_env())
    assert result.returncode == 0
    assert result.stdout == f"asgi-oauth {importlib.metadata.version('asgi-oauth')}\n"


def test_help_names_the_variables_and_describes_each_command() -> None:
    top = run_cli("--help", env=clean_env())
    assert top.returncode == 0
    # Every variable with its prefix: the bare REDIS_URL or SECRET_KEY is not something one can set.
    assert re.findall(r"\b(?<!ASGI_OAUTH_)(?:REDIS_URL|SECRET_KEY)\b", top.stdout) == []
    assert "ASGI_OAUTH_REDIS_URL" in top.stdout
    serve = run_cli("serve", "--help", env=clean_env())
    assert "Run the demo" in serve.stdout and "demo-client" in serve.stdout
    assert "ASGI_OAUTH_REDIS_URL and ASGI_OAUTH_SECRET_KEY" in " ".join(serve.stdout.split())
    delete = run_cli("clients", "delete", "--help", env=clean_env())
    assert "Delete a client" in delete.stdout
    assert re.search(r"^\s+ID\s+the client_id to delete", delete.stdout, re.MULTILINE), delete.stdout


def test_misspelled_variable_is_a_warning_naming_the_real_one(redis_env: dict[str, str]) -> None:
    listed = run_cli("clients", "list", env={**redis_env, "ASGI_OAUTH_ACCES_TOKEN_LIFETIME": "5"})
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []  # stdout stays JSON
    assert listed.stderr.splitlines() == [
        "asgi-oauth: warning: ASGI_OAUTH_ACCES_TOKEN_LIFETIME is not a setting and is ignored; "
        "did you mean ASGI_OAUTH_ACCESS_TOKEN_LIFETIME?"
    ]
    # Variables the demo and the test suite read are not settings, but not mistakes either.
    quiet = run_cli("clients", "list", env={**redis_env, "ASGI_OAUTH_DEMO_USERS": "a:b"})
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_lifetime_conflict_names_both_variables(redis_url: str) -> None:
    env = clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_REFRESH_TOKEN_LIFETIME="60")
    line = assert_one_line_error(run_cli("clients", "list", env=env), "ASGI_OAUTH_REFRESH_TOKEN_LIFETIME: ")
    assert "at least ASGI_OAUTH_ACCESS_TOKEN_LIFETIME" in line


def test_installed_console_script() -> None:
    """The ``asgi-oauth`` script that pip installs (next to this interpreter) is the same entry point."""
    script = shutil.which("asgi-oauth", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the package is not installed in this interpreter's environment (no asgi-oauth script)")
    result = run_cli("--help", env=clean_env(), command=[script])
    assert result.returncode == 0
    assert "serve" in result.stdout and "clients" in result.stdout
    assert_one_line_error(run_cli("clients", "list", env=clean_env(), command=[script]), "ASGI_OAUTH_REDIS_URL")


def test_resource_server_client_may_introspect_any(redis_env: dict[str, str]) -> None:
    created = create(
        redis_env, "--name", "API", "--client-id", "api", "--grant-type", "client_credentials", "--introspect-any"
    )
    assert created.returncode == 0, created.stderr
    (client,) = json.loads(run_cli("clients", "list", env=redis_env).stdout)
    assert client["introspect_any"] is True
