"""Scenarios: how to build each timed request, and the checks an app must pass before it is timed.

A fast wrong answer is worthless, so :func:`prepare` first proves the app really works through its own
endpoints: an issued token must introspect active (and a junk one inactive), a protected route must accept
the token and refuse junk with 401, a code or refresh token must work once and fail on replay. Only then
does it return the :class:`Workload` the runner times. The same checks run in-process and over HTTP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qsl

from .apps import AppSpec
from .apps.common import SEED_PATH, BenchConfig
from .messages import FORM, Req, Resp, Transport, bearer_get, form_post

JUNK_TOKEN = "not-a-real-token-" + "x" * 26


class VerifyError(Exception):
    """The app gave a wrong answer; the message says which and is printed instead of timing it."""


@dataclass(frozen=True, slots=True)
class Workload:
    """What to time: ``template`` sent as is, or, with ``seed_kind``, once per freshly seeded body."""

    template: Req
    seed_kind: str | None = None


def _expect(resp: Resp, status: int, what: str) -> dict[str, object]:
    if resp.status != status:
        raise VerifyError(f"{what}: expected HTTP {status}, got {resp.short()}")
    if not resp.body:
        return {}
    try:
        data = resp.json()
    except ValueError:
        raise VerifyError(f"{what}: body is not JSON: {resp.short()}") from None
    if not isinstance(data, dict):
        raise VerifyError(f"{what}: body is not a JSON object: {resp.short()}")
    return data


def _token_answer(data: dict[str, object], what: str, *, refresh: bool) -> str:
    token = data.get("access_token")
    if not isinstance(token, str) or len(token) < 20:
        raise VerifyError(f"{what}: no usable access_token in {data}")
    if str(data.get("token_type", "")).lower() != "bearer":
        raise VerifyError(f"{what}: token_type is {data.get('token_type')!r}, not Bearer")
    if not isinstance(data.get("expires_in"), int) or int(str(data["expires_in"])) <= 0:
        raise VerifyError(f"{what}: expires_in missing or not a positive integer: {data.get('expires_in')!r}")
    if refresh and not isinstance(data.get("refresh_token"), str):
        raise VerifyError(f"{what}: no refresh_token in {data}")
    return token


def cc_request(spec: AppSpec, config: BenchConfig) -> Req:
    """A client_credentials token request with HTTP Basic client authentication."""
    params = {"grant_type": "client_credentials", "scope": "read"}
    return form_post(spec.token_path, params, auth=config.auth)


class Checker:
    """Scenario checks for one app, through one transport."""

    def __init__(self, spec: AppSpec, transport: Transport, config: BenchConfig) -> None:
        self.spec = spec
        self.t = transport
        self.config = config

    # -- requests ----------------------------------------------------------------------------------
    def cc_request(self) -> Req:
        return cc_request(self.spec, self.config)

    def introspect_request(self, token: str) -> Req:
        assert self.spec.introspect_path is not None
        params = {"token": token, "token_type_hint": "access_token"}
        return form_post(self.spec.introspect_path, params, auth=self.config.auth)

    def token_template(self) -> Req:
        return Req("POST", self.spec.token_path, (("content-type", FORM), ("authorization", self.config.auth)))

    async def seed(self, kind: str, n: int) -> list[bytes]:
        resp = await self.t.send(form_post(SEED_PATH, {"kind": kind, "n": str(n)}))
        data = _expect(resp, 200, f"seeding {n} {kind} credentials")
        bodies = data.get("bodies")
        if not isinstance(bodies, list) or len(bodies) != n:
            raise VerifyError(f"seeding {kind}: expected {n} bodies, got {resp.short()}")
        return [str(b).encode() for b in bodies]

    # -- checks ------------------------------------------------------------------------------------
    async def issue(self) -> str:
        data = _expect(await self.t.send(self.cc_request()), 200, "client_credentials token request")
        return _token_answer(data, "client_credentials token request", refresh=False)

    async def check_active(self, token: str, what: str) -> None:
        """The token must be accepted (introspection if the app has it, else its protected route)."""
        if self.spec.introspect_path is not None:
            data = _expect(await self.t.send(self.introspect_request(token)), 200, f"introspecting {what}")
            if data.get("active") is not True:
                raise VerifyError(f"{what} does not introspect active: {data}")
            if data.get("client_id") != self.config.client_id:
                raise VerifyError(f"{what} introspects with client_id {data.get('client_id')!r}")
        elif self.spec.protected_path is not None:
            await self.check_protected(token, what)
        else:
            raise VerifyError("the app has neither introspection nor a protected route to check tokens with")

    async def check_junk_inactive(self) -> None:
        if self.spec.introspect_path is not None:
            data = _expect(await self.t.send(self.introspect_request(JUNK_TOKEN)), 200, "introspecting junk")
            if data.get("active") is not False:
                raise VerifyError(f"a junk token introspects as {data}, not inactive")

    async def check_protected(self, token: str, what: str) -> None:
        assert self.spec.protected_path is not None
        data = _expect(await self.t.send(bearer_get(self.spec.protected_path, token)), 200, f"{what} on the route")
        if data.get("client_id") != self.config.client_id:
            raise VerifyError(f"protected route answered {data} for {what}, without the client_id")
        junk = await self.t.send(bearer_get(self.spec.protected_path, JUNK_TOKEN))
        if junk.status != 401:
            raise VerifyError(f"protected route accepted or mishandled a junk token: {junk.short()}")
        bare = await self.t.send(Req("GET", self.spec.protected_path))
        if bare.status != 401:
            raise VerifyError(f"protected route without a token answered {bare.short()}, not 401")

    async def check_single_use(self, body: bytes, what: str) -> dict[str, object]:
        """Spend ``body`` once (must succeed, and its token must work), then replay it (must fail)."""
        req = self.token_template().with_body(body)
        data = _expect(await self.t.send(req), 200, what)
        token = _token_answer(data, what, refresh=True)
        await self.check_active(token, f"the token from {what}")
        replay = await self.t.send(req)
        if replay.status != 400 or _error_of(replay) != "invalid_grant":
            raise VerifyError(f"replaying {what} answered {replay.short()}, not 400 invalid_grant")
        return data


def _error_of(resp: Resp) -> str | None:
    try:
        data = json.loads(resp.body)
    except ValueError:
        return None
    return data.get("error") if isinstance(data, dict) else None


async def prepare(spec: AppSpec, scenario: str, transport: Transport, config: BenchConfig) -> Workload:
    """Verify ``spec`` answers ``scenario`` correctly, then return what to time. Raises VerifyError."""
    c = Checker(spec, transport, config)
    if scenario == "json":
        data = _expect(await transport.send(Req("GET", "/json")), 200, "constant route")
        if data != {"ok": True}:
            raise VerifyError(f"constant route answered {data}")
        return Workload(Req("GET", "/json"))
    if scenario in ("set", "get"):
        data = _expect(await transport.send(Req("POST", "/set")), 200, "SET route")
        token = _token_answer(data, "SET route", refresh=False)
        got = _expect(await transport.send(bearer_get("/get", token)), 200, "GET route with the SET token")
        if got.get("active") is not True:
            raise VerifyError(f"GET route did not find the key the SET route wrote: {got}")
        if (await transport.send(bearer_get("/get", JUNK_TOKEN))).status != 404:
            raise VerifyError("GET route found a key that was never written")
        return Workload(Req("POST", "/set") if scenario == "set" else bearer_get("/get", token))

    if scenario == "cc_token":
        await c.check_junk_inactive()
        await c.check_active(await c.issue(), "a client_credentials token")
        return Workload(c.cc_request())
    if scenario == "introspect":
        await c.check_junk_inactive()
        token = await c.issue()
        await c.check_active(token, "a client_credentials token")
        return Workload(c.introspect_request(token))
    if scenario == "protected":
        token = await c.issue()
        await c.check_protected(token, "a client_credentials token")
        return Workload(bearer_get(str(spec.protected_path), token))
    if scenario == "code_exchange":
        (body,) = await c.seed("code", 1)
        await c.check_single_use(body, "an authorization-code exchange")
        return Workload(c.token_template(), seed_kind="code")
    if scenario == "refresh":
        (body,) = await c.seed("refresh", 1)
        old = dict(parse_qsl(body.decode()))["refresh_token"]
        data = await c.check_single_use(body, "a refresh-token rotation")
        if data.get("refresh_token") == old:
            raise VerifyError("refresh did not rotate: the same refresh token came back")
        return Workload(c.token_template(), seed_kind="refresh")
    raise VerifyError(f"unknown scenario {scenario!r}")


async def seed_bodies(spec: AppSpec, transport: Transport, config: BenchConfig, kind: str, n: int) -> list[bytes]:
    return await Checker(spec, transport, config).seed(kind, n)
