"""How the Redis store lays out its records and keys: the one place Python and the Lua scripts both read.

Records are JSON arrays ``[version, field, field, ...]``, not objects: field names in every access token
would cost 16 bytes of Redis memory each (it moves the value into the next allocator size class), and
access tokens are most of what the store holds. The names live here instead. Python encodes and decodes
through :class:`Layout`; each Lua script is prepended with the same layouts as tables of positions
(``ACCESS.client_id``) and reads a field with ``field(record, ACCESS.client_id)``, never a bare index.

Versions: fields are only ever appended, and a record without its trailing fields decodes them as
``None``. Records written before versioning (arrays starting with a string, not a version number) are
read with their fields one position earlier, so tokens issued by an older release keep working.

Internal to :mod:`asgi_oauth.store.redis`; not a public API.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, NamedTuple

#: The version written into every new record.
VERSION = 1


@dataclass(frozen=True, slots=True)
class Layout:
    """The named fields of one kind of record, in their stored order."""

    name: str
    fields: tuple[str, ...]

    def encode(self, values: dict[str, Any]) -> str:
        row = [VERSION, *(values.get(f) for f in self.fields)]
        while len(row) > 1 and row[-1] is None:  # absent trailing fields are not stored
            row.pop()
        return json.dumps(row, separators=(",", ":"), ensure_ascii=False)

    def decode(self, raw: bytes | str) -> dict[str, Any]:
        row = json.loads(raw)
        values = row[1:] if row and isinstance(row[0], int) else row  # unversioned: written before VERSION 1
        return {name: values[i] if i < len(values) else None for i, name in enumerate(self.fields)}

    def lua(self) -> str:
        """A Lua table from field name to its 1-based position in a versioned record."""
        positions = ", ".join(f"{name} = {i + 2}" for i, name in enumerate(self.fields))
        return f"local {self.name} = {{{positions}}}\n"


ACCESS = Layout("ACCESS", ("client_id", "scope", "sub", "iat", "exp_ms", "username", "resource"))
FAMILY = Layout(
    "FAMILY",
    (
        "refresh_digest",
        "client_id",
        "scope",
        "sub",
        "iat",
        "exp_ms",
        "username",
        "previous_digest",
        "rotated_at_ms",
        "resource",
        "auth_time",
    ),
)
CODE = Layout(
    "CODE",
    (
        "client_id",
        "redirect_uri",
        "redirect_uri_sent",
        "scope",
        "sub",
        "exp_ms",
        "code_challenge",
        "code_challenge_method",
        "username",
        "resource",
        "nonce",
        "auth_time",
    ),
)

#: What a device authorization (RFC 8628) asks for; its changing state (status, user, interval, last poll) is
#: kept beside it in the same Redis hash, so a script updates one field without re-encoding the record.
DEVICE = Layout("DEVICE", ("client_id", "scope", "exp_ms", "resource"))

#: Prepended to every script: the layouts, and the one way a script reads a field.
LUA_PRELUDE = (
    "".join(layout.lua() for layout in (ACCESS, FAMILY, CODE, DEVICE))
    + """-- A field of a decoded record by its layout position; unversioned records hold it one place earlier.
local function field(record, position)
  local value
  if type(record[1]) == 'number' then value = record[position] else value = record[position - 1] end
  if value == cjson.null then return nil end
  return value
end
"""
)


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
        #: The OpenID provider's generated signing keys (one document, compare-and-set).
        self.signing_keys = f"{prefix}:signing-keys"

    def family(self, family_id: str) -> str:
        return f"{self.prefix}:{{{family_id}}}:f"

    def index(self, family_id: str) -> str:
        """The family's access-token digests (a sorted set by expiry)."""
        return f"{self.prefix}:{{{family_id}}}:x"

    def access_prefix(self, family_id: str) -> str:
        return f"{self.prefix}:{{{family_id}}}:a:"

    def access(self, family_id: str, digest: str) -> str:
        return self.access_prefix(family_id) + digest

    def spent(self, family_id: str, digest: str) -> str:
        """Marker of a refresh token rotated away."""
        return f"{self.prefix}:{{{family_id}}}:s:{digest}"

    def code(self, family_id: str, digest: str) -> str:
        return f"{self.prefix}:{{{family_id}}}:c:{digest}"

    def device(self, family_id: str, digest: str) -> str:
        """A device authorization (a hash: the record and its state), under the device code's family."""
        return f"{self.prefix}:{{{family_id}}}:d:{digest}"

    def user_code(self, digest: str) -> str:
        """The user code index: names the family and device digest of the grant a user code belongs to."""
        return f"{self.prefix}:usercode:{digest}"

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
        """What a user holds: a sorted set of grant members (:func:`grant_member`) scored by expiry (ms).

        Its own hash tag (a digest: subjects are anyone's text): on a Cluster it lives apart from the families it
        lists, so revoking a user there is one step per family (see :mod:`.redis`)."""
        return f"{self.prefix}:{{u:{hashlib.sha256(sub.encode()).hexdigest()[:32]}}}:g"

    def client_grants(self, client_id: str) -> str:
        """What a client holds, as :meth:`user_grants` for a user."""
        return f"{self.prefix}:{{c:{hashlib.sha256(client_id.encode()).hexdigest()[:32]}}}:g"

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
            tail(self.code(marker, "")),
            tail(self.device(marker, "")),
        )


class GrantKeyParts(NamedTuple):
    """The keys of family ``F`` are ``head + F + <tail>``; the access and code tails end where the digest goes."""

    head: str
    family: str
    listing: str  # the family's access-token index
    access: str
    code: str
    device: str


def grant_member(family_id: str, kind: str = "", digest: str = "") -> str:
    """An owner index's member: ``F`` (a family, or a code redemption's tokens), ``F:a:<digest>`` (a lone
    access token), ``F:c:<digest>`` (an authorization code not yet redeemed) or ``F:d:<digest>`` (a device
    authorization its user approved and the device has not yet redeemed). Family ids and digests are
    base64url, so ``:`` separates them unambiguously."""
    return f"{family_id}:{kind}:{digest}" if kind else family_id
