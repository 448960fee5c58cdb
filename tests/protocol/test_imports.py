"""Layering: the protocol works without Starlette and redis-py, and the resource server skips the server's web glue.

Each check runs in a fresh interpreter, since this one has long imported everything.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

#: Installed first in the child: makes ``starlette`` and ``redis`` (and their submodules) look uninstalled.
BLOCK = """
import sys

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("starlette", "redis"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, Blocked())
"""


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_blocker_blocks() -> None:
    """Otherwise the next test would prove nothing."""
    out = run(BLOCK + "\ntry:\n    import starlette.types\nexcept ImportError:\n    print('refused')\n")

    assert out.strip() == "refused"


def test_protocol_imports_and_runs_without_starlette_and_redis() -> None:
    out = run(
        BLOCK
        + """
import asyncio, importlib, pkgutil
import asgi_oauth, asgi_oauth.protocol
from asgi_oauth.protocol import grants

names = [m.name for m in pkgutil.iter_modules(asgi_oauth.protocol.__path__, "asgi_oauth.protocol.")]
for name in names:
    importlib.import_module(name)

# And it works: a client_credentials token from the memory store, straight through the token endpoint's logic.
from asgi_oauth import MemoryStore, OAuthSettings, new_client
from asgi_oauth.protocol.context import ClientLookup, Context
from asgi_oauth.protocol.params import Incoming, Params
from asgi_oauth.protocol.ratelimit import Limiter

settings = OAuthSettings(issuer="https://auth.test", secret_key="k" * 40)
store = MemoryStore()
client, secret = new_client(name="job", client_id="job", grant_types=["client_credentials"], scope="read",
                          token_endpoint_auth_method="client_secret_post")
ctx = Context(settings, store, ClientLookup(store, {"job": client}), Limiter.from_settings(store, settings))
form = Params.parse(f"grant_type=client_credentials&client_id=job&client_secret={secret}")
tokens = asyncio.run(grants.token(ctx, grants.enabled_grants(settings), Incoming(form)))
assert tokens.scope == "read", tokens

print(len(names), sorted(m for m in sys.modules if m.split(".")[0] in ("starlette", "redis")))
"""
    )
    count, loaded = out.split(" ", 1)
    assert int(count) >= 9  # authorize, client_auth, context, grants, introspect, metadata, params, ratelimit, ...
    assert loaded.strip() == "[]"


def test_middleware_does_not_import_the_servers_web_glue() -> None:
    out = run(
        """
import sys
import asgi_oauth.middleware
print(sorted(m for m in sys.modules if m == "asgi_oauth.web" or m.startswith("asgi_oauth.web.")))
"""
    )

    assert out.strip() == "[]"


def test_no_module_imports_another_modules_private_names() -> None:
    """A name with a leading underscore is its module's own: another module needing it means it is public."""
    import ast
    from pathlib import Path

    import asgi_oauth

    crossings = []
    for path in Path(asgi_oauth.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                crossings += [f"{path.name}: from {node.module} import {name}" for name in private]
    assert crossings == []


def test_the_settings_import_nothing_above_them() -> None:
    """Settings sit below the protocol and the web glue: they import neither (nor what imports them)."""
    import ast
    from pathlib import Path

    import asgi_oauth.settings

    tree = ast.parse(Path(asgi_oauth.settings.__file__).read_text("utf-8"))
    relative = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
    assert relative <= {"uris"}, relative
