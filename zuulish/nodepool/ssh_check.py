"""Whether a booted node answers SSH: its host keys (to pin in the build's
``known_hosts``), or, without host key checking, just SSH's greeting."""

from __future__ import annotations

import socket

from zuulish.nodepool.static import scan_host_keys


def answers_ssh(host: str, port: int, timeout: float) -> bool:
    """True when something at ``host:port`` greets like an SSH server."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def check_ssh(host: str, port: int, timeout: float, scan_keys: bool) -> list[str] | None:
    """The node's host keys when ``scan_keys`` (``[]`` otherwise) once SSH answers;
    None when it does not (yet)."""
    if scan_keys:
        keys = scan_host_keys(host, port, timeout)
        return keys or None
    return [] if answers_ssh(host, port, timeout) else None
