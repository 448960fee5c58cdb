"""A faster ``__init__`` for frozen, slotted dataclasses built on every request.

A frozen dataclass's generated ``__init__`` sets each field with ``object.__setattr__(self, name, value)``, which
finds the attribute by name every time. With slots, each field already has a member descriptor, and calling its
``__set__`` directly does the same store without the lookup: ``AccessToken(...)`` went from 617 to 363 ns
(benchmarks/PROFILE.md, "Issuance: the collector and the per-request objects"). The records stay frozen: assigning
to a field still raises.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
from typing import Any, TypeVar

T = TypeVar("T")


class _Factory:
    """Stands in the signature for a field whose default comes from a factory, as dataclasses' own does."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def slot_init(cls: type[T]) -> type[T]:
    """Give ``cls`` (a ``@dataclass(frozen=True, slots=True)``) an ``__init__`` that sets slots directly.

    Same parameters, defaults and signature as the one dataclasses wrote. Refuses what it does not copy
    (``__post_init__``, ``InitVar``, keyword-only or ``init=False`` fields) rather than behave differently.
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"slot_init needs a @dataclass(frozen=True, slots=True), not {cls.__name__}")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has __post_init__, which slot_init would skip")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if any(not f.init or f.kw_only for f in fields) or len(fields) != len(inspect.signature(cls).parameters):
        raise TypeError(f"{cls.__name__} has fields slot_init does not handle (init=False, kw_only or InitVar)")
    namespace: dict[str, Any] = {"_FACTORY": _FACTORY}
    parameters, body = [], []
    for f in fields:
        slot = inspect.getattr_static(cls, f.name)  # a base class's slot for an inherited field
        if not isinstance(slot, types.MemberDescriptorType):
            raise TypeError(f"{cls.__name__}.{f.name} is not a slot")
        namespace[f"_set_{f.name}"] = slot.__set__
        if f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            parameters.append(f"{f.name}=_FACTORY")
            body.append(f"    if {f.name} is _FACTORY:\n        {f.name} = _factory_{f.name}()")
        elif f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            parameters.append(f"{f.name}=_default_{f.name}")
        else:
            parameters.append(f.name)
        body.append(f"    _set_{f.name}(self, {f.name})")
    source = f"def __init__(self, {', '.join(parameters)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    code = compile(source, f"<slot_init {cls.__qualname__}>", "exec")
    exec(code, namespace)  # noqa: S102 - the source is built above from the class's own field names
    init = namespace["__init__"]
    original = cls.__dict__["__init__"]
    init.__qualname__ = original.__qualname__
    init.__module__ = original.__module__
    init.__annotations__ = dict(original.__annotations__)
    init.__signature__ = inspect.signature(original)
    init.__doc__ = original.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
