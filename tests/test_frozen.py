"""slot_init: the same construction as a frozen, slotted dataclass's own ``__init__``, or a refusal."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import InitVar, dataclass, field
from typing import Any

import pytest

from asgi_oauth.frozen import slot_init
from asgi_oauth.models import AccessToken, TokenFamily
from asgi_oauth.protocol.grants import Minted, TokenResponse
from asgi_oauth.web.endpoints import EndpointRequest, EndpointResponse


def pair() -> tuple[type[Any], type[Any]]:
    """The same class twice: once as dataclasses builds it, once with slot_init."""

    def build() -> type[Any]:
        @dataclass(frozen=True, slots=True)
        class Base:
            a: str
            b: int = 3

        @dataclass(frozen=True, slots=True)
        class Record(Base):
            c: list[str] = field(default_factory=list)
            d: str | None = None

        return Record

    return build(), slot_init(build())


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [(("x",), {}), (("x", 1, ["y"], "z"), {}), ((), {"a": "x", "d": "z"}), (("x",), {"c": ["q"], "b": 0})],
)
def test_builds_the_same_record_as_the_dataclass_init(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    plain, fast = pair()
    made, expected = fast(*args, **kwargs), plain(*args, **kwargs)
    assert dataclasses.astuple(made) == dataclasses.astuple(expected)
    assert repr(made).replace(fast.__qualname__, plain.__qualname__) == repr(expected)
    assert inspect.signature(fast) == inspect.signature(plain)
    assert fast.__init__.__code__.co_filename.startswith("<slot_init")


def test_each_record_gets_its_own_default_from_a_factory() -> None:
    _, fast = pair()
    first, second = fast("x"), fast("y")
    first.c.append("changed")
    assert second.c == []


def test_records_stay_frozen_and_comparable() -> None:
    _, fast = pair()
    made = fast("x", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.a = "y"
    assert made == fast("x", 1) and made != fast("x", 2)
    assert dataclasses.replace(made, b=5) == fast("x", 5)


@pytest.mark.parametrize(("args", "kwargs"), [((), {}), (("x",), {"nope": 1}), (("x", 1, [], None, "extra"), {})])
def test_wrong_arguments_raise_type_error_as_before(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    plain, fast = pair()
    for cls in (plain, fast):
        with pytest.raises(TypeError):
            cls(*args, **kwargs)


def refused() -> list[type[Any]]:
    @dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, slots=True)
    class KeywordOnly:
        a: int = field(kw_only=True)

    @dataclass(frozen=True, slots=True)
    class NotInit:
        a: int = field(init=False, default=1)

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        a: int
        b: InitVar[int] = 0

    class NotADataclass:
        pass

    return [NotFrozen, NoSlots, PostInit, KeywordOnly, NotInit, WithInitVar, NotADataclass]


@pytest.mark.parametrize("cls", refused(), ids=lambda cls: cls.__name__)
def test_refuses_what_it_would_not_copy(cls: type[Any]) -> None:
    with pytest.raises(TypeError, match=cls.__name__):
        slot_init(cls)


@pytest.mark.parametrize("cls", [AccessToken, TokenFamily, TokenResponse, Minted, EndpointRequest, EndpointResponse])
def test_the_projects_request_records_use_it(cls: type[Any]) -> None:
    assert cls.__init__.__code__.co_filename == f"<slot_init {cls.__qualname__}>"
