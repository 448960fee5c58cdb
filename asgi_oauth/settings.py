"""Server settings: environment variables prefixed ``ASGI_OAUTH_`` or keyword arguments in code."""

from __future__ import annotations

import difflib
import logging
import re
import secrets
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .uris import canonical_resource

logger = logging.getLogger("asgi_oauth")

ENV_PREFIX = "ASGI_OAUTH_"

#: Said once when no SECRET_KEY is set, in these words by the library's log and by ``asgi-oauth serve`` alike.
EPHEMERAL_KEY_WARNING = (
    f"no {ENV_PREFIX}SECRET_KEY is set: signing with a random key, so consent forms, sign-in sessions and other "
    f"signed values stop working on restart and cannot be shared by several workers; set {ENV_PREFIX}SECRET_KEY "
    "for anything but a demo"
)

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# RFC 6749 section 3.3 scope-token, for the dynamic registration scope cap.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
#: One server, Redis Cluster (seed nodes, comma-separated), or the master that Sentinels name.
_REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel")


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it as its environment variable."""


def is_loopback(host: str | None) -> bool:
    return host is not None and (host in _LOOPBACK_HOSTS or host.endswith(".localhost"))


#: The built-in features with a switch of their own from before features, by name: the setting that turns each on
#: (``ASGI_OAUTH_ENABLE_OIDC`` as well as ``oidc`` in ``ASGI_OAUTH_FEATURES``).
FEATURE_SWITCHES = {
    "device": "enable_device_authorization",
    "oidc": "enable_oidc",
    "registration": "enable_dynamic_registration",
}


class StrictSettings(BaseSettings):
    """Settings whose keyword arguments must name fields. The environment may hold anything (unknown variables
    are warned about), but a misspelt name in code, or one that moved to a feature's section, must not be
    dropped silently."""

    def __init__(self, **values: Any) -> None:
        fields = type(self).model_fields
        unknown = sorted(name for name in values if not name.startswith("_") and name not in fields)
        if unknown:
            problems = []
            for name in unknown:
                close = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.7)
                hint = f"did you mean {close[0]}?" if close else "a feature's settings are its own section"
                problems.append(f"{type(self).__name__} has no setting {name!r}: {hint}")
            raise SettingsError("; ".join(problems) + " (see the settings reference in the documentation)")
        super().__init__(**values)


class OAuthSettings(StrictSettings):
    """The server's settings, read from ``ASGI_OAUTH_*`` variables or given as keyword arguments
    (:func:`load_settings` turns errors into one :class:`SettingsError`). Features read sections of their own."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    #: The issuer identifier (RFC 8414, RFC 9207): the URL where the sub-app is mounted.
    issuer: str = "http://127.0.0.1:8000/oauth"
    #: ``redis://``, ``rediss://`` or ``unix://`` URL; ``redis+cluster://host:port[,host:port...]`` for Redis
    #: Cluster, ``redis+sentinel://host:port[,host:port...]/service[/db]`` through Sentinel (see
    #: :mod:`asgi_oauth.store.redis`). Unset means the in-process memory store.
    redis_url: str | None = None
    #: Any other backend: ``package.module:factory``, a callable taking these settings and returning a
    #: :class:`~asgi_oauth.store.Store` (checked by the contract suite in :mod:`asgi_oauth.testing`).
    store: str | None = None
    #: Signing keys, newest first (comma-separated in the environment); older ones still verify.
    secret_key: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    #: The prefix of every Redis key this server writes; no braces, colons or whitespace.
    key_prefix: str = "oauth"
    #: Features switched on by name (:data:`asgi_oauth.features.BUILTIN`), comma-separated; each reads its own
    #: section of settings (``ASGI_OAUTH_<NAME>_...``). Ignored when ``OAuthServer(features=...)`` is given.
    features: Annotated[tuple[str, ...], NoDecode] = ()

    #: Seconds an access token is valid, at most a day.
    access_token_lifetime: float = Field(default=3600, gt=0, le=86400)
    #: Seconds a refresh token is valid, at least the access token's; each rotation issues a new one.
    refresh_token_lifetime: float = Field(default=14 * 86400, gt=0)
    #: Seconds after a rotation during which the replaced refresh token is accepted once more (a client that
    #: never got the answer retries); 0, the default, treats every reuse as theft (RFC 9700 section 4.14.2).
    refresh_token_grace_period: float = Field(default=0, ge=0, le=300)
    #: RFC 6749 section 4.1.2 recommends at most 10 minutes.
    authorization_code_lifetime: float = Field(default=60, gt=0, le=600)
    #: How long an "Allow" is remembered per user and client; 0 asks every time.
    consent_lifetime: float = Field(default=0, ge=0)
    #: How long a rendered consent form may be submitted.
    consent_form_lifetime: float = Field(default=600, gt=0, le=3600)

    #: Offer the resource owner password grant (needs a ``password_verifier``); RFC 9700 advises against it.
    enable_password_grant: bool = False
    #: Offer ``response_type=token`` (the implicit grant), which RFC 9700 advises against: tokens in URLs leak.
    enable_implicit_grant: bool = False
    #: Accept ``code_challenge_method=plain`` besides ``S256``, for clients that cannot hash.
    allow_plain_pkce: bool = False
    #: PKCE is always required of public clients; this extends it to confidential ones (RFC 9700 section 2.1.1).
    require_pkce: bool = True
    #: Allow ``http`` outside localhost (the issuer, an upstream OpenID provider): tokens then travel in clear.
    allow_insecure_transport: bool = False

    #: Resources (RFC 8707) tokens may be issued for, comma-separated in the environment; empty allows any
    #: absolute http(s) URI a client names. Kept in canonical form (lower-case scheme and host, no default
    #: port, no trailing slash).
    resources: Annotated[tuple[str, ...], NoDecode] = ()
    #: Accept Client ID Metadata Documents: an https ``client_id`` no store knows is fetched and describes a
    #: public client (MCP 2025-11-25). Off by default: it makes this server fetch URLs that clients name.
    enable_client_id_metadata_documents: bool = False

    #: Largest request body accepted, in bytes; a larger one is refused (413) before it is read whole.
    max_body_size: int = Field(default=64 * 1024, ge=1024)
    #: The realm named in ``WWW-Authenticate`` challenges.
    realm: str = "asgi_oauth"
    #: Where /authorize sends a browser without a signed-in user (a ``next`` parameter is appended).
    login_url: str = "/login"
    #: How long a worker trusts a client record it read from the store (0 disables the cache).
    #: Deleting a client takes up to this long to reach every worker.
    client_cache_ttl: float = Field(default=5.0, ge=0, le=300)
    #: Keep validated access tokens and client records in each worker's memory, trusted only while the worker's
    #: subscription to the revocation channel answers heartbeats (Redis stores; see "Validation from memory" in
    #: the documentation). With it, ``client_cache_ttl`` is not used: a deleted client is refused at once everywhere.
    validation_cache: bool = True
    #: Most access tokens (and, apart, client records) one worker keeps; the oldest are dropped first.
    validation_cache_size: int = Field(default=100_000, ge=1)
    #: Seconds an answered heartbeat keeps the cache trusted: the longest a revoked token can still be accepted
    #: by a worker whose subscription went silent, and about four heartbeats' time.
    validation_cache_lease: float = Field(default=0.25, ge=0.02, le=5.0)
    #: Tune the process's garbage collector once at start-up (:func:`asgi_oauth.gc_tuning.tune_gc`): freeze what
    #: the started server holds and collect the young generation less often, which keeps full collections out of
    #: the token endpoint's tail latency. Off leaves the collector as the host set it.
    tune_gc: bool = True
    #: Failed attempts allowed for one principal (user name or client id) from one place (address, or a
    #: known device) within ``rate_limit_window`` seconds before that pair answers 429; 0 switches all limits off.
    rate_limit_failures: int = Field(default=10, ge=0)
    #: Seconds of the sliding window of the per-pair and per-address counts of failed attempts.
    rate_limit_window: float = Field(default=300.0, gt=0)
    #: Failed attempts from one address for any principals within ``rate_limit_window`` (credential stuffing).
    rate_limit_address_failures: int = Field(default=100, gt=0)
    #: Failed attempts for one principal from places it never signed in from, within
    #: ``rate_limit_principal_window`` (guessing from many addresses); known places are not refused by it.
    rate_limit_principal_failures: int = Field(default=50, gt=0)
    #: Seconds of the sliding window of the per-principal count.
    rate_limit_principal_window: float = Field(default=3600.0, gt=0)
    #: How long a place where a principal signed in (its address, a browser's device cookie) stays known.
    known_device_lifetime: float = Field(default=30 * 86400, gt=0)
    #: RFC 7591 dynamic client registration at ``/register``; see "Dynamic client registration" in the documentation.
    enable_dynamic_registration: bool = False
    #: Registration requests (refused ones too) from one address within ``dynamic_registration_window``; 0: no limit.
    dynamic_registration_rate_limit: int = Field(default=20, ge=0)
    #: Seconds of the sliding window of the per-address registration count.
    dynamic_registration_window: float = Field(default=3600.0, gt=0)
    #: Most dynamically registered clients kept at once; past it registrations are refused, never existing clients.
    dynamic_client_limit: int = Field(default=10_000, ge=1)
    #: A dynamic client that completes no token request within this many seconds is deleted.
    dynamic_client_unused_lifetime: float = Field(default=86400.0, gt=0)
    #: Lifetime of a dynamic client's secret (RFC 7591 ``client_secret_expires_at``), and so of the client; 0 never.
    dynamic_client_secret_lifetime: int = Field(default=0, ge=0)
    #: The scopes a registration may ask for (space- or comma-separated); none: registered clients get no scope.
    dynamic_registration_scopes: Annotated[tuple[str, ...], NoDecode] = ()
    #: RFC 7591 initial access tokens (comma-separated); when set, ``/register`` needs one as a Bearer token.
    dynamic_registration_tokens: Annotated[tuple[SecretStr, ...], NoDecode] = ()

    #: RFC 8628 device authorization grant: ``/device_authorization``, the ``/device`` verification page and the
    #: device_code grant at ``/token``; the same as naming ``device`` in ``FEATURES``. Its own settings are
    #: ``ASGI_OAUTH_DEVICE_*`` (:class:`~asgi_oauth.features.device.DeviceSettings`); see "Device
    #: authorization grant (RFC 8628)" in the documentation.
    enable_device_authorization: bool = False

    @field_validator("dynamic_registration_scopes", mode="before")
    @classmethod
    def _split_scopes(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(dict.fromkeys(value.replace(",", " ").split()))
        return value

    @field_validator("dynamic_registration_scopes")
    @classmethod
    def _scopes_valid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for scope in value:
            if not _SCOPE_TOKEN.fullmatch(scope):
                raise ValueError(f"scope {scope!r} has characters not allowed by RFC 6749 section 3.3")
        return value

    @field_validator("dynamic_registration_tokens")
    @classmethod
    def _tokens_long_enough(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        # Only the per-address registration limit slows guessing, so a token must be unguessable by itself.
        if any(len(token.get_secret_value()) < 32 for token in value):
            raise ValueError("each token must be at least 32 characters")
        return value

    #: Seconds a Redis command may take before the request fails with 503 instead of hanging.
    redis_timeout: float = Field(default=2.0, gt=0)

    #: OpenID Connect: ``openid`` requests get an ID token, and ``/userinfo`` and ``/jwks`` are served; the
    #: same as naming ``oidc`` in ``FEATURES``. Needs the ``oidc`` extra (PyJWT with cryptography). Its own
    #: settings (``OIDC_SIGNING_KEYS``, ``ID_TOKEN_LIFETIME``...) are
    #: :class:`~asgi_oauth.features.oidc.OIDCSettings`.
    enable_oidc: bool = False

    #: Liveness and readiness probes under the mount (readiness answers 503 while the store is unreachable);
    #: an empty path switches one off.
    health_live_path: str = "/health/live"
    #: The readiness probe under the mount: 503 while the store is unreachable; an empty path switches it off.
    health_ready_path: str = "/health/ready"
    #: Serve Prometheus metrics at ``metrics_path`` under the mount (needs the ``metrics`` extra).
    metrics: bool = False
    #: Where the metrics are served, under the mount.
    metrics_path: str = "/metrics"

    @field_validator("health_live_path", "health_ready_path", "metrics_path")
    @classmethod
    def _path_under_mount(cls, value: str) -> str:
        if value and (not value.startswith("/") or any(c in value for c in "?# \t")):
            raise ValueError("must be a path starting with / (no query or fragment), or empty to switch it off")
        return value

    _signing_keys: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("secret_key", "resources", "dynamic_registration_tokens", "features", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        """Lists arrive comma-separated from the environment."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("resources")
    @classmethod
    def _canonical_resources(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        canonical = []
        for uri in value:
            try:
                canonical.append(canonical_resource(uri))
            except ValueError:
                raise ValueError(f"{uri!r} is not an absolute URI without a fragment (RFC 8707)") from None
        return tuple(canonical)

    @field_validator("secret_key")
    @classmethod
    def _keys_long_enough(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for key in value:
            if len(key.get_secret_value()) < 32:
                raise ValueError(
                    "each key must be at least 32 characters; make one with: "
                    "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
                )
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer_is_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://auth.example.com/oauth")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment (RFC 8414 section 2)")
        return value.rstrip("/")

    @field_validator("key_prefix")
    @classmethod
    def _prefix_plain(cls, value: str) -> str:
        if not value or any(c in value for c in "{}: \t\r\n"):
            raise ValueError("must be non-empty without braces, colons or whitespace")
        return value

    @field_validator("store")
    @classmethod
    def _store_factory_path(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        module, sep, name = value.partition(":")
        if not sep or not module or not name.isidentifier():
            raise ValueError("must name a factory as package.module:function, e.g. mybackend.store:from_settings")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parts = urlsplit(value)
        if parts.scheme not in _REDIS_SCHEMES:
            raise ValueError(f"must start with {', '.join(f'{s}://' for s in _REDIS_SCHEMES)}")
        if parts.scheme.endswith("+sentinel") and not parts.path.strip("/"):
            raise ValueError("must name the master's service: redis+sentinel://host:26379[,host:port...]/service[/db]")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OAuthSettings:
        if self.store and self.redis_url:
            raise ValueError("store: set either ASGI_OAUTH_STORE or ASGI_OAUTH_REDIS_URL, not both")
        host = urlsplit(self.issuer).hostname
        if urlsplit(self.issuer).scheme == "http" and not self.allow_insecure_transport and not is_loopback(host):
            raise ValueError(
                f"issuer: http is only allowed on localhost; use https or set {ENV_PREFIX}ALLOW_INSECURE_TRANSPORT=1"
            )
        if self.refresh_token_lifetime < self.access_token_lifetime:
            raise ValueError(
                f"refresh_token_lifetime: must be at least {ENV_PREFIX}ACCESS_TOKEN_LIFETIME "
                f"({self.refresh_token_lifetime:g} < {self.access_token_lifetime:g})"
            )
        for wider in ("rate_limit_address_failures", "rate_limit_principal_failures"):
            if self.rate_limit_failures and getattr(self, wider) < self.rate_limit_failures:
                # Else a wider count would fill before one pair's, refusing others for one pair's mistakes.
                minimum = f"{ENV_PREFIX}RATE_LIMIT_FAILURES ({self.rate_limit_failures})"
                raise ValueError(f"{wider}: must be at least {minimum}")
        if self.metrics and not self.metrics_path:
            raise ValueError(f"metrics_path: must not be empty while {ENV_PREFIX}METRICS is on")
        keys = tuple(k.get_secret_value() for k in self.secret_key)
        if not keys:
            logger.warning("%s", EPHEMERAL_KEY_WARNING)
            keys = (secrets.token_urlsafe(32),)
        self._signing_keys = keys
        return self

    @property
    def signing_keys(self) -> tuple[str, ...]:
        """Keys for itsdangerous, newest first; an ephemeral one when none was configured."""
        return self._signing_keys

    @property
    def switched_features(self) -> tuple[str, ...]:
        """The built-in features their switches from before features turn on (:data:`FEATURE_SWITCHES`)."""
        return tuple(name for name, switch in FEATURE_SWITCHES.items() if getattr(self, switch))

    @property
    def named_features(self) -> tuple[str, ...]:
        """The features these settings switch on by name: ``FEATURES``, then :attr:`switched_features`."""
        return (*self.features, *(name for name in self.switched_features if name not in self.features))

    @property
    def ephemeral_key(self) -> bool:
        return not self.secret_key


def load_settings(**overrides: Any) -> OAuthSettings:
    """Build settings, turning validation errors into one :class:`SettingsError` naming the variables (unknown
    ones are warned about by the server, :func:`asgi_oauth.environment.warn_unknown_variables`)."""
    return load_section(OAuthSettings, **overrides)


_Section = TypeVar("_Section", bound=BaseSettings)


def load_section(model: type[_Section], **overrides: Any) -> _Section:
    """Build ``model`` (the core's settings, or a feature's section) from the environment and ``overrides``; a
    validation error becomes one :class:`SettingsError` naming each variable (``ASGI_OAUTH_<SECTION>_<FIELD>``)."""
    prefix = str(model.model_config.get("env_prefix", ENV_PREFIX))
    try:
        return model(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else ""
            message = err["msg"].removeprefix("Value error, ")
            if not name and ":" in message:
                name, _, message = message.partition(": ")
                name = name.upper()
            problems.append(f"{prefix}{name}: {message}" if name else message)
        raise SettingsError("; ".join(problems)) from None
