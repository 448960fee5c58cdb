"""Hostile inputs: parameter values, form bodies, headers and methods, as Hypothesis strategies.

Values mix the well-formed (so requests get past the first check and reach deeper code) with the
awkward: form-encoding and URL metacharacters, NUL and control characters, bidi and BOM characters,
non-ASCII digits, huge values, non-UTF-8 bytes, and real credentials mutated a little.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import TypeVar
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from ..web.helpers import basic
from . import harness
from .harness import CALLBACK, CALLBACK_2, LOOPBACK, Fuzz

FORM = "application/x-www-form-urlencoded"
# Characters that mean something to form encoding, URLs, headers, HTML or Unicode handling: controls, bidi
# overrides and right-to-left letters, combining marks, line separators, emoji, the last code point.
AWKWARD = (
    "\x00\x01\x08\x1c\x1f\x7f\x85\xa0\t\r\n &=+%;,#?/\\\"'<>:@[]{}()*!$~._-"
    "\u00e9\u00b2\u00b9\u0663\uff11\u2603\u202e\u200b\ufeff\u0130\u017f\uffff\U0001d518"
    "\u05d0\u0627\u0301\u2028\U0001f600\U0010ffff"
)
awkward_text = st.text(alphabet=st.sampled_from(AWKWARD) | st.characters(codec="utf-8"), max_size=24)
#: Long runs of one unit, cheap to generate: around and over the 64 KiB body limit, and megabytes beyond.
huge_text = st.builds(
    lambda unit, n: unit * n,
    st.sampled_from(["a", "\u00e9", "%", "%00", "read ", "&x=1", "\x00", "+", "\U0001f600"]),
    st.sampled_from([300, 4_000, 16_000, 40_000, 65_536, 70_000, 1_000_000]),
)
JUNK = ["", " ", "null", "undefined", "[]", "{}", "0", "-1", "true", "%", "%%", "%zz", "%ff", "%00", "\x00", "\u00b2"]


def values(*interesting: str, huge: bool = True) -> st.SearchStrategy[str]:
    """A parameter value: something meaningful for the parameter, junk, awkward text or (with ``huge``) a huge one."""
    meaningful = st.sampled_from(interesting) if interesting else st.sampled_from(JUNK)
    # Branches are picked about evenly, so huge values (each one a 413 or a slow parse) get one in eight.
    branches = [meaningful, meaningful, st.sampled_from(JUNK), awkward_text, awkward_text, st.text(max_size=12)]
    return st.one_of(*branches, st.text(max_size=12), huge_text) if huge else st.one_of(*branches)


def mutated(token: str) -> st.SearchStrategy[str]:
    """``token`` as sent, or with one character changed, cut short, extended, re-cased or padded."""
    positions = st.integers(0, max(0, len(token) - 1))
    return st.one_of(
        st.just(token),
        st.builds(lambda i, c: token[:i] + c + token[i + 1 :], positions, st.sampled_from("A_-.=+/~\x00 \u00e9")),
        st.builds(lambda i: token[:i], positions),
        st.builds(lambda extra: token + extra, st.sampled_from(["=", "==", " ", "\t", ".x", "%20", "\x00"])),
        st.just(token.swapcase()),
        st.just(f" {token} "),
        st.just(token.replace(".", "")),
    )


def pkce_values(verifier: str = "v" * 43) -> st.SearchStrategy[str]:
    """Well-formed and malformed RFC 7636 values: lengths 42/43/128/129, bad characters, padding."""
    return st.one_of(
        st.just(verifier),
        st.from_regex(r"[A-Za-z0-9._~-]{43,128}", fullmatch=True),
        st.sampled_from(["a" * 42, "a" * 129, "a" * 43 + "=", "a" * 42 + "+", "a" * 42 + "/", "\u0663" * 43]),
        st.builds(lambda c, n: c * n, st.sampled_from(["a", "\u00e9", "%41", " ", "\x00", "="]), st.integers(40, 130)),
        awkward_text,
    )


def scopes() -> st.SearchStrategy[str]:
    """Scope strings: valid tokens (``read:users``, ``/accounts.read``), odd separators, very long, awkward."""
    token = st.one_of(
        st.sampled_from(["read", "write", "email", "admin:users", "/accounts.read", "READ", "openid", "read\\"]),
        st.from_regex(r"[\x21\x23-\x5b\x5d-\x7e]{1,12}", fullmatch=True),
        awkward_text,
    )
    separator = st.sampled_from([" ", "  ", "\t", "+", ",", "\x1c", "\u2003", "\x85", "\n"])
    joined = st.builds(lambda ts, sep: sep.join(ts), st.lists(token, max_size=6), separator)
    many = st.builds(lambda n, unit: " ".join([unit] * n), st.integers(100, 5_000), st.sampled_from(["read", "x"]))
    return st.one_of(joined, joined, joined, joined, joined, joined, many, huge_text)


def encode_form(pairs: Sequence[tuple[str, str]], how: str) -> bytes:
    """``pairs`` as a body: properly encoded, raw (metacharacters unescaped), or encoded as Latin-1."""
    if how == "urlencode":
        return urlencode(pairs).encode("ascii")
    if how == "latin-1":
        return "&".join(f"{quote(k, encoding='latin-1', errors='replace')}={v}" for k, v in pairs).encode(
            "latin-1", "replace"
        )
    return "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8")


@st.composite
def form_bodies(draw: st.DrawFn, names: Sequence[str], value: st.SearchStrategy[str]) -> bytes:
    """A form with names drawn from ``names`` (so repeats happen) or made up, encoded one of several ways."""
    name = st.one_of(st.sampled_from(names), awkward_text)
    pairs = draw(st.lists(st.tuples(name, value), max_size=8))
    body = encode_form(pairs, draw(st.sampled_from(["urlencode", "urlencode", "raw", "latin-1"])))
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.binary(min_size=1, max_size=16)) + body[at:]
    return body


def b64(raw: bytes) -> bytes:
    return base64.b64encode(raw)


def basic_headers(fuzz: Fuzz) -> st.SearchStrategy[bytes]:
    """HTTP Basic values: real, wrong secret, bad base64, no colon, non-UTF-8, huge, odd scheme spellings."""
    ids = st.sampled_from(sorted(fuzz.clients))
    real = st.builds(lambda cid: fuzz.basic(cid).encode(), ids)
    wrong = st.builds(lambda cid, s: basic(cid, s).encode(), ids | awkward_text, st.text(max_size=20))
    unencoded = st.builds(lambda cid, s: basic(cid, s, encode=False).encode(), ids | awkward_text, awkward_text)
    payload = st.one_of(
        st.binary(max_size=64),
        st.builds(lambda t: t.encode("utf-8"), awkward_text),
        st.sampled_from([b"", b":", b"::", b":secret", b"m2m", b"m2m:", b"%zz:%zz", b"m2m\x00:x", b"\xff\xfe:\xc3"]),
        st.builds(lambda n: b"a" * n + b":" + b"b" * n, st.sampled_from([10_000, 100_000])),
    )
    encoded = st.builds(lambda p: b"Basic " + b64(p), payload)
    not_base64 = st.builds(
        lambda p: b"Basic " + p, st.binary(max_size=64) | st.sampled_from([b"=", b"====", b"a", b"!!"])
    )
    scheme = st.sampled_from([b"Basic", b"basic", b"BASIC", b"Basic ", b"Basic\t", b"Basic:", b"Basicx", b"Bearer"])
    spelled = st.builds(lambda s, p: s + b" " + b64(p), scheme, payload)
    return st.one_of(real, wrong, unencoded, encoded, not_base64, spelled)


CONTENT_TYPES = [
    FORM,
    FORM + "; charset=utf-8",
    FORM + "; charset=latin-1",
    FORM.upper(),
    FORM + "\x00",
    FORM + ";",
    " " + FORM,
    "application/json",
    "multipart/form-data; boundary=x",
    "text/plain",
    "application/x-www-form-urlencodedx",
    "*/*",
    "",
]


def content_types() -> st.SearchStrategy[bytes | None]:
    listed = st.sampled_from([ct.encode("latin-1") for ct in CONTENT_TYPES])
    return st.one_of(st.just(FORM.encode()), listed, st.binary(max_size=40), st.none())


CONTENT_LENGTHS = [b"0", b"1", b"-1", b"abc", b"\xb2", b"\xb9", "\u0663".encode(), b" 12", b"1e3", b"0x10", b"+5", b""]
#: Every method the tests send but POST.
METHODS = [method for method in harness.METHODS if method != "POST"]


def methods() -> st.SearchStrategy[str]:
    """POST half the time, any other method (listed or odd) the rest."""
    return st.one_of(st.just("POST"), st.sampled_from(METHODS))


def junk_headers() -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    names = st.sampled_from(
        [b"host", b"x-forwarded-for", b"cookie", b"content-encoding", b"expect", b"accept", b"x-test-user", b"origin"]
    )
    # Any token as a name (lower case, as servers hand them to ASGI apps), any bytes as a value.
    made_up = st.from_regex(rb"[!#$%&'*+\-.^_`|~0-9a-z]{1,12}", fullmatch=True)
    return st.lists(st.tuples(names | made_up, st.binary(max_size=64)), max_size=3)


REDIRECT_URIS = [
    CALLBACK,
    CALLBACK_2,
    LOOPBACK,
    "http://127.0.0.1:5000/native",
    "http://127.0.0.1:65535/native",
    "http://127.0.0.1:99999/native",
    "http://127.0.0.1:x/native",
    "http://[::1]:8080/native",
    "http://[::1/native",
    "http://[/native",
    "http://127.0.0.1:5000/native#frag",
    "http://127.0.0.1:5000/native#",
    "http://127.0.0.1\t:5000/native",
    " http://127.0.0.1:5000/native",
    "http://evil@127.0.0.1:5000/native",
    "http://127.0.0.1.evil.test/native",
    "http://localhost:5000/native",
    "https://127.0.0.1:5000/native",
    CALLBACK + "/",
    CALLBACK + "?x=1",
    CALLBACK + "#",
    "HTTPS://WEB.TEST/cb",
    "//evil.test/cb",
    "https://evil.test/cb",
    "javascript:alert(1)",
    "https://web.test/other?tenant=1&x=2",
]


HOSTS = ["127.0.0.1", "[::1]", "[", "[::1", "::1]", "]", "[127.0.0.1]", "web.test", "WEB.test", "localhost", "0x7f.1"]


def uri_like() -> st.SearchStrategy[str]:
    """URIs assembled from parts that parsers disagree on: brackets, ports, userinfo, case, separators."""
    parts = [
        st.sampled_from(["http://", "https://", "HTTP://", "http:/", "//", "", "javascript:", "http:\\\\"]),
        st.sampled_from(["", "", "evil@", "127.0.0.1@", "a:b@", "%40@"]),
        st.sampled_from(HOSTS),
        st.sampled_from(["", "", ":5000", ":0", ":65536", ":-1", ":x", ":", ":\u0663", ":5000:6000"]),
        st.sampled_from(["/native", "/cb", "/native/", "/NATIVE", "", "/%2e%2e/native", "/native\t"]) | awkward_text,
        st.sampled_from(["", "", "?", "?x=1", "?tenant=1"]),
        st.sampled_from(["", "", "#", "#frag"]),
    ]
    return st.builds(lambda *p: "".join(p), *parts)


def redirect_uris() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(REDIRECT_URIS), uri_like(), uri_like(), values())


#: Any JSON value, its strings awkward.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | awkward_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(awkward_text, inner, max_size=4),
    max_leaves=12,
)


T = TypeVar("T")


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of the strategies, each ``weight`` times as likely. (``a | a | b`` is not: Hypothesis runs each
    distinct input once, so a branch with few values is used up early and the rest of the run draws others.)"""
    return st.sampled_from([s for weight, s in choices for _ in range(weight)]).flatmap(lambda s: s)


#: A DNS label, from many values.
label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
#: https URLs: mostly usable ones with an ASCII or IDN host, the rest with a punycode, empty, overlong or any
#: host, a port out of range or not a number, a path or query in any script.
https_urls = st.builds(
    lambda host, port, path: f"https://{host}{port}/{path}",
    weighted(
        (4, st.builds(lambda a, b: f"{a}.{b}", label, st.sampled_from(["test", "\u00e9xample.test", "xn--zz.test"]))),
        (1, st.sampled_from(["a..b.test", "\u200b.test", "a" * 64 + ".test", ""]) | awkward_text),
    ),
    weighted(
        (4, st.just("")),
        (2, st.sampled_from([":443", ":8443", ":0"])),
        (2, st.sampled_from([":99999", ":x", ":\u0663", ":"])),
    ),
    weighted(
        (
            3,
            st.from_regex(
                r"[a-z\u00e0-\u00ff\u05d0-\u05ea]{1,8}(/[a-z]{1,8})?(\?x=[\u00e0-\u00ff]{0,3})?", fullmatch=True
            ),
        ),
        (1, st.sampled_from(["%zz", "../c", "a\u0301/cb", "c#f"]) | awkward_text),
    ),
)


@st.composite
def json_bodies(draw: st.DrawFn, value: st.SearchStrategy[object]) -> bytes:
    """``value`` as JSON text (ASCII-escaped or not), or JSON as parsers disagree on it: lone surrogate escapes,
    a byte order mark, UTF-16, nesting thousands deep, a huge array, a repeated key, or any bytes."""
    text = json.dumps(draw(value), ensure_ascii=draw(st.booleans()))
    odd = ["surrogate", "surrogate", "bom", "utf-16", "deep", "deep", "wide", "repeated", "bytes"]
    how = draw(st.sampled_from(["as is"] * 12 + odd))
    quotes = [at for at, c in enumerate(text) if c == '"']
    if how == "surrogate" and quotes:  # at the start of a key or a string value: still valid JSON
        at = draw(st.sampled_from(quotes)) + 1
        return (text[:at] + draw(st.sampled_from(["\\ud800", "\\udfff", "\\ud83d\\u0041"])) + text[at:]).encode()
    if how == "bom":
        return b"\xef\xbb\xbf" + text.encode()
    if how == "utf-16":
        return text.encode("utf-16")
    if how == "deep":
        depth = draw(st.sampled_from([1_000, 5_000, 100_000]))  # Python's parser gives up near 1000
        return b"[" * depth + b"]" * depth
    if how == "wide":
        return b'{"redirect_uris": [' + b'"https://app.test/cb",' * draw(st.sampled_from([3_000, 60_000])) + b'""]}'
    if how == "repeated":
        return b'{"redirect_uris": ["https://app.test/a"], "redirect_uris": ["http://evil.test/"]}'
    if how == "bytes":
        return draw(st.binary(max_size=100))
    return text.encode()
