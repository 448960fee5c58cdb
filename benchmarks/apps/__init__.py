"""The apps under test and what each one serves.

Every app is a Starlette application built by a factory taking a :class:`~benchmarks.apps.common.BenchConfig`
(or reading ``BENCH_*`` variables when uvicorn calls it without arguments).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Literal

from .common import BenchConfig

Kind = Literal["ceiling", "ours", "peer"]
#: What serves the app: a Starlette app (in-process and under uvicorn) or node-oidc-provider (HTTP only).
Runtime = Literal["asgi", "node"]

#: Scenarios of the OAuth apps, in report order.
OAUTH_SCENARIOS = ("cc_token", "introspect", "protected", "code_exchange", "refresh")
#: The ceiling routes: one Redis SET EX, one GET, and none.
CEILING_SCENARIOS = ("set", "get", "json")
#: Which ceiling each OAuth scenario is measured against: issuing writes, validating reads.
CEILING_OF = {
    "cc_token": "set",
    "introspect": "get",
    "protected": "get",
    "code_exchange": "set",
    "refresh": "set",
}
SCENARIO_TITLES = {
    "cc_token": "client_credentials issuance (POST /token)",
    "introspect": "introspection (POST /introspect)",
    "protected": "protected route (GET /api/me, bearer validation)",
    "code_exchange": "authorization-code exchange (POST /token, PKCE)",
    "refresh": "refresh-token rotation (POST /token)",
    "set": "ceiling: Starlette + 1 Redis SET EX",
    "get": "ceiling: Starlette + 1 Redis GET",
    "json": "ceiling: Starlette constant JSON (no Redis)",
}


@dataclass(frozen=True, slots=True)
class AppSpec:
    name: str
    label: str
    kind: Kind
    #: ``module:function`` relative to this package; also what ``uvicorn --factory`` is given.
    factory: str
    scenarios: tuple[str, ...]
    token_path: str = "/token"
    introspect_path: str | None = "/introspect"
    protected_path: str | None = "/api/me"
    #: Scenarios this app cannot serve, with the reason shown in the report.
    skipped: dict[str, str] = field(default_factory=dict)
    #: Keyword arguments for the in-process factory call.
    factory_kwargs: dict[str, Any] = field(default_factory=dict)
    runtime: Runtime = "asgi"

    @property
    def uvicorn_target(self) -> str:
        module, _, func = self.factory.partition(":")
        return f"benchmarks.apps.{module}:{func}"

    def build(self, config: BenchConfig) -> Any:
        """Import and build the app; ImportError means its library is missing (e.g. ours not written yet)."""
        module, _, _ = self.factory.partition(":")
        create = importlib.import_module(f"benchmarks.apps.{module}").create_app
        return create(config, **self.factory_kwargs)


APPS: tuple[AppSpec, ...] = (
    AppSpec("ceiling", "ceiling (bare Starlette)", "ceiling", "ceiling:create_app", CEILING_SCENARIOS),
    # For reference, not a target's basis: the same routes on the Redis connection our store uses.
    AppSpec(
        "ceiling-pipelined",
        "ceiling on asgi_oauth's pipelined Redis connection",
        "ceiling",
        "ceiling:create_pipelined_app",
        ("set", "get"),
    ),
    AppSpec(
        "ours-redis",
        "asgi_oauth (Redis)",
        "ours",
        "ours:create_redis_app",
        OAUTH_SCENARIOS,
        token_path="/oauth/token",
        introspect_path="/oauth/introspect",
        factory_kwargs={"memory": False},
    ),
    # The defaults with Redis: validation from each worker's memory, kept honest by the revocation channel.
    AppSpec(
        "ours-redis-cache",
        "asgi_oauth (Redis, validation cache)",
        "ours",
        "ours:create_cached_app",
        ("cc_token", "introspect", "protected"),
        token_path="/oauth/token",
        introspect_path="/oauth/introspect",
        factory_kwargs={"memory": False, "cache": True},
    ),
    AppSpec(
        "ours-memory",
        "asgi_oauth (memory store)",
        "ours",
        "ours:create_memory_app",
        OAUTH_SCENARIOS,
        token_path="/oauth/token",
        introspect_path="/oauth/introspect",
        factory_kwargs={"memory": True},
    ),
    AppSpec("authlib", "Authlib", "peer", "authlib_app:create_app", OAUTH_SCENARIOS),
    AppSpec(
        "aioauth",
        "aioauth",
        "peer",
        "aioauth_app:create_app",
        OAUTH_SCENARIOS,
        protected_path=None,
        skipped={"protected": "aioauth ships no resource-server component (nothing of aioauth's to measure)"},
    ),
    AppSpec(
        "node-oidc-provider",
        "node-oidc-provider (Node 22, same Redis)",
        "peer",
        "",
        OAUTH_SCENARIOS,
        introspect_path="/token/introspection",
        protected_path=None,
        skipped={
            "protected": "node-oidc-provider ships no resource-server component",
            "code_exchange": "its codes come from the interactive /auth flow (sign-in, consent), not driven here",
            "refresh": "its refresh tokens come from the interactive /auth flow, not driven here",
        },
        runtime="node",
    ),
)

PEERS = tuple(spec.name for spec in APPS if spec.kind == "peer")


def app_by_name(name: str) -> AppSpec:
    for spec in APPS:
        if spec.name == name:
            return spec
    raise KeyError(name)
