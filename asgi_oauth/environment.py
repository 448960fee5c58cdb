"""The environment's ``ASGI_OAUTH_*`` variables: which ones something reads (the core's settings, the built-in
features' sections, a few read elsewhere) and a warning, with the closest name, for each that nothing reads
(pydantic-settings would ignore it silently). Above the settings and the features, since it knows both."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping

from .features import BUILTIN, section_variables
from .settings import ENV_PREFIX, OAuthSettings

logger = logging.getLogger("asgi_oauth")


#: ``ASGI_OAUTH_*`` variables that are not settings but are read elsewhere: by the demo
#: (``asgi-oauth serve``) and by this project's test suite.
OTHER_VARIABLES = frozenset({f"{ENV_PREFIX}DEMO_USERS", f"{ENV_PREFIX}TEST_REDIS_URL", f"{ENV_PREFIX}FUZZ_SCALE"})
_warned: set[str] = set()


def unknown_variables(environ: Mapping[str, str] = os.environ) -> list[str]:
    """``ASGI_OAUTH_*`` variables in ``environ`` that nothing reads: pydantic-settings ignores them silently."""
    known = _known_variables()
    # A third-party feature's section (ASGI_OAUTH_<NAME>_*) is read, and checked, by the feature once switched on.
    switched_on = {v for k, v in environ.items() if k.upper() == f"{ENV_PREFIX}FEATURES"}
    names = [name.strip() for v in switched_on for name in v.split(",") if name.strip()]
    sections = tuple(f"{ENV_PREFIX}{name.upper()}_" for name in names)
    # Variable names are matched case-insensitively, as pydantic-settings reads them.
    return sorted(
        name
        for name in environ
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known and not name.upper().startswith(sections)
    )


def _known_variables() -> set[str]:
    """The core's variables, the built-in features' sections' and :data:`OTHER_VARIABLES`."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in OAuthSettings.model_fields} | OTHER_VARIABLES
    for feature in BUILTIN:
        known |= section_variables(feature)
    return known


def unknown_variable_warning(name: str) -> str:
    """``"<name> is not a setting; did you mean <closest>?"``, without the question when nothing is close."""
    # Compared without the prefix, which every candidate shares and which would make anything look close.
    known = [variable.removeprefix(ENV_PREFIX) for variable in sorted(_known_variables())]
    close = difflib.get_close_matches(name.upper().removeprefix(ENV_PREFIX), known, n=1, cutoff=0.7)
    message = f"{name} is not a setting and is ignored"
    if close:
        return f"{message}; did you mean {ENV_PREFIX}{close[0]}?"
    return f"{message} (see the settings reference in the documentation)"


def warn_unknown_variables() -> None:
    """Log each unknown variable once per process (apps may build several servers)."""
    for name in unknown_variables():
        if name not in _warned:
            _warned.add(name)
            logger.warning("%s", unknown_variable_warning(name))
