"""The optional dependencies (pip extras): what each one installs, and the one message saying how to get it.

A plain ``pip install asgi-oauth`` brings only the core's dependencies. What needs more says so when it is
used or switched on, naming the extra and the command both for an installed package and for a clone of
the repository (whose README installs into ``.venv``), instead of failing with a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .settings import OAuthSettings

#: Each extra's importable modules, with the distribution that provides each (what pip would install).
EXTRAS: Mapping[str, Mapping[str, str]] = {
    "oidc": {"jwt": "PyJWT", "cryptography": "cryptography"},
    "assertions": {"jwt": "PyJWT", "cryptography": "cryptography"},
    "dpop": {"jwt": "PyJWT", "cryptography": "cryptography"},
    "remote": {"httpx": "httpx"},
    "metrics": {"prometheus_client": "prometheus-client"},
}

#: Settings that switch on something needing an extra, by field name. Client ID Metadata Documents need
#: httpx only for the default fetcher; a server given its own ``document_fetcher`` does not.
SETTING_EXTRAS: Mapping[str, str] = {
    "enable_oidc": "oidc",
    "metrics": "metrics",
    "enable_client_id_metadata_documents": "remote",
}


#: Built-in features named in ``FEATURES`` that need an extra, by name.
FEATURE_EXTRAS: Mapping[str, str] = {
    "oidc": "oidc",
    "private_key_jwt": "assertions",
    "jwt_bearer": "assertions",
    "dpop": "dpop",
}


class MissingExtra(ModuleNotFoundError):
    """Something needs an extra that is not installed; the message names it and how to install it."""


def install_command(*extras: str) -> str:
    """How to install ``extras``: from the package index, and in a clone of the repository."""
    joined = ",".join(extras)
    return f"pip install 'asgi-oauth[{joined}]' (in a clone of the repository: .venv/bin/pip install '.[{joined}]')"


def missing_modules(*extras: str) -> list[str]:
    """The modules of ``extras`` that cannot be imported."""
    return [module for extra in extras for module in EXTRAS[extra] if importlib.util.find_spec(module) is None]


def extra_of(module: str) -> str | None:
    """The extra that provides top-level ``module``, if any."""
    return next((extra for extra, modules in EXTRAS.items() if module in modules), None)


def missing(what: str, *extras: str) -> MissingExtra | None:
    """The error to raise when ``what`` is used without ``extras`` installed; ``None`` when they are."""
    absent = missing_modules(*extras)
    if not absent:
        return None
    names = [EXTRAS[extra][module] for extra in extras for module in EXTRAS[extra] if module in absent]
    noun = f"the {extras[0]} extra" if len(extras) == 1 else f"the {_and(extras)} extras"
    verb = "is" if len(names) == 1 else "are"
    message = f"{what} needs {noun} ({_and(names)} {verb} not installed): {install_command(*extras)}"
    return MissingExtra(message, name=absent[0])


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def require(what: str, *extras: str) -> None:
    """Raise :class:`MissingExtra` unless ``extras`` are installed."""
    error = missing(what, *extras)
    if error is not None:
        raise error


def check_settings(settings: OAuthSettings, *, own_fetcher: bool = False) -> None:
    """Raise :class:`MissingExtra`, naming the variable, if ``settings`` switch on something not installed.

    Called before anything is started or printed, so ``asgi-oauth serve`` stops with this one line.
    """
    from .settings import ENV_PREFIX

    for field, extra in SETTING_EXTRAS.items():
        if own_fetcher and field == "enable_client_id_metadata_documents":
            continue
        if getattr(settings, field):
            require(f"{ENV_PREFIX}{field.upper()}", extra)
    for name in settings.features:
        if name in FEATURE_EXTRAS:
            require(f"{ENV_PREFIX}FEATURES={name}", FEATURE_EXTRAS[name])


def placeholder(name: str, error: MissingExtra) -> type:
    """A stand-in for the public class ``name`` whose module needs a missing extra.

    Importing it works (``from asgi_oauth import *``, ``hasattr``, ``inspect.getmembers``); calling it, or
    reading one of its public attributes, raises a :class:`MissingExtra` like ``error``.
    """
    message, module = str(error), error.name

    class _Absent(type):
        def __getattr__(cls, attribute: str) -> object:
            if attribute.startswith("_"):  # what introspection asks for (inspect, typing, pickle, help)
                raise AttributeError(attribute)
            raise MissingExtra(message, name=module)

    def __init__(self: object, *args: object, **kwargs: object) -> None:
        raise MissingExtra(message, name=module)

    return _Absent(name, (), {"__init__": __init__, "__module__": "asgi_oauth", "__doc__": message})
