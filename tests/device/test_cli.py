"""``asgi-oauth clients create`` registers device clients: ``device_code`` names RFC 8628's grant."""

from __future__ import annotations

import json

from ..serving import clean_env, run_cli

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def test_clients_create_takes_the_short_name_and_the_urn(redis_url: str, key_prefix: str) -> None:
    env = clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_KEY_PREFIX=key_prefix)
    for client_id, grant in (("tv", "device_code"), ("box", DEVICE_GRANT)):
        made = run_cli("clients", "create", "--name", client_id, "--client-id", client_id, "--grant-type", grant,
                       "--scope", "read", *(["--public"] if client_id == "tv" else []), env=env)  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert ("client_secret" in json.loads(made.stdout)) is (client_id == "box")
    listed = {c["client_id"]: c for c in json.loads(run_cli("clients", "list", env=env).stdout)}
    assert listed["tv"]["grant_types"] == [DEVICE_GRANT] and listed["tv"]["redirect_uris"] == []
    assert listed["box"]["grant_types"] == [DEVICE_GRANT]
    help_text = run_cli("clients", "create", "--help", env=env).stdout
    # argparse may wrap the line at a hyphen: compare without any whitespace.
    assert "device_code,jwt-bearerandtoken-exchangeareshortfor" in "".join(help_text.split())
