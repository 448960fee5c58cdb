"""A plain ``pip install`` (no extras) in a virtualenv of its own: the public names import, and what needs an
extra says which one and how to install it, at the moment it is used or, for ``serve``, before it starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .serving import ROOT, assert_one_line_error, clean_env, free_port, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def plain_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with this checkout installed as a user would, at the tested versions, and no extra."""
    venv = tmp_path_factory.mktemp("plain") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "-c", str(ROOT / "constraints.txt"), str(ROOT)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    return venv


def python(venv: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        cwd=venv,  # not the checkout, whose asgi_oauth/ would shadow the installed one
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


SURFACE = """
import importlib.util, inspect, json
from asgi_oauth import *
import asgi_oauth

assert all(hasattr(asgi_oauth, name) for name in asgi_oauth.__all__)
inspect.getmembers(asgi_oauth)
absent = [m for m in ("jwt", "httpx", "prometheus_client") if importlib.util.find_spec(m) is None]
used = {}
for name, use in {
    "KeyRing": lambda: KeyRing(None, None),
    "SigningKey": lambda: SigningKey.generate("RS256"),
    "RemoteValidator": lambda: RemoteValidator("https://auth.example/introspect", "rs", "secret"),
    "JWKSValidator": lambda: JWKSValidator("https://auth.example/jwks", issuer="https://auth.example"),
}.items():
    try:
        use()
    except ImportError as exc:
        used[name] = str(exc)
print(json.dumps({"absent": absent, "used": used}))
"""


def test_every_public_name_imports_and_says_which_extra_it_needs(plain_venv: Path) -> None:
    ran = python(plain_venv, SURFACE)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["absent"] == ["jwt", "httpx", "prometheus_client"]  # else this proves nothing
    used = result["used"]
    assert set(used) == {"KeyRing", "SigningKey", "RemoteValidator", "JWKSValidator"}
    for name in ("KeyRing", "SigningKey"):
        assert used[name].startswith(f"{name} needs the oidc extra (PyJWT and cryptography are not installed)")
        assert "pip install 'asgi-oauth[oidc]'" in used[name] and ".venv/bin/pip install '.[oidc]'" in used[name]
    assert "needs the remote extra (httpx is not installed)" in used["RemoteValidator"]
    assert ".venv/bin/pip install '.[remote]'" in used["RemoteValidator"]
    assert ".venv/bin/pip install '.[oidc,remote]'" in used["JWKSValidator"]


@pytest.mark.parametrize(
    ("variable", "extra"),
    [
        ("ASGI_OAUTH_ENABLE_OIDC", "oidc"),
        ("ASGI_OAUTH_METRICS", "metrics"),
        ("ASGI_OAUTH_ENABLE_CLIENT_ID_METADATA_DOCUMENTS", "remote"),
    ],
)
def test_serve_stops_before_the_banner_without_the_extra_a_setting_needs(
    plain_venv: Path, redis_url: str, key_prefix: str, variable: str, extra: str
) -> None:
    env = clean_env(**{variable: "1", "ASGI_OAUTH_REDIS_URL": redis_url, "ASGI_OAUTH_KEY_PREFIX": key_prefix})
    command = [str(plain_venv / "bin" / "asgi-oauth")]
    result = run_cli("serve", "--port", str(free_port()), env=env, command=command)
    assert result.returncode == 1
    assert result.stdout == ""  # no banner, so no secret
    line = assert_one_line_error(result, f"{variable} needs the {extra} extra", f".venv/bin/pip install '.[{extra}]'")
    assert "unexpected" not in line
    # Stopped before registering the demo client, whose secret would then be lost.
    assert json.loads(run_cli("clients", "list", env=env).stdout) == []


def test_private_key_jwt_without_its_extra_is_one_line_naming_it(
    plain_venv: Path, redis_url: str, key_prefix: str
) -> None:
    """Naming the feature (serve) or the method (clients create) on a plain install says which extra to add."""
    env = clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_KEY_PREFIX=key_prefix)
    command = [str(plain_venv / "bin" / "asgi-oauth")]
    served = run_cli(
        "serve", "--port", str(free_port()), env={**env, "ASGI_OAUTH_FEATURES": "private_key_jwt"}, command=command
    )
    assert served.returncode == 1 and served.stdout == ""
    assert_one_line_error(served, "needs the assertions extra", ".venv/bin/pip install '.[assertions]'")
    created = run_cli(
        "clients", "create", "--name", "job", "--grant-type", "client_credentials", "--auth-method",
        "private_key_jwt", "--jwks-uri", "https://keys.example.com/jwks.json", env=env, command=command,
    )  # fmt: skip
    assert_one_line_error(created, "needs the assertions extra")
    assert json.loads(run_cli("clients", "list", env=env).stdout) == []
