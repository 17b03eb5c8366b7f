"""The podman node image for tests: built once per host (debootstrap, about a
minute) and cached by podman; later runs find it by its recipe label.

``podman_node_image`` (session fixture) gives its name, or skips the test with the
reason when podman or debootstrap cannot run here, unless
``ZUULISH_PODMAN_TESTS=required`` (CI), where that is a failure. Use it from a
conftest with ``from tests.fakes.podman_image import podman_node_image  # noqa: F401``.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from zuulish.nodepool.podman_image import DEFAULT_NAME, ImageBuildError, ensure_image, missing_tools

REQUIRED = os.environ.get("ZUULISH_PODMAN_TESTS") == "required"


def missing_requirements() -> str | None:
    """Why podman nodes cannot run here, or None."""
    missing = missing_tools()
    if missing:
        return missing
    info = subprocess.run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"],
                          capture_output=True, text=True)
    if info.returncode != 0:
        return f"podman info fails: {info.stderr.strip()[-300:]}"
    return None


def skip_or_fail(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"ZUULISH_PODMAN_TESTS=required, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def podman_node_image() -> str:
    """The local node image's reference (built here if this recipe's is missing)."""
    missing = missing_requirements()
    if missing:
        skip_or_fail(missing)
    try:
        image = ensure_image(DEFAULT_NAME)
    except ImageBuildError as error:
        skip_or_fail(f"the podman node image cannot be built: {error}")
        raise
    if image.built:
        print(f"built {image.name} in {image.seconds:.0f} s "
              f"({image.size_bytes / 1e6:.0f} MB)")
    return image.name
