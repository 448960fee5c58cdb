"""The judges of ID-JAG issuance, which nobody here wrote: panva's ``openid-client`` signs alice in at ``asgi-oauth
serve`` (two workers on Redis, set up with the documented block as written) and exchanges her ID token for ID-JAGs,
and panva's ``jose`` verifies each against the server's published JWK Set as the partner authorization server
would. The browser's part (the sign-in and consent pages) is played with httpx."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from asgi_oauth.crypto import new_jti, pkce_challenge

from ..assertions.test_readme import run_here
from ..docs.pages import blocks, doc_section, exports_of
from ..npm import run_judge
from ..serving import clean_env, demo_sign_in, serving

HERE = Path(__file__).parent
SECTION = "Issuing ID-JAGs: this server as the enterprise identity provider"

pytestmark = pytest.mark.slow


def test_openid_client_gets_id_jags_that_jose_verifies(
    tmp_path: Path, redis_url: str, key_prefix: str, openid_client: Path
) -> None:
    (block,) = blocks(doc_section(SECTION), "sh")
    settings = exports_of(block)
    (target,) = json.loads(settings["ASGI_OAUTH_EXCHANGE_ID_JAG_TARGETS"])
    env = clean_env(
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_KEY_PREFIX=key_prefix,
        ASGI_OAUTH_SECRET_KEY="id-jag-served-" + "k" * 32,
        ASGI_OAUTH_DEMO_USERS="alice:wonderland",
        **settings,
    )
    created = run_here(block, tmp_path, env)
    assert created.returncode == 0, created.stderr
    printed = json.loads(created.stdout)
    redirect_uri = re.search(r"--redirect-uri (\S+)", block)
    assert redirect_uri is not None
    audience, resource = target["audience"], target["resources"][0]
    with serving(tmp_path / "serve", env, workers=2) as server:
        verifier, state, nonce = new_jti() * 3, new_jti(), new_jti()
        query = {
            "response_type": "code",
            "client_id": printed["client_id"],
            "redirect_uri": redirect_uri.group(1),
            "scope": "openid profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(verifier, "S256"),
            "code_challenge_method": "S256",
        }
        callback = demo_sign_in(server, query)
        argv = [server.issuer, printed["client_id"], printed["client_secret"], callback, verifier, state, nonce]
        answers = run_judge(HERE / "id_jag_judge.mjs", *argv, audience, resource, "6")
    print("openid-client + jose ID-JAG judge:", json.dumps(answers[-1]))
    assert len(answers) == 6 and len({answer["claims"]["jti"] for answer in answers}) == 6
    for answer in answers:
        assert answer["issued_token_type"] == "urn:ietf:params:oauth:token-type:id-jag"
        claims = answer["claims"]
        assert claims["iss"] == server.issuer and claims["aud"] == audience and claims["sub"] == answer["user"]
        assert claims["client_id"] == target["clients"][printed["client_id"]] and claims["scope"] == "tools"
        assert claims["resource"] == resource and claims["exp"] - claims["iat"] <= 300
