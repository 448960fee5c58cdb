"""How the Redis store lays out its records and keys: the one place Python and the Lua scripts both read.

Records are JSON arrays ``[version, field, field, ...]``, not objects: field names in every access token
would cost 16 bytes of Redis memory each (it moves the value into the next allocator size class), and
access tokens are most of what the store holds. The names live here instead. Python encodes and decodes
through :class:`Layout`; each Lua script is prepended with the same layouts as tables of positions
(``ACCESS.client_id``) and reads a field with ``field(record, ACCESS.client_id)``, never a bare index.

Every layout and its codec are derived from the record's dataclass (:class:`ArrayRecord`): the fields in
their declared order, each converted by the codec its type gets (:func:`field_codec`). A field whose type
has no codec fails here, at import, never by being stored as null; a feature's data goes in the records'
``extra`` field, stored as one encoded string the scripts never read.

Versions: fields are only ever appended, and a record without its trailing fields decodes them as
``None``. Records written before versioning (arrays starting with a string, not a version number) are
read with their fields one position earlier, so tokens issued by an older release keep working.

Read by :mod:`asgi_oauth.store.redis` and by features' Redis parts (:class:`ArrayRecord` for their records,
:func:`lua_prelude` for their scripts' layouts); not an API for applications.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import operator
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, NamedTuple, TypeVar, Union, get_args, get_origin, get_type_hints

from ..compact_json import dumps
from ..models import AccessToken, AuthorizationCode, Client, TokenFamily

#: The version written into every new record.
VERSION = 1

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Layout:
    """The named fields of one kind of record, in their stored order."""

    name: str
    fields: tuple[str, ...]

    def encode(self, values: dict[str, Any]) -> str:
        row = [VERSION, *(values.get(f) for f in self.fields)]
        while len(row) > 1 and row[-1] is None:  # absent trailing fields are not stored
            row.pop()
        return dumps(row)

    def decode(self, raw: bytes | str) -> dict[str, Any]:
        values = _values(raw)
        return {name: values[i] if i < len(values) else None for i, name in enumerate(self.fields)}

    def lua(self) -> str:
        """A Lua table from field name to its 1-based position in a versioned record."""
        positions = ", ".join(f"{name} = {i + 2}" for i, name in enumerate(self.fields))
        return f"local {self.name} = {{{positions}}}\n"


def _values(raw: bytes | str) -> list[Any]:
    row = json.loads(raw)
    return row[1:] if row and isinstance(row[0], int) else row  # type: ignore[no-any-return]  # unversioned: pre-1


class FieldCodec(NamedTuple):
    """How one field is stored: a suffix to its stored name (``_ms``) and the conversions (``None``: as it is)."""

    suffix: str = ""
    encode: Callable[[Any], Any] | None = None
    decode: Callable[[Any], Any] | None = None


def _millis(value: float | None) -> int | None:
    return None if value is None else round(value * 1000)


def _seconds(value: int | None) -> float | None:
    return None if value is None else value / 1000


def _pack_extra(value: Mapping[str, Any]) -> str | None:
    return dumps(dict(value)) if value else None  # empty: nothing stored, so no record grows


def _unpack_extra(value: str | None) -> Mapping[str, Any]:
    return {} if value is None else dict(json.loads(value))


_PLAIN = FieldCodec()
_MILLIS = FieldCodec("_ms", _millis, _seconds)
_FLAG = FieldCodec("", int, bool)
_TUPLE = FieldCodec("", list, tuple)
_EXTRA = FieldCodec("", _pack_extra, _unpack_extra)


def field_codec(hint: Any, *, millis: bool) -> FieldCodec:
    """The codec of a field annotated ``hint``; ``millis`` stores floats (epoch times) as integer milliseconds.

    Raises :class:`TypeError` for a type it does not know, so a new field cannot be silently stored as null.
    """
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        (inner, *others) = [a for a in args if a is not type(None)]
        if others or len(args) != 2:
            raise TypeError(f"no codec for {hint!r}: only X | None unions are stored")
        codec = field_codec(inner, millis=millis)
        if codec is _FLAG or codec is _TUPLE:
            raise TypeError(f"no codec for {hint!r}")
        return codec
    if hint in (str, int) or (origin is Literal and all(isinstance(a, str) for a in args)):
        return _PLAIN
    if hint is float:
        return _MILLIS if millis else _PLAIN
    if hint is bool:
        return _FLAG
    if origin is tuple and args[1:] == (Ellipsis,) and (args[0] is str or get_origin(args[0]) is Literal):
        return _TUPLE
    if origin is Mapping and args == (str, Any):
        return _EXTRA
    raise TypeError(f"no codec for {hint!r}")


def _codecs(record: type, names: tuple[str, ...], *, millis: bool) -> tuple[FieldCodec, ...]:
    hints = get_type_hints(record)
    codecs = []
    for name in names:
        try:
            codecs.append(field_codec(hints[name], millis=millis))
        except TypeError as error:
            raise TypeError(f"{record.__name__}.{name}: {error}") from None
    return tuple(codecs)


class ArrayRecord(Generic[R]):
    """A record dataclass stored as a versioned JSON array: its :class:`Layout` and codec, both derived."""

    def __init__(self, name: str, record: type[R], only: tuple[str, ...] | None = None) -> None:
        self.record = record
        self.names = only if only is not None else tuple(f.name for f in dataclasses.fields(record))  # type: ignore[arg-type]
        self.codecs = _codecs(record, self.names, millis=True)
        stored = (field + codec.suffix for field, codec in zip(self.names, self.codecs, strict=True))
        self.layout = Layout(name, tuple(stored))
        self._whole = only is None
        self._decoders = tuple(codec.decode for codec in self.codecs)
        #: The stored row's positions (after the version) whose field has an encoder, with it: the rest go as they are.
        self._encoded = tuple((i, codec.encode) for i, codec in enumerate(self.codecs, 1) if codec.encode is not None)
        getter = operator.attrgetter(*self.names)
        self._values: Callable[[R], tuple[Any, ...]] = (
            getter if len(self.names) > 1 else lambda record: (getter(record),)
        )

    def pack(self, record: R) -> str:
        row: list[Any] = [VERSION, *self._values(record)]
        for i, encode in self._encoded:
            row[i] = encode(row[i])
        while len(row) > 1 and row[-1] is None:  # absent trailing fields are not stored
            row.pop()
        return dumps(row)

    def _decoded(self, raw: bytes | str) -> list[Any]:
        values = _values(raw)
        values += [None] * (len(self.names) - len(values))  # fields appended since the record was written
        return [v if decode is None else decode(v) for v, decode in zip(values, self._decoders, strict=False)]

    def unpack_fields(self, raw: bytes | str) -> dict[str, Any]:
        """The decoded fields by attribute name (for a layout holding only some of the record's fields)."""
        return dict(zip(self.names, self._decoded(raw), strict=True))

    def unpack(self, raw: bytes | str) -> R:
        if not self._whole:
            raise TypeError(f"{self.layout.name} holds only some fields of {self.record.__name__}")
        return self.record(*self._decoded(raw))  # every field, in declared order


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


class ObjectRecord(Generic[R]):
    """A record dataclass stored as a JSON object by field name (clients: few, read once and cached).

    Fields at their default are left out, so records stay readable by releases that predate a field;
    names this release does not know (written by a newer one) are ignored."""

    def __init__(self, record: type[R]) -> None:
        self.record = record
        fields = dataclasses.fields(record)  # type: ignore[arg-type]
        self.names = tuple(f.name for f in fields)
        self.codecs = dict(zip(self.names, _codecs(record, self.names, millis=False), strict=True))
        self._defaults = {f.name: _default(f) for f in fields if _default(f) is not dataclasses.MISSING}

    def pack(self, record: R) -> str:
        data: dict[str, Any] = {}
        for name, codec in self.codecs.items():
            value = getattr(record, name)
            if name in self._defaults and value == self._defaults[name]:
                continue
            data[name] = value if codec.encode is None else codec.encode(value)
        return dumps(data)

    def unpack(self, raw: bytes | str) -> R:
        data = json.loads(raw)
        decoded = {}
        for name, value in data.items():
            codec = self.codecs.get(name)
            if codec is not None:
                decoded[name] = value if codec.decode is None else codec.decode(value)
        return self.record(**decoded)


ACCESS_RECORD = ArrayRecord("ACCESS", AccessToken)
FAMILY_RECORD = ArrayRecord("FAMILY", TokenFamily)
CODE_RECORD = ArrayRecord("CODE", AuthorizationCode)
CLIENT_RECORD = ObjectRecord(Client)

ACCESS = ACCESS_RECORD.layout
FAMILY = FAMILY_RECORD.layout
CODE = CODE_RECORD.layout

#: The shared function every script reads fields with (after the layouts it reads).
_FIELD_FN = """-- A field of a decoded record by its layout position; unversioned records hold it one place earlier.
local function field(record, position)
  local value
  if type(record[1]) == 'number' then value = record[position] else value = record[position - 1] end
  if value == cjson.null then return nil end
  return value
end
"""


def lua_prelude(*more: Layout) -> str:
    """Prepended to every script: the core layouts and ``more`` (a feature's), and the one way to read a field."""
    return "".join(layout.lua() for layout in (ACCESS, FAMILY, CODE, *more)) + _FIELD_FN


LUA_PRELUDE = lua_prelude()


class Keys:
    """The key schema: ``prefix`` is the deployment's, ``F`` a token family id (the Cluster hash tag).

    The scripts never build keys themselves: they get every key, or a family's access-key prefix, from here.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.clients = f"{prefix}:clients"
        #: The pub/sub channel every write that ends a token's or a client's life announces it on, in the same
        #: atomic step: ``family:<id>``, ``access:<family id>:<digest>``, ``client:<id>``, ``user:<sub>``.
        self.revoked = f"{prefix}:revoked"

    def family(self, family_id: str) -> str:
        return f"{self.prefix}:{{{family_id}}}:f"

    def index(self, family_id: str) -> str:
        """The family's access-token digests (a sorted set by expiry)."""
        return f"{self.prefix}:{{{family_id}}}:x"

    def access_prefix(self, family_id: str) -> str:
        return f"{self.prefix}:{{{family_id}}}:a:"

    def access(self, family_id: str, digest: str) -> str:
        """An access token's record, named by :func:`access_name` of its digest."""
        return self.access_prefix(family_id) + access_name(digest)

    def access_as_before(self, family_id: str, digest: str) -> str:
        """Where releases before the shorter names kept the record: under the whole digest. Read (and deleted)
        beside :meth:`access` until the last such token has expired; never written."""
        return self.access_prefix(family_id) + digest

    def exchanged_prefix(self, family_id: str) -> str:
        return self.member(family_id, "e", "")

    def exchanged(self, family_id: str, digest: str) -> str:
        """The names of the tokens exchanged (RFC 8693) for this access token: ending it ends them."""
        return self.exchanged_prefix(family_id) + access_name(digest)

    def spent(self, family_id: str, digest: str) -> str:
        """Marker of a refresh token rotated away."""
        return f"{self.prefix}:{{{family_id}}}:s:{digest}"

    def code(self, family_id: str, digest: str) -> str:
        return self.member(family_id, "c", digest)

    def member(self, family_id: str, kind: str, digest: str) -> str:
        """The key an owner index's member ``F:<kind>:<digest>`` names (:func:`grant_member`), in the family's
        slot: revoking its owner deletes it. ``c`` is a code; a feature picks its own letter (the device flow
        ``d``); ``a`` (a lone access token) and the empty kind (a family) are ended otherwise."""
        return f"{self.prefix}:{{{family_id}}}:{kind}:{digest}"

    def consent(self, sub: str, client_id: str) -> str:
        return f"{self.prefix}:consent:{client_id}:{sub}"

    def document(self, client_id: str) -> str:
        """A client fetched from its metadata document; the URL is digested to bound the key's length."""
        return f"{self.prefix}:document:{hashlib.sha256(client_id.encode()).hexdigest()}"

    def once(self, name: str) -> str:
        return f"{self.prefix}:once:{name}"

    def limit(self, name: str) -> str:
        # One hash tag for every limit key: a check reads the proof and all buckets in one script, so on a
        # Cluster they must share a slot. Only failures and guessable-secret checks come here.
        return f"{self.prefix}:{{limits}}:{name}"

    def user_grants(self, sub: str) -> str:
        """What a user holds: a sorted set of grant members (:func:`grant_member`) scored by expiry (ms), split
        into buckets of at most 128 when it grows (``<this key>:<first characters of a family id>``, in the same
        slot; ``lua/listing_fn.lua``).

        Its own hash tag (a digest: subjects are anyone's text): on a Cluster it lives apart from the families it
        lists, so revoking a user there is one step per family (see :mod:`.redis`)."""
        return f"{self.prefix}:{{u:{_owner_tag(sub)}}}:g"

    def client_grants(self, client_id: str) -> str:
        """What a client holds, as :meth:`user_grants` for a user."""
        return f"{self.prefix}:{{c:{_owner_tag(client_id)}}}:g"

    def grant_parts(self) -> GrantKeyParts:
        """How a script that reads family ids from an owner index builds their keys: ``head .. F .. tail``."""
        marker = "\x00"
        head = self.family(marker).partition(marker)[0]

        def tail(key: str) -> str:
            return key.partition(marker)[2]

        return GrantKeyParts(
            head,
            tail(self.family(marker)),
            tail(self.index(marker)),
            tail(self.access_prefix(marker)),
            tail(self.member(marker, "", "")).removesuffix(":"),
        )


class GrantKeyParts(NamedTuple):
    """The keys of family ``F`` are ``head + F + <tail>``; the access tail ends where the digest goes, and a
    member of kind ``k`` is ``head + F + member + k + ":" + digest``."""

    head: str
    family: str
    listing: str  # the family's access-token index
    access: str
    member: str


#: Characters of an access token's digest that name it in keys and index members: 132 bits, so that the
#: record's key fits a 64-byte allocation with the default prefix (16 bytes less per token than the whole
#: 32-character digest; ``benchmarks/memory.py``). A name only has to tell one family's tokens apart and give
#: nothing of the token away, which 132 bits of a keyed hash do.
ACCESS_NAME_LENGTH = 22


def access_name(digest: str) -> str:
    """The name of the access token whose digest (:func:`~asgi_oauth.crypto.digest`) is ``digest``, in its
    record's key, its family's index and its owners' indexes; a revocation announcement names it the same way."""
    return digest[:ACCESS_NAME_LENGTH]


@functools.lru_cache(maxsize=4096)
def _owner_tag(name: str) -> str:
    """An owner index's hash tag: remembered, since every grant issued names its client's (and user's)."""
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def grant_member(family_id: str, kind: str = "", digest: str = "") -> str:
    """An owner index's member: ``F`` (a family, or a code redemption's tokens), ``F:a:<digest>`` (a lone
    access token), ``F:c:<digest>`` (an authorization code not yet redeemed) or ``F:<kind>:<digest>`` (what a
    feature lists, say an approved device authorization, at :meth:`Keys.member`). Family ids and digests are
    base64url, so ``:`` separates them unambiguously."""
    return f"{family_id}:{kind}:{digest}" if kind else family_id
