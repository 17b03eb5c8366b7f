"""Masking secrets in what a build writes: the forms a secret is printed in.

Masking is a safety net, not a boundary: a job that may use a secret can
always get it out in a form no list covers (reversed, one character a line,
encrypted). What it catches is the secret printed by mistake, in the forms
tools commonly print. For each secret value (a string of the secret's data)
it masks, besides the value itself:

- its JSON-escaped form (Ansible prints results as JSON/YAML);
- its lower-case and upper-case forms;
- base64, standard and URL-safe, with and without ``=`` padding; and the
  secret's bytes inside a longer base64 stream, at each of the 3 alignments
  (the groups of 4 characters that hold only the secret's bytes, when they
  are at least ``MIN_FRAGMENT`` characters);
- base64 as ``base64`` (the tool) wraps it: each 76-character line;
- hex, lower and upper case;
- URL quoting (``quote`` with and without ``/`` safe, ``quote_plus``);
- each line of a multi-line secret;
- the value with line breaks inside it (each followed by indentation or a
  ``<host> | `` prefix, as the job log shows lines): a secret split over
  lines within one piece of output (one task's result, one write of the
  console), for values of ``MIN_FRAGMENT`` to ``MAX_SPLIT`` characters. A
  split across two separate writes (two polls of a live console) is not seen.

Only forms of at least ``MIN_LENGTH`` characters, of values at least that
long, are masked (shorter ones would mask ordinary text); the value itself is
always masked.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from collections.abc import Iterable

MASK = "******"
MIN_LENGTH = 4
MIN_FRAGMENT = 8  # partial forms (inside base64 streams, split over lines)
MAX_SPLIT = 512  # longer values are not looked for split over lines (a pattern per char)
BASE64_LINE = 76  # where the base64 tool wraps
# What may stand between two characters of a secret split over lines.
_BREAK = r"(?:\r?\n(?:[ \t]*[^\s|]{1,255} \| )?[ \t]*)?"


def _base64_forms(data: bytes) -> set[str]:
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(data).decode()
        forms |= {whole, whole.rstrip("=")}
        if len(whole) > BASE64_LINE:
            forms |= {whole[i:i + BASE64_LINE] for i in range(0, len(whole), BASE64_LINE)
                      if len(whole[i:i + BASE64_LINE]) >= MIN_FRAGMENT}
        for offset in (0, 1, 2):
            # the secret after ``offset`` other bytes of a longer stream (and before more)
            text = encode(b"\0" * offset + data).decode()
            start = 4 if offset else 0
            end = (offset + len(data)) // 3 * 4
            if end - start >= MIN_FRAGMENT:
                forms.add(text[start:end])
    return forms


def variants(secrets: Iterable[str]) -> list[str]:
    """Every form of each secret that is masked (see the module), longest first."""
    found: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        found.add(secret)
        if len(secret) < MIN_LENGTH:
            continue
        forms = {json.dumps(secret)[1:-1], secret.lower(), secret.upper()}
        data = secret.encode("utf-8")
        forms |= _base64_forms(data)
        hexed = binascii.hexlify(data).decode()
        forms |= {hexed, hexed.upper()}
        forms |= {urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret),
                  urllib.parse.quote_plus(secret)}
        if "\n" in secret:
            forms |= {line.strip() for line in secret.splitlines()}
        found |= {form for form in forms if len(form) >= MIN_LENGTH}
    return sorted(found, key=lambda v: (-len(v), v))


class Masker:
    """Replaces every form of the given secrets by ``MASK``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        secrets = [s for s in secrets if s]
        self.variants = variants(secrets)
        self._plain = (re.compile("|".join(re.escape(v) for v in self.variants))
                       if self.variants else None)
        split = sorted({s.strip() for s in secrets
                        if MIN_FRAGMENT <= len(s.strip()) <= MAX_SPLIT
                        and "\n" not in s.strip()}, key=len, reverse=True)
        self._split = (re.compile("|".join(_BREAK.join(re.escape(c) for c in s)
                                           for s in split)) if split else None)

    def mask(self, text: str) -> str:
        """``text`` with every form of every secret replaced by ``MASK``."""
        if self._plain is None:
            return text
        text = self._plain.sub(MASK, text)
        if self._split is not None and "\n" in text:
            text = self._split.sub(lambda m: "\n".join([MASK] * (m[0].count("\n") + 1)), text)
        return text
