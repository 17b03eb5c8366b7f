"""The ``ansible-playbook`` that ansible-runner starts when a preloaded Ansible is up.

It hands its arguments, working directory, environment and terminal (file
descriptors 0, 1 and 2) to the zygote (``ansible_zygote.py``), which forks an
``ansible-playbook`` that has Ansible already imported and warmed. It then
stands in for that process: signals sent to it are passed on to the forked
playbook's process group, and it exits with the playbook's exit status. If
it is killed outright, the zygote sees its connection close and kills the
playbook. When no zygote answers, or the zygote declines (an Ansible setting
it cannot honour, a sandbox it does not hold) or refuses (the caller is not
the executor), it ``exec``s ``ZUULISH_REAL_ANSIBLE_PLAYBOOK``: the sandbox
launcher, which starts ``ansible-playbook`` cold in the build's trusted
sandbox view (never on the host). It names the sandbox to fork into
(``ZUULISH_TRUSTED_SANDBOX``, registered by the executor) in its request.

It runs as ``python -IS`` from a copy written next to the zygote's socket,
so it imports only the standard library and starts in a few milliseconds.
"""

import contextlib
import json
import os
import signal
import socket
import sys

SOCKET_ENV = "ZUULISH_ANSIBLE_ZYGOTE"
REAL_ENV = "ZUULISH_REAL_ANSIBLE_PLAYBOOK"
SANDBOX_ENV = "ZUULISH_TRUSTED_SANDBOX"
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def _exec_real(reason: str) -> None:
    real = os.environ.get(REAL_ENV, "")
    if os.environ.get("ZUULISH_ZYGOTE_DEBUG"):
        print(f"zuulish: running ansible-playbook directly ({reason})", file=sys.stderr)
    if not real:
        print(f"zuulish: no ansible-playbook to run ({reason})", file=sys.stderr)
        sys.exit(127)
    os.execv(real, [real, *sys.argv[1:]])


def _lines(sock: socket.socket):
    buffer = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except OSError:
            return
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield json.loads(line)


def main() -> int:
    path = os.environ.get(SOCKET_ENV, "")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        _exec_real(f"no zygote at {path!r}: {exc}")
    request = {"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ),
               "sandbox": os.environ.get(SANDBOX_ENV, "")}
    payload = json.dumps(request).encode() + b"\n"
    try:
        socket.send_fds(sock, [payload[:1]], [0, 1, 2])
        sock.sendall(payload[1:])
    except OSError:
        pass  # refused before the request was read: the reply says why
    replies = _lines(sock)
    first = next(replies, None)
    if first is None or "pid" not in first:
        sock.close()
        reply = first or {}
        if "refused" in reply:
            print(f"zuulish: the preloaded Ansible refused: {reply['refused']}",
                  file=sys.stderr)
        _exec_real(reply.get("fallback") or reply.get("refused")
                   or "the zygote closed the connection")
    pid = int(first["pid"])

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    for reply in replies:
        if "exit" in reply:
            return int(reply["exit"])
    print("zuulish: the preloaded Ansible went away during the playbook", file=sys.stderr)
    return 255


if __name__ == "__main__":
    sys.exit(main())
