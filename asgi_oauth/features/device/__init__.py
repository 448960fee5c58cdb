"""The device authorization grant (RFC 8628) as a feature: ``/device_authorization``, the ``/device`` page where
users enter the code, and the ``device_code`` grant at ``/token``.

Switched on by ``OAuthServer(features=[DeviceAuthorization()])``, ``ASGI_OAUTH_FEATURES=device`` or
``ASGI_OAUTH_ENABLE_DEVICE_AUTHORIZATION``; its settings are ``ASGI_OAUTH_DEVICE_*`` (:class:`DeviceSettings`).
The page's look is ``DeviceAuthorization(renderer=...)``, a function from :class:`DeviceView` to HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.routing import request_response
from starlette.types import ASGIApp

from ...protocol.grants import GrantSpec, TokenResponse
from ...settings import load_section
from .. import Context, EndpointRequest, EndpointResponse, EndpointSpec, Feature, Incoming, part_for
from . import protocol
from .openapi import device_authorization_path
from .page import DeviceRenderer, DeviceVerification, DeviceView, default_device_page
from .protocol import DEVICE_CODE_GRANT
from .settings import DeviceSettings
from .store import DeviceFound, DeviceGrant, DevicePoll, DeviceStatus, DeviceStore, MemoryDevices

if TYPE_CHECKING:
    from ...models import Client
    from ...store.redis import RedisStore
    from ...web.app import OAuthServer

__all__ = [
    "DEVICE_CODE_GRANT",
    "DeviceAuthorization",
    "DeviceFound",
    "DeviceGrant",
    "DevicePoll",
    "DeviceRenderer",
    "DeviceSettings",
    "DeviceStatus",
    "DeviceStore",
    "DeviceView",
    "default_device_page",
]

_GRANT_ERRORS = ("authorization_pending", "slow_down", "expired_token", "access_denied")


class DeviceAuthorization(Feature):
    """The device authorization grant (RFC 8628), for devices that cannot show a browser: give it your own
    ``renderer`` for the ``/device`` page, or :class:`DeviceSettings` in code instead of the environment."""

    name = "device"
    store = DeviceStore
    settings_model = DeviceSettings

    def __init__(self, settings: DeviceSettings | None = None, *, renderer: DeviceRenderer = default_device_page):
        self.settings = settings if settings is not None else load_section(DeviceSettings)
        self.renderer = renderer
        self._devices: DeviceStore | None = None

    def store_part(self, server: OAuthServer) -> object:
        def redis(store: RedisStore) -> object:
            from .redis import RedisDevices

            return RedisDevices(store.parts())

        return part_for(server.store, DeviceStore, self.name, memory=MemoryDevices, redis=redis)

    def attach(self, server: OAuthServer, store: Any) -> None:
        self._devices = store

    @property
    def devices(self) -> DeviceStore:
        if self._devices is None:
            raise RuntimeError("DeviceAuthorization is not attached to a server")
        return self._devices

    def grants(self) -> Sequence[GrantSpec]:
        device_code = {"type": "string", "description": "RFC 8628: from the device authorization response"}
        return (GrantSpec(DEVICE_CODE_GRANT, self._poll, params={"device_code": device_code}, errors=_GRANT_ERRORS),)

    def endpoints(self) -> Sequence[EndpointSpec]:
        return (
            EndpointSpec(
                "/device_authorization",
                self._authorize,
                url_key="device_authorization_endpoint",
                openapi=device_authorization_path,
            ),
            # RFC 8628 section 3.3: where the user enters the code (a browser page, like /authorize).
            EndpointSpec("/device", app=self._page, methods=("GET", "POST")),
        )

    async def _authorize(self, server: OAuthServer, request: EndpointRequest) -> EndpointResponse:
        """RFC 8628 section 3.1: a device code, a user code and where the user enters it."""
        answer = await protocol.authorize_device(server.context, self.devices, self.settings, request)
        return EndpointResponse(200, answer)

    async def _poll(self, ctx: Context, client: Client, request: Incoming) -> TokenResponse:
        return await protocol.device_code(ctx, self.devices, client, request)

    def _page(self, server: OAuthServer) -> ASGIApp:
        """The verification page signs people in and describes scopes as ``/authorize`` does."""
        authorization = server.authorization
        page = DeviceVerification(
            server.context,
            self.devices,
            user_resolver=authorization.user_resolver,
            login_url=authorization.login_url,
            scope_descriptions=authorization.scope_descriptions,
            renderer=self.renderer,
            error_renderer=authorization.error_renderer,
        )
        return request_response(page)
