"""The token the CLI presents to a running server's web API, as Zuul's zuul-client does.

It comes from, first to last: ``--auth-token TOKEN`` or ``--auth-token-file PATH``
(one of the two), the environment variable ``ZUULISH_AUTH_TOKEN``, and — only when
the CLI talks to the server of its own configuration (no ``--url``) — the
configuration's static ``web.admin_token`` (the embedded mode's opt-in).

A token given by the user must look like a JSON Web Token (three base64url parts,
a JSON header, a JSON object of claims, a signature) and is refused before it is
sent otherwise. A token file that others than its owner and group may read or
write is refused (``chmod o-rw``). The token's value is never printed: its
``repr`` hides it, and messages name only where it came from.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any

from zuulish.errors import UserError

ENV_VAR = "ZUULISH_AUTH_TOKEN"
#: Longer tokens would not fit the server's limit on one header line (8190 bytes).
MAX_TOKEN_CHARS = 8000
#: A token file larger than this is not a token.
MAX_FILE_BYTES = 64 * 1024
_PART = re.compile(r"[A-Za-z0-9_-]+")
SHAPE = ("a JSON Web Token is three base64url parts separated by dots "
         "(HEADER.CLAIMS.SIGNATURE), as `zuulish create-auth-token` prints")


@dataclass(frozen=True)
class Token:
    """A bearer token and where it came from (``source``, for messages)."""

    value: str = field(repr=False)
    source: str
    static: bool = False  # the configuration's web.admin_token, not a JWT

    def claims(self) -> dict[str, Any]:
        """The token's claims, read without checking its signature (only the server
        can), for explaining a refusal; {} for the static admin token."""
        return {} if self.static else _decode_part(self.value.split(".")[1]) or {}


def _decode_part(part: str) -> dict[str, Any] | None:
    """A base64url part decoded as a JSON object; None when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return value if isinstance(value, dict) else None


def check_shape(value: str, source: str) -> str:
    """``value`` stripped when it looks like a JWT; a UserError naming ``source`` (never
    the value) when it does not."""
    value = value.strip()
    if not value:
        raise UserError(f"the token of {source} is empty")
    if len(value) > MAX_TOKEN_CHARS:
        raise UserError(f"the token of {source} is {len(value)} characters long, more than "
                        f"a server accepts ({MAX_TOKEN_CHARS})")
    parts = value.split(".")
    if len(parts) != 3 or not all(_PART.fullmatch(p) for p in parts):
        why = "it has a space or another character no JWT has" if len(parts) == 3 else \
            f"it has {len(parts)} part(s)"
        if value.lower().startswith("bearer "):
            why = "it starts with 'Bearer ': give the token alone"
        raise UserError(f"the token of {source} is not a JSON Web Token ({why}): {SHAPE}")
    header = _decode_part(parts[0])
    if header is None or not isinstance(header.get("alg"), str):
        raise UserError(f"the token of {source} is not a JSON Web Token (its header is not "
                        f"JSON naming an alg): {SHAPE}")
    if header["alg"].lower() == "none":
        raise UserError(f"the token of {source} is unsigned (alg none), which no server "
                        "accepts")
    if _decode_part(parts[1]) is None:
        raise UserError(f"the token of {source} is not a JSON Web Token (its claims are not "
                        f"a JSON object): {SHAPE}")
    return value


def read_token_file(path: str) -> str:
    """The text of a token file; refused when others may read or write it, when it is
    a directory, or too large to be a token."""
    source = f"--auth-token-file {path}"
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise UserError(f"cannot read {source}: {exc.strerror}") from None
    info = os.fstat(fd)  # the file opened, not what the name points to later
    if stat.S_ISDIR(info.st_mode):
        os.close(fd)
        raise UserError(f"cannot read {source}: it is a directory")
    if os.name == "posix" and stat.S_ISREG(info.st_mode) and info.st_mode & 0o006:
        os.close(fd)
        raise UserError(f"{source} may be read or written by other users (mode "
                        f"{stat.S_IMODE(info.st_mode):04o}): a token there is not "
                        f"secret; run `chmod o-rw {path}` (or 600) and mint a new one")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise UserError(f"{source} is larger than {MAX_FILE_BYTES} bytes: not a token file")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise UserError(f"the token of {source} is not a JSON Web Token (it is not ASCII "
                        f"text): {SHAPE}") from None


def resolve_token(flag: str | None, flag_file: str | None,
                  admin_token: str | None = None, admin_source: str = "web.admin_token",
                  environ: dict[str, str] | None = None) -> Token | None:
    """The token to send: ``--auth-token``, else ``--auth-token-file``, else
    ``$ZUULISH_AUTH_TOKEN`` (when set and not empty), else ``admin_token`` (the
    configuration's web.admin_token, named ``admin_source``), else None."""
    env = os.environ if environ is None else environ
    if flag is not None:
        return Token(check_shape(flag, "--auth-token"), "--auth-token")
    if flag_file is not None:
        source = f"--auth-token-file {flag_file}"
        return Token(check_shape(read_token_file(flag_file), source), source)
    if env.get(ENV_VAR, "").strip():
        return Token(check_shape(env[ENV_VAR], f"${ENV_VAR}"), f"${ENV_VAR}")
    if admin_token:
        return Token(admin_token, admin_source, static=True)
    return None

