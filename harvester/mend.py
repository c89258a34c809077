"""Mending: the one policy for page bodies that are not quite JSON lines.

Records are kept byte for byte as the site sent them, with exactly these
exceptions, each counted in the manifest under its name:

- `invalid_utf8`: bytes that are not UTF-8 become U+FFFD;
- `nonfinite`: the tokens `NaN`, `Infinity` and `-Infinity`, which JSON
  does not allow, become `null` (strings that spell them are untouched);
- `control_characters`: raw control characters inside strings, which JSON
  does not allow, become `\\u00XX` escapes;
- `line_separators`: U+2028, U+2029 and U+0085 inside strings become
  `\\u2028`-style escapes: valid JSON either way, but many line readers
  split on them, and one record must stay exactly one line;
- `line_breaks`: CR and LF between tokens become spaces.

Escapes and spaces change bytes, not values. Only `nonfinite` and
`invalid_utf8` change values, and both are counted. Bodies that need none
of this, nearly all of them, pass through a few fast byte searches only.
"""

from __future__ import annotations

import re
from collections import Counter

SEPARATORS = (b"\xe2\x80\xa8", b"\xe2\x80\xa9", b"\xc2\x85")
# A string is matched whole first, so tokens inside strings are left alone.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|-?Infinity|NaN', re.S)
_CONTROL = re.compile(rb"[\x00-\x1f]")
_SEPARATOR = re.compile(b"|".join(SEPARATORS))
_ESCAPES = {
    b"\xe2\x80\xa8": b"\\u2028",
    b"\xe2\x80\xa9": b"\\u2029",
    b"\xc2\x85": b"\\u0085",
}


def needs_mending(body: bytes) -> bool:
    """Whether `body` holds what the policy changes and a JSON parser accepts.

    Line separators are valid JSON, and the page decoder does not check the
    UTF-8 inside strings it hands on raw, so both are looked for here.
    """
    if body.isascii():
        return False
    # One decode checks the UTF-8 and gives text that is faster to search
    # than bytes for three multi-byte sequences.
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return "\u2028" in text or "\u2029" in text or "\x85" in text


def mend_body(body: bytes, counts: Counter[str]) -> bytes:
    """`body` made valid JSON by the policy, counting each change.

    Called when a body fails to decode, or holds line separators.
    """
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("utf-8", "replace")
        counts["invalid_utf8"] += text.count("\ufffd") - body.count("\ufffd".encode())
        body = text.encode("utf-8")
    return _TOKENS.sub(lambda match: _mend_token(match[0], counts), body)


def mend_line_breaks(record: bytes, counts: Counter[str]) -> bytes:
    """A record's CR and LF between tokens turned into spaces."""
    counts["line_breaks"] += record.count(b"\n") + record.count(b"\r")
    return record.replace(b"\r", b" ").replace(b"\n", b" ")


def _mend_token(token: bytes, counts: Counter[str]) -> bytes:
    if not token.startswith(b'"'):
        counts["nonfinite"] += 1
        return b"null"
    if _CONTROL.search(token):
        counts["control_characters"] += len(_CONTROL.findall(token))
        token = _CONTROL.sub(lambda m: b"\\u%04x" % m[0][0], token)
    if _SEPARATOR.search(token):
        counts["line_separators"] += len(_SEPARATOR.findall(token))
        token = _SEPARATOR.sub(lambda m: _ESCAPES[m[0]], token)
    return token
