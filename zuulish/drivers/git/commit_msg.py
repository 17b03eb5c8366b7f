"""The ``commit-msg`` hook the built-in forge hands out, as Gerrit does.

Installed in a clone, it adds a ``Change-Id: I<40 hex>`` footer to every commit
message that has none, so amending a commit (which keeps the footer) and
pushing it again to ``refs/for/<branch>`` updates the same change. The forge
refuses pushes of commits without the footer and names :func:`install_command`.
"""

from __future__ import annotations

import shlex

#: Where the web server serves the hook (Gerrit's path).
HOOK_PATH = "/tools/hooks/commit-msg"

COMMIT_MSG_HOOK = r"""#!/bin/sh
# zuulish commit-msg hook: adds a "Change-Id: I<40 hex>" footer to commit messages
# that have none. Amending keeps the footer, so pushing the amended commit to
# refs/for/<branch> updates the same change instead of making a new one.
msg_file="$1"
[ -n "$msg_file" ] && [ -f "$msg_file" ] || { echo "commit-msg: no message file" >&2; exit 1; }

# Already has one: keep it.
if grep -q '^Change-Id:[[:space:]]*I[0-9a-f]\{8,40\}[[:space:]]*$' "$msg_file"; then
  exit 0
fi
# An empty message (git aborts the commit) or a fixup!/squash! commit: leave it alone.
if ! grep -v '^#' "$msg_file" | grep -q '[^[:space:]]'; then
  exit 0
fi
case "$(head -n 1 "$msg_file")" in
  "fixup! "*|"squash! "*) exit 0 ;;
esac

id=$( { git var GIT_AUTHOR_IDENT; git var GIT_COMMITTER_IDENT; git write-tree 2>/dev/null
        git rev-parse --verify -q HEAD; cat "$msg_file"; date; echo "$$"
        od -An -tx1 -N16 /dev/urandom 2>/dev/null; } | git hash-object --stdin | cut -c1-40)
case "$id" in
  [0-9a-f]*) ;;
  *) echo "commit-msg: could not make a Change-Id" >&2; exit 1 ;;
esac
git interpret-trailers --in-place --if-exists doNothing --trailer "Change-Id: I$id" \
  "$msg_file"
"""


def hook_url(web_url: str) -> str:
    return web_url.rstrip("/") + HOOK_PATH


def install_command(web_url: str) -> str:
    """The one shell command, run in a clone, that installs the hook from the web server."""
    return (f'f="$(git rev-parse --git-path hooks/commit-msg)" && mkdir -p "$(dirname "$f")" '
            f'&& curl -fsSL -o "$f" {hook_url(web_url)} && chmod +x "$f"')


def clone_command(clone_url: str, directory: str, web_url: str) -> str:
    """Clone ``clone_url`` into ``directory`` and install the hook there, in one command."""
    where = shlex.quote(directory)
    return f"git clone {shlex.quote(clone_url)} {where} && (cd {where} && " \
           f"{install_command(web_url)})"
