"""The node image of the podman driver, built here from Debian packages.

``debootstrap --variant=minbase`` makes a Debian bookworm root (sshd, python3,
sudo), then: a user ``zuul`` that may sudo without a password, no SSH host keys
(each container makes its own when it starts), and ``/usr/local/sbin/zuulish-node``
as the command, which

- generates the host keys (ed25519 and ECDSA; RSA takes a second to make),
- writes ``$ZUULISH_AUTHORIZED_KEYS`` into ``~$ZUULISH_USER/.ssh/authorized_keys``,
- prints each host key as ``zuulish-host-key: TYPE BASE64`` then
  ``zuulish-host-keys-done`` (the driver reads them from the container's log),
- and runs sshd in the foreground.

``podman import`` turns the tree into an image labelled ``zuulish.recipe=KEY``, a
hash of this recipe: ``ensure_image`` builds only when no image of that name with
that key exists. Needs root, debootstrap, podman, and Debian's mirror (or
``ZUULISH_DEBIAN_MIRROR``). Command line: ``python -m zuulish.nodepool.podman_image
[NAME]`` (default ``localhost/zuulish-node:bookworm``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_NAME = "localhost/zuulish-node:bookworm"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("openssh-server", "python3", "sudo", "ca-certificates", "procps",
            "iproute2", "git", "rsync")
USER = "zuul"
RECIPE_LABEL = "zuulish.recipe"
RECIPE_VERSION = "2"  # raise when _make_root changes
HOST_KEY_LINE = "zuulish-host-key: "
HOST_KEYS_DONE = "zuulish-host-keys-done"
START = "/usr/local/sbin/zuulish-node"

START_SCRIPT = """#!/bin/sh
# zuulish node: fresh SSH host keys, the authorized key from the environment, sshd
set -e
for type in ed25519 ecdsa; do
    ssh-keygen -q -t "$type" -N '' -f "/etc/ssh/ssh_host_${type}_key"
done
user="${ZUULISH_USER:-zuul}"
home=$(getent passwd "$user" | cut -d: -f6)
if [ -z "$home" ]; then
    echo "zuulish-node: no user $user in this image" >&2
    exit 2
fi
if [ -n "$ZUULISH_AUTHORIZED_KEYS" ]; then
    mkdir -p "$home/.ssh"
    printf '%s\\n' "$ZUULISH_AUTHORIZED_KEYS" > "$home/.ssh/authorized_keys"
    chown -R "$user:" "$home/.ssh"
    chmod 700 "$home/.ssh"
    chmod 600 "$home/.ssh/authorized_keys"
fi
mkdir -p /run/sshd
for key in /etc/ssh/ssh_host_*_key.pub; do
    echo "zuulish-host-key: $(cut -d' ' -f1,2 "$key")"
done
echo zuulish-host-keys-done
exec /usr/sbin/sshd -D -e
"""

SSHD_CONFIG = """# zuulish node: keys only; host keys made at start (no RSA: slow to make)
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UseDNS no
"""

SUDOERS = f"{USER} ALL=(ALL) NOPASSWD: ALL\n"

_LOCK = Path(tempfile.gettempdir()) / "zuulish-podman-image.lock"


class ImageBuildError(RuntimeError):
    """The image could not be built (the message says which step and why)."""


def recipe_key() -> str:
    """A hash of everything that goes into the image: changes when the recipe does."""
    recipe = "\n".join([RECIPE_VERSION, SUITE, " ".join(PACKAGES), USER,
                        START_SCRIPT, SSHD_CONFIG, SUDOERS])
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class BuiltImage:
    name: str
    built: bool           # False: it was there already
    seconds: float        # the build's (0 when it was there)
    size_bytes: int


def missing_tools(podman: str = "podman") -> str | None:
    """Why the image cannot be built here, or None."""
    if os.geteuid() != 0:
        return "building the podman node image needs root (debootstrap, chroot)"
    for tool in (podman, "debootstrap", "chroot"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def _run(args: Sequence[str], step: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise ImageBuildError(f"{step} failed (exit {result.returncode}): "
                              + "\n".join(tail))
    return result


def image_key(name: str, podman: str = "podman") -> str | None:
    """The recipe key the image ``name`` carries ("" if none), None if no such image."""
    if subprocess.run([podman, "image", "exists", name]).returncode != 0:
        return None
    out = _run([podman, "image", "inspect", "--format",
                '{{index .Config.Labels "' + RECIPE_LABEL + '"}}', name],
               f"podman image inspect {name}").stdout.strip()
    return "" if out == "<no value>" else out


def _image_id(name: str, podman: str) -> str | None:
    result = subprocess.run([podman, "image", "inspect", "--format", "{{.Id}}", name],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def image_size(name: str, podman: str = "podman") -> int:
    out = _run([podman, "image", "inspect", "--format", "{{.Size}}", name],
               f"podman image inspect {name}").stdout.strip()
    return int(out)


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time on this host (test workers share the image)."""
    with open(_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _make_root(root: Path, mirror: str) -> None:
    _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
          SUITE, str(root), mirror], f"debootstrap {SUITE} from {mirror}")
    _run(["chroot", str(root), "useradd", "--create-home", "--shell", "/bin/bash",
          USER], f"useradd {USER}")
    sudoers = root / "etc/sudoers.d" / USER
    sudoers.write_text(SUDOERS)
    sudoers.chmod(0o440)
    (root / "etc/ssh/sshd_config.d/zuulish.conf").write_text(SSHD_CONFIG)
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    start = root / START.lstrip("/")
    start.write_text(START_SCRIPT)
    start.chmod(0o755)
    # what debootstrap downloaded, and documentation: not needed on a node
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (root / cache).glob("*"):
            if item.is_file():
                item.unlink()
    for docs in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale"):
        for item in (root / docs).glob("*"):
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
            else:
                item.unlink()


def _import(root: Path, name: str, key: str, podman: str) -> None:
    tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(root), "-c", "."],
                           stdout=subprocess.PIPE)
    try:
        _run([podman, "import",
              "--change", f'CMD ["{START}"]',
              "--change", "EXPOSE 22",
              "--change", f"LABEL {RECIPE_LABEL}={key}",
              "-", name], f"podman import {name}", stdin=tar.stdout)
    finally:
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0:
            raise ImageBuildError(f"tar of {root} failed (exit {tar.returncode})")


def ensure_image(name: str = DEFAULT_NAME, *, podman: str = "podman",
                 mirror: str | None = None, workdir: str | None = None,
                 rebuild: bool = False) -> BuiltImage:
    """Make sure the local image ``name`` is this recipe's; build it if not.
    Raises ImageBuildError."""
    missing = missing_tools(podman)
    if missing:
        raise ImageBuildError(missing)
    key = recipe_key()
    with _build_lock():
        if not rebuild and image_key(name, podman) == key:
            return BuiltImage(name, False, 0.0, image_size(name, podman))
        started = time.monotonic()
        mirror = mirror or os.environ.get("ZUULISH_DEBIAN_MIRROR") or DEFAULT_MIRROR
        old = _image_id(name, podman)
        base = tempfile.mkdtemp(prefix="zuulish-node-image-", dir=workdir or "/var/tmp")
        try:
            root = Path(base) / "root"
            _make_root(root, mirror)
            _import(root, name, key, podman)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        if old and old != _image_id(name, podman):
            # the previous recipe's image, untagged now; kept if containers use it
            subprocess.run([podman, "rmi", old], capture_output=True)
        return BuiltImage(name, True, time.monotonic() - started, image_size(name, podman))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zuulish.nodepool.podman_image",
        description="Build (or find, when this recipe's is there) the podman node image.")
    parser.add_argument("name", nargs="?", default=DEFAULT_NAME,
                        help=f"the local image reference (default {DEFAULT_NAME})")
    parser.add_argument("--podman", default="podman", help="the podman binary")
    parser.add_argument("--mirror", help=f"the Debian mirror (default {DEFAULT_MIRROR} "
                        "or $ZUULISH_DEBIAN_MIRROR)")
    parser.add_argument("--rebuild", action="store_true",
                        help="build even when the image is there")
    args = parser.parse_args(argv)
    try:
        image = ensure_image(args.name, podman=args.podman, mirror=args.mirror,
                             rebuild=args.rebuild)
    except ImageBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    what = f"built in {image.seconds:.0f} s" if image.built else "already there"
    print(f"{image.name}: {what}, {image.size_bytes / 1e6:.0f} MB "
          f"(recipe {recipe_key()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
