"""The ``asgi-oauth`` command: ``serve`` runs the demo, ``clients`` manages clients, ``tokens`` revokes tokens.

Only argument parsing and printing live here; the work is done by :mod:`asgi_oauth.serve`, :mod:`asgi_oauth.demo` and
:mod:`asgi_oauth.clients`. Every failure is one ``asgi-oauth: error: ...`` line on stderr and a non-zero
exit, never a traceback: this is what newcomers see first.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import logging
import shlex
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from redis.exceptions import RedisError

from .clients import ClientError, new_client, register_client
from .demo import DEMO_CLIENT_ID, redact_url
from .environment import unknown_variable_warning, unknown_variables
from .extras import MissingExtra, require
from .models import Client
from .serve import PROG, ServeError, prepare_serve
from .settings import (
    ENV_PREFIX,
    OAuthSettings,
    SettingsError,
    load_section,
    load_settings,
)
from .store import Store, StoreUnavailable, store_from_settings
from .types import GRANT_TYPES

if TYPE_CHECKING:
    from pydantic import ValidationError

    from .features.assertions import TrustedIssuer, TrustedIssuerStore, TrustRule
    from .features.oidc.keys import KeyRing, SigningKey

T = TypeVar("T")
#: Short names ``--grant-type`` also takes for the grants whose names are URIs.
GRANT_ALIASES = {
    "device_code": "urn:ietf:params:oauth:grant-type:device_code",
    "jwt-bearer": "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "token-exchange": "urn:ietf:params:oauth:grant-type:token-exchange",
}


class CommandError(Exception):
    """A failure worth exactly one line to the user."""


@contextmanager
def _quiet_library_warnings() -> Iterator[None]:
    # Settings log a warning when no SECRET_KEY is set, and for unknown ASGI_OAUTH_* variables. The clients
    # commands never sign anything, serve says so in its own banner, and the unknown variables are printed
    # as "asgi-oauth: warning:" lines by the commands themselves: the raw log lines would only add noise.
    library = logging.getLogger("asgi_oauth")
    previous = library.level
    library.setLevel(logging.ERROR)
    try:
        yield
    finally:
        library.setLevel(previous)


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port (1-65535)")
    return int(value)


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one ``asgi-oauth: error: ...`` line like every other failure."""

    def error(self, message: str) -> NoReturn:
        # argparse would print the whole usage first; the pointer to --help says where it went.
        # A client id made before generated ids stopped starting with "-" reads as an option.
        hint = ""
        if message.endswith("required: ID"):
            hint = "; an ID that starts with '-' goes after '--', as in 'clients delete -- -Ij3...'"
        elif message.startswith(("argument --client: expected", "argument --client-id: expected")):
            hint = f"; an ID that starts with '-' is written {message.split()[1][:-1]}=ID"
        self.exit(2, f"{PROG}: error: {' '.join(message.split())}{hint}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="OAuth 2.0 authorization server for ASGI apps: run the demo, manage clients, revoke tokens.",
        epilog=f"Settings come from {ENV_PREFIX}* environment variables (see the documentation's settings reference).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help=f"run the demo server (memory store unless {ENV_PREFIX}REDIS_URL is set)",
        description=(
            "Run the demo: the authorization server at /oauth, a sign-in page at /login, a demo client "
            "(/start, /callback) and GET /api/me behind the bearer middleware. Registers the client "
            f"{DEMO_CLIENT_ID} when the store lacks it and prints its secret and a curl for a token. "
            f"The store is Redis when {ENV_PREFIX}REDIS_URL is set, else this process's memory."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (default: %(default)s)")
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help=f"worker processes (default: %(default)s); more than one needs {ENV_PREFIX}REDIS_URL "
        f"and {ENV_PREFIX}SECRET_KEY",
    )

    clients = commands.add_parser(
        "clients",
        help=f"create, list or delete clients in {ENV_PREFIX}REDIS_URL",
        description=f"Manage the clients stored in the Redis named by {ENV_PREFIX}REDIS_URL.",
    )
    actions = clients.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create",
        help="register a client and print its id (and secret, once)",
        description=(
            "Register a client and print one JSON object with its client_id and, for a confidential "
            "client, its client_secret: shown only now, stored hashed."
        ),
    )
    create.add_argument("--name", required=True, help="human-readable name shown on the consent page")
    create.add_argument("--client-id", help="the client id (default: a random one)")
    create.add_argument("--public", action="store_true", help="a public client: no secret, PKCE required")
    create.add_argument("--first-party", action="store_true", help="trusted client: skips the consent page")
    create.add_argument(
        "--introspect-any",
        action="store_true",
        help="a resource server: may introspect tokens issued to every client (RFC 7662)",
    )
    create.add_argument(
        "--grant-type",
        dest="grant_types",
        action="extend",
        nargs="+",
        required=True,
        choices=[*GRANT_TYPES, *GRANT_ALIASES],
        metavar="T",
        help=(
            f"one or more of: {', '.join(GRANT_TYPES)} (repeatable; device_code, jwt-bearer and token-exchange are "
            "short for the RFC 8628, RFC 7523 and RFC 8693 URNs)"
        ),
    )
    create.add_argument(
        "--redirect-uri",
        dest="redirect_uris",
        action="extend",
        nargs="+",
        default=[],
        metavar="U",
        help="absolute redirect URI without fragment (repeatable)",
    )
    create.add_argument(
        "--scope",
        help='space-separated scopes the client may ask for, e.g. "read write" (without it: none, with a warning)',
    )
    create.add_argument(
        "--require-par",
        action="store_true",
        help="the client must push its authorization requests (RFC 9126); applies where the par feature is on",
    )
    create.add_argument(
        "--dpop-bound",
        action="store_true",
        help="every token request of the client must carry a DPoP proof (RFC 9449 dpop_bound_access_tokens); "
        "applies where the dpop feature is on",
    )
    create.add_argument(
        "--auth-method",
        choices=["client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt"],
        help=(
            "token endpoint auth method of a confidential client (default: client_secret_basic); private_key_jwt "
            "needs --jwks or --jwks-uri, the assertions extra and the private_key_jwt feature on the server; "
            "client_secret_jwt (same feature) gets a secret derived from ASGI_OAUTH_SECRET_KEY, which must be set"
        ),
    )
    create.add_argument(
        "--jwks", metavar="FILE", help="private_key_jwt: a file holding the client's public keys as a JWK Set"
    )
    create.add_argument(
        "--jwks-uri", metavar="URL", help="private_key_jwt: the https URL where the client publishes its JWK Set"
    )
    create.add_argument(
        "--exchange-audience",
        dest="exchange_audiences",
        action="extend",
        nargs="+",
        default=[],
        metavar="URI",
        help=(
            "token-exchange: a resource this client serves, whose tokens it may exchange (RFC 8693; repeatable); "
            "it may always exchange its own"
        ),
    )

    actions.add_parser(
        "list", help="print all clients as JSON (no secrets)", description="Print all clients as JSON, without secrets."
    )
    delete = actions.add_parser(
        "delete",
        help="delete a client",
        description=(
            "Delete a client from the store. Every worker refuses it at once (the deletion is announced to "
            f"their caches); with {ENV_PREFIX}VALIDATION_CACHE=false, workers that read its record accept it for "
            f"up to {ENV_PREFIX}CLIENT_CACHE_TTL seconds more."
        ),
    )
    delete.add_argument("client_id", metavar="ID", help="the client_id to delete, as 'clients list' shows it")

    keys = commands.add_parser(
        "keys",
        help=f"list or rotate the OpenID Connect keys generated in {ENV_PREFIX}REDIS_URL",
        description=(
            "The OpenID Connect signing keys generated into the store when "
            f"{ENV_PREFIX}OIDC_SIGNING_KEYS is unset (needs the oidc extra). Configured keys rotate by "
            "configuration instead."
        ),
    )
    key_actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    key_actions.add_parser(
        "list",
        help="print the published keys as JSON (kid, alg, retire_at; never key material)",
        description="Print the generated keys as JSON: kid, alg, whether it signs, and when a retired one leaves.",
    )
    key_actions.add_parser(
        "rotate",
        help="generate a new signing key; the previous one keeps verifying until its tokens expired",
        description=(
            "Generate a new signing key. The previous keys stay published, and verify, for the longest "
            f"lifetime of a token they signed ({ENV_PREFIX}ID_TOKEN_LIFETIME or {ENV_PREFIX}ACCESS_TOKEN_LIFETIME) "
            "plus a minute. Running servers sign with the new key within 30 seconds."
        ),
    )
    issuers = commands.add_parser(
        "issuers",
        help=f"add, list or remove the identity providers and platforms jwt_bearer trusts, in {ENV_PREFIX}REDIS_URL",
        description=(
            "The identity providers whose identity assertion grants (ID-JAG), and the workload platforms whose "
            "tokens, the jwt_bearer feature accepts, kept in the store beside those of "
            f"{ENV_PREFIX}ASSERTION_ISSUERS; every worker sees a change at once. Needs the assertions extra."
        ),
    )
    issuer_actions = issuers.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = issuer_actions.add_parser(
        "add",
        help="trust an identity provider (replacing what was kept for its issuer)",
        description="Trust an identity provider: its iss, and its public keys as a JWK Set file or an https URL.",
    )
    add.add_argument(
        "--issuer", required=True, metavar="ISS", help="the identity provider's iss, as its tokens carry it"
    )
    add_keys = add.add_mutually_exclusive_group(required=True)
    add_keys.add_argument("--jwks", metavar="FILE", help="a file holding its public keys as a JWK Set")
    add_keys.add_argument("--jwks-uri", metavar="URL", help="the https URL where it publishes its JWK Set")
    add.add_argument(
        "--algorithm",
        dest="algorithms",
        action="extend",
        nargs="+",
        metavar="ALG",
        help="the algorithms it signs with (default: every asymmetric one)",
    )
    add.add_argument(
        "--profile",
        choices=["id-jag", "workload"],
        default="id-jag",
        help="what it signs: ID-JAGs for users (default), or workload identity tokens admitted by --rule",
    )
    add.add_argument(
        "--audience",
        metavar="AUD",
        help="workload: the aud its tokens must carry for this server (default: this server's issuer identifier)",
    )
    add.add_argument(
        "--rule",
        dest="rules",
        action="append",
        default=[],
        metavar="RULE",
        help=(
            "workload (repeatable, the first admitting a token decides): NAME=VALUE words pinning claims, sub "
            "among them (a NAME starting with / is a JSON Pointer into nested claims), plus client_id=ID and "
            'scope="a b", e.g. \'sub=system:serviceaccount:prod:billing client_id=billing scope="read write"\'; '
            "or the rule as a JSON object"
        ),
    )
    issuer_actions.add_parser(
        "list", help="print the added identity providers as JSON", description="Print the added identity providers."
    )
    remove = issuer_actions.add_parser(
        "remove", help="stop trusting an identity provider", description="Stop trusting an added identity provider."
    )
    remove.add_argument("issuer", metavar="ISS", help="its iss, as 'issuers list' shows it")

    tokens = commands.add_parser(
        "tokens",
        help=f"revoke tokens in {ENV_PREFIX}REDIS_URL",
        description=f"Manage the tokens stored in the Redis named by {ENV_PREFIX}REDIS_URL.",
    )
    token_actions = tokens.add_subparsers(dest="action", required=True, metavar="ACTION")
    revoke = token_actions.add_parser(
        "revoke",
        help="revoke everything of a user or of a client",
        description=(
            "End every grant of a user, or of a client, in one step: refresh tokens, access tokens and "
            "authorization codes not yet exchanged, on every worker at once. The client itself stays "
            "registered. Prints how many grants still lived."
        ),
    )
    owner = revoke.add_mutually_exclusive_group(required=True)
    owner.add_argument("--user", metavar="SUB", help="the user's subject (the sub that introspection shows)")
    owner.add_argument("--client", metavar="ID", help="the client_id whose tokens end")
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("asgi-oauth")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown version"


def client_summary(client: Client) -> dict[str, Any]:
    """What may be shown of a client: everything but its secret hash."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "public": client.public,
        "first_party": client.first_party,
        "introspect_any": client.introspect_any,
        "grant_types": list(client.grant_types),
        "redirect_uris": list(client.redirect_uris),
        "scope": client.scope,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "created_at": client.created_at,
        # What features keep with the client, such as ``{"par": {"require": true}}``.
        **({"extra": dict(client.extra)} if client.extra else {}),
        # Registered through POST /register (RFC 7591): when it goes unless used, and when its secret expires.
        **(
            {
                "dynamic": True,
                "unused_expires_at": client.unused_expires_at or None,
                "secret_expires_at": client.secret_expires_at or None,
            }
            if client.dynamic
            else {}
        ),
    }


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False), flush=True)


def _warn(note: str) -> None:
    print(f"{PROG}: warning: {note}", file=sys.stderr, flush=True)


def _redis_settings(command: str = "clients") -> OAuthSettings:
    for name in unknown_variables():
        _warn(unknown_variable_warning(name))
    with _quiet_library_warnings():
        settings = load_settings()
    if not settings.redis_url:
        raise CommandError(
            f"{command} commands need {ENV_PREFIX}REDIS_URL: the memory store lives only inside 'asgi-oauth serve'"
        )
    return settings


def _with_store(settings: OAuthSettings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` on the Redis store of ``settings`` after a ping, closing the pool whatever happens."""

    async def run() -> T:
        store = store_from_settings(settings)
        try:
            await store.ping()
            return await work(store)
        finally:
            await store.aclose()

    try:
        return asyncio.run(run())
    except StoreUnavailable as exc:
        url = redact_url(settings.redis_url or "")
        raise CommandError(f"cannot reach Redis at {url} ({exc}); start it or fix {ENV_PREFIX}REDIS_URL") from None
    except RedisError as exc:
        raise CommandError(f"Redis refused the command: {type(exc).__name__}: {exc}") from None


def _jwks_file(path: str) -> Any:
    """The JSON of a --jwks file, or a one-line error."""
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except OSError as exc:
        raise CommandError(f"cannot read --jwks {path}: {exc.strerror}") from None
    except ValueError:
        raise CommandError(f'--jwks {path} does not hold JSON (a JWK Set: {{"keys": [...]}})') from None


def _exchange_audiences(args: argparse.Namespace) -> dict[str, Any]:
    """The ``extra`` naming the audiences whose tokens the client may exchange (--exchange-audience)."""
    if not args.exchange_audiences:
        return {}
    if GRANT_ALIASES["token-exchange"] not in {GRANT_ALIASES.get(grant, grant) for grant in args.grant_types}:
        raise CommandError("--exchange-audience belongs to clients with --grant-type token-exchange")
    from .features.exchange import may_exchange

    try:
        return may_exchange(args.exchange_audiences)
    except ValueError:
        raise CommandError("--exchange-audience takes absolute URIs of resources (RFC 8707)") from None


def _client_keys(args: argparse.Namespace) -> dict[str, Any]:
    """The ``extra`` holding a private_key_jwt client's keys (from --jwks or --jwks-uri); empty for other methods."""
    if args.auth_method != "private_key_jwt":
        if args.jwks or args.jwks_uri:
            raise CommandError("--jwks and --jwks-uri belong to --auth-method private_key_jwt")
        return {}
    require("--auth-method private_key_jwt", "assertions")
    from .features.assertions import KeySetError, registered_keys

    jwks = _jwks_file(args.jwks) if args.jwks is not None else None
    try:
        return registered_keys(jwks=jwks, jwks_uri=args.jwks_uri)
    except KeySetError as exc:
        raise CommandError(f"--jwks/--jwks-uri: {exc}") from None


def _clients_create(args: argparse.Namespace) -> int:
    settings = _redis_settings()
    method = args.auth_method or ("none" if args.public else None)
    if args.public and args.auth_method:
        raise CommandError("--auth-method applies to confidential clients only; drop it or --public")
    extra = (
        _client_keys(args) | _exchange_audiences(args) | ({"dpop_bound_access_tokens": True} if args.dpop_bound else {})
    )
    client, secret = new_client(
        name=args.name,
        client_id=args.client_id,
        public=args.public,
        first_party=args.first_party,
        grant_types=[GRANT_ALIASES.get(grant, grant) for grant in args.grant_types],
        redirect_uris=args.redirect_uris,
        scope=args.scope or "",
        token_endpoint_auth_method=method,
        introspect_any=args.introspect_any,
        extra=extra,
        secret_key=settings.secret_key,
    )
    if args.require_par:
        if "authorization_code" not in client.grant_types:
            raise CommandError("--require-par applies to clients with the authorization_code grant")
        from .features.par import must_push

        client = must_push(client)
    _with_store(settings, lambda store: register_client(store, client))
    if args.scope is None:
        # Not refused: a resource server (--introspect-any) or a client_credentials job may need none.
        _warn(
            f"no --scope: {client.client_id} may be granted no scope, so its tokens carry none; "
            'pass --scope "a b" to allow some (--scope "" says none on purpose)'
        )
    result: dict[str, Any] = {"client_id": client.client_id}
    if secret is not None:
        result["client_secret"] = secret
    _print_json(result)
    return 0


def _clients_list(args: argparse.Namespace) -> int:
    clients = _with_store(_redis_settings(), lambda store: store.list_clients())
    _print_json([client_summary(client) for client in clients])
    return 0


def _clients_delete(args: argparse.Namespace) -> int:
    client_id: str = args.client_id
    if not _with_store(_redis_settings(), lambda store: store.delete_client(client_id)):
        raise CommandError(f"no client with id {client_id!r}")
    _print_json({"client_id": client_id, "deleted": True})
    return 0


def _key_ring(settings: OAuthSettings, store: Store) -> KeyRing:
    """The :class:`~asgi_oauth.features.oidc.keys.KeyRing` of keys generated into the store; PyJWT is the
    ``oidc`` extra."""
    require("keys commands", "oidc")
    from .features.oidc import OIDCSettings, OpenIDConnect
    from .features.oidc.keys import KeyRing
    from .features.oidc.store import KeyStore

    oidc = OpenIDConnect(load_section(OIDCSettings))
    if oidc.settings.oidc_signing_keys:
        raise CommandError(
            f"{ENV_PREFIX}OIDC_SIGNING_KEYS is set: configured keys rotate by configuration "
            "(put the new key first, keep the old one until its tokens expired)"
        )
    keys = oidc.key_store(store)
    if not isinstance(keys, KeyStore):
        raise CommandError(f"{type(store).__name__} keeps no generated signing keys")
    return KeyRing(oidc.settings, keys, access_token_lifetime=settings.access_token_lifetime)


def _key_summary(key: SigningKey) -> dict[str, Any]:
    return {"kid": key.kid, "alg": key.alg, "signing": key.retire_at is None, "retire_at": key.retire_at}


def _keys_list(args: argparse.Namespace) -> int:
    settings = _redis_settings("keys")

    async def stored(store: Store) -> list[dict[str, Any]]:
        return [_key_summary(key) for key in await _key_ring(settings, store).stored()]

    _print_json(_with_store(settings, stored))
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    settings = _redis_settings("keys")

    async def rotate(store: Store) -> list[dict[str, Any]]:
        ring = _key_ring(settings, store)
        await ring.rotate()
        return [_key_summary(key) for key in await ring.stored()]

    _print_json(_with_store(settings, rotate))
    return 0


def _issuer_store(store: Store) -> TrustedIssuerStore:
    """The jwt_bearer feature's store part beside ``store`` (its settings' issuers do not matter here)."""
    from .features.assertions import AssertionSettings, JWTBearerGrant, TrustedIssuerStore

    kept = JWTBearerGrant(load_section(AssertionSettings)).issuer_store(store)
    if not isinstance(kept, TrustedIssuerStore):
        raise CommandError(f"{type(store).__name__} keeps no trusted issuers")
    return kept


def _issuers_add(args: argparse.Namespace) -> int:
    settings = _redis_settings("issuers")
    require("issuers commands", "assertions")
    from pydantic import ValidationError

    from .features.assertions import TrustedIssuer

    given: dict[str, Any] = {"issuer": args.issuer, "profile": args.profile}
    given |= {"jwks": _jwks_file(args.jwks)} if args.jwks is not None else {"jwks_uri": args.jwks_uri}
    if args.algorithms:
        given["algorithms"] = tuple(args.algorithms)
    if args.audience is not None:
        given["audience"] = args.audience
    given["rules"] = tuple(_trust_rule(rule) for rule in args.rules)
    try:
        trusted = TrustedIssuer(**given)
    except ValidationError as exc:
        raise CommandError(f"the identity provider cannot be trusted: {_problem(exc)}") from None
    _with_store(settings, lambda store: _issuer_store(store).put_issuer(trusted))
    _print_json(_issuer_summary(trusted))
    return 0


def _issuers_list(args: argparse.Namespace) -> int:
    settings = _redis_settings("issuers")
    require("issuers commands", "assertions")
    kept = _with_store(settings, lambda store: _issuer_store(store).list_issuers())
    _print_json([_issuer_summary(trusted) for trusted in kept])
    return 0


def _issuers_remove(args: argparse.Namespace) -> int:
    settings = _redis_settings("issuers")
    require("issuers commands", "assertions")
    issuer: str = args.issuer
    if not _with_store(settings, lambda store: _issuer_store(store).delete_issuer(issuer)):
        raise CommandError(f"no added identity provider {issuer!r} (see 'asgi-oauth issuers list')")
    _print_json({"issuer": issuer, "removed": True})
    return 0


def _trust_rule(text: str) -> TrustRule:
    """A workload issuer's --rule: a JSON object, or ``NAME=VALUE`` words (shell-quoted) where ``client_id`` and
    ``scope`` are the rule's and every other name a claim it pins."""
    from pydantic import ValidationError

    from .features.assertions import TrustRule

    try:
        if text.lstrip().startswith("{"):
            return TrustRule.model_validate_json(text)
        given: dict[str, Any] = {"claims": {}}
        for word in shlex.split(text):
            name, equals, value = word.partition("=")
            if not equals or not name:
                raise CommandError(f"--rule {text!r}: {word!r} is not NAME=VALUE")
            if name in ("client_id", "scope"):
                given[name] = value
            else:
                given["claims"][name] = value
        return TrustRule(**given)
    except ValidationError as exc:
        raise CommandError(f"--rule {text!r}: {_problem(exc)}") from None
    except ValueError as exc:  # shlex: an unclosed quote
        raise CommandError(f"--rule {text!r}: {exc}") from None


def _problem(exc: ValidationError) -> str:
    """The first problem pydantic found, with where it is when that is not the whole object."""
    error = exc.errors()[0]
    where = ".".join(str(step) for step in error["loc"])
    problem = error["msg"].removeprefix("Value error, ")
    return f"{where}: {problem}" if where else problem


def _issuer_summary(trusted: TrustedIssuer) -> dict[str, Any]:
    summary = trusted.model_dump(exclude_none=True) | {"algorithms": list(trusted.algorithms)}
    if not trusted.rules:
        del summary["rules"]
    return summary


def _tokens_revoke(args: argparse.Namespace) -> int:
    settings = _redis_settings("tokens")
    user: str | None = args.user
    client: str | None = args.client
    if user is not None:
        ended = _with_store(settings, lambda store: store.revoke_user(user))
        _print_json({"user": user, "revoked": ended})
    elif client is not None:
        ended = _with_store(settings, lambda store: store.revoke_client(client))
        _print_json({"client_id": client, "revoked": ended})
    return 0


def _serve(args: argparse.Namespace) -> int:
    with _quiet_library_warnings():
        plan = prepare_serve(args.host, args.port, args.workers)
    for note in plan.warnings():
        _warn(note)
    print("\n".join(plan.banner()) + "\n", flush=True)
    plan.run()
    return 0


_COMMANDS: dict[tuple[str, str | None], Callable[[argparse.Namespace], int]] = {
    ("serve", None): _serve,
    ("clients", "create"): _clients_create,
    ("clients", "list"): _clients_list,
    ("clients", "delete"): _clients_delete,
    ("keys", "list"): _keys_list,
    ("keys", "rotate"): _keys_rotate,
    ("issuers", "add"): _issuers_add,
    ("issuers", "list"): _issuers_list,
    ("issuers", "remove"): _issuers_remove,
    ("tokens", "revoke"): _tokens_revoke,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = _COMMANDS[(args.command, getattr(args, "action", None))]
    try:
        return command(args)
    except (CommandError, ServeError, SettingsError, ClientError, MissingExtra) as exc:
        message = str(exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a last resort: still one line, and the type says where to look
        message = f"unexpected {type(exc).__name__}: {exc}"
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
