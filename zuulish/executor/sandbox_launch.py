"""The ``ansible-playbook`` that ansible-runner starts for an untrusted playbook.

ansible-runner finds it first on ``PATH`` (a per-run directory the sandbox
does not see). It reads the sandbox's bubblewrap arguments from the JSON file
named by ``ZUULISH_SANDBOX_ARGS``, keeps only the environment Ansible and
ansible-runner need (the executor's own variables, such as a database URL,
never reach the playbook; ``HOME`` and ``TMPDIR`` are bubblewrap's
``--setenv``), and replaces itself with
``bwrap ARGS -- ansible-playbook ...``.

It runs as ``python -IS`` from a copy written next to the arguments file, so
it imports only the standard library.
"""

import json
import os
import sys

ARGS_ENV = "ZUULISH_SANDBOX_ARGS"
KEEP_PREFIXES = ("ANSIBLE_", "AWX_", "RUNNER_", "LC_")
KEEP = frozenset({"PATH", "LANG", "LANGUAGE", "TERM", "TZ", "JOB_ID", "MAX_EVENT_RES",
                  "PYTHONUNBUFFERED", "PYTHONIOENCODING", "ORIGINAL_STDOUT_CALLBACK",
                  "ZUULISH_PLAYBOOK_TRUST",
                  "SSH_AUTH_SOCK"})  # the build's ssh-agent (its socket, not the key)


def sandbox_environment(environ: dict[str, str]) -> dict[str, str]:
    """What of ``environ`` reaches the sandboxed ``ansible-playbook``."""
    return {k: v for k, v in environ.items() if k in KEEP or k.startswith(KEEP_PREFIXES)}


def main() -> int:
    with open(os.environ[ARGS_ENV], encoding="utf-8") as f:
        spec = json.load(f)
    argv = [spec["bwrap"], *spec["args"], "--", spec["program"], *sys.argv[1:]]
    os.execve(spec["bwrap"], argv, sandbox_environment(dict(os.environ)))
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
