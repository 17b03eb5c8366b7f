"""Messages users read (a build's result message on the change, its page and the API)
name paths as the job knows them, never the executor's own directories.

An error raised while the workspace is prepared (git's own message, say) names the
directory it ran in: ``<build dir>/work/src/localhost/org/app``. Users are told
``src/localhost/org/app`` (the path in the job's work dir, as ``zuul.project.src_dir``),
and anything else under the executor's state directory as ``<state>/...``; where the
executor keeps its builds is the operator's business, and a map for an attacker.
"""

from __future__ import annotations

from pathlib import Path


def for_users(message: str, build_dir: Path, state_dir: Path) -> str:
    """``message`` with the build's work dir, build dir and state dir taken out."""
    for root, shown in ((build_dir / "work", ""), (build_dir, "<build>/"),
                        (state_dir, "<state>/")):
        for form in {str(root), str(root.resolve())}:
            message = message.replace(form + "/", shown).replace(form, shown.rstrip("/")
                                                                 or ".")
    return message
