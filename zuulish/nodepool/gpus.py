"""The NVIDIA GPUs of the executor's host, as the local provider offers them.

``detect`` asks ``nvidia-smi --query-gpu=index,name,memory.total,uuid
--format=csv,noheader`` which GPUs there are; a missing or failing
``nvidia-smi`` means none (said once in the log, not on every call). With the
GPUs it finds what a sandbox needs to use them:

- device files (under ``device_root``, ``/dev`` unless a test says otherwise):
  ``nvidia<index>`` per GPU, and those all GPUs share: ``nvidiactl``,
  ``nvidia-uvm``, ``nvidia-uvm-tools``, ``nvidia-modeset`` (each where it exists);
- host paths, read-only: the ``nvidia-smi`` binary and the driver's user-space
  libraries (``libnvidia-ml.so*``, ``libcuda.so*`` as ``ldconfig -p`` lists
  them, with the files their links point to), or the operator's ``gpu_paths``;
  and always the parts of ``/sys`` that NVML and CUDA read to find the PCI
  devices and the driver (``SYS_PATHS``, what Flatpak shows a sandbox with
  devices; a local node has no ``/sys`` otherwise).

Only the driver's ``libcuda.so`` counts, not the CUDA toolkit's ``libcudart``:
the toolkit is the job's business (``host_paths`` if the operator provides it).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

QUERY = ["--query-gpu=index,name,memory.total,uuid", "--format=csv,noheader"]
SHARED_DEVICES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
SYS_PATHS = ("/sys/bus", "/sys/class", "/sys/dev", "/sys/devices", "/sys/module")
DRIVER_LIBRARY = re.compile(r"^(libnvidia-ml|libcuda)\.so(\.[0-9.]+)?$")
TIMEOUT_SECONDS = 20.0
_said: set[str] = set()  # what was logged already (each failure once per process)

Runner = Callable[[Sequence[str]], str]


class GpuError(Exception):
    """nvidia-smi (or ldconfig) could not be run or said something unreadable."""


@dataclass(frozen=True)
class Gpu:
    """One GPU as nvidia-smi lists it (``memory_mb``: 0 when it says ``[N/A]``)."""

    index: int
    model: str
    memory_mb: int
    uuid: str


@dataclass(frozen=True)
class GpuHost:
    """The GPUs of a host and what a sandbox needs to use them."""

    gpus: tuple[Gpu, ...] = ()
    device_root: Path = Path("/dev")
    shared_devices: tuple[Path, ...] = ()  # nvidiactl, nvidia-uvm... that exist
    paths: tuple[Path, ...] = ()           # nvidia-smi and the driver's libraries

    def devices(self, indexes: Iterable[int]) -> tuple[Path, ...]:
        """The device files of the GPUs ``indexes`` (those that exist) and the shared ones."""
        own = [self.device_root / f"nvidia{i}" for i in sorted(indexes)]
        return tuple(p for p in own if p.exists()) + self.shared_devices


def _run(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True,
                              timeout=TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GpuError(f"{argv[0]} could not run: {exc}") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise GpuError(f"{' '.join(argv)} failed (exit {done.returncode})"
                       + (f": {said[-1]}" if said else ""))
    return done.stdout


def parse_gpus(text: str) -> tuple[Gpu, ...]:
    """The GPUs of nvidia-smi's ``index,name,memory.total,uuid`` CSV (no header)."""
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 4 or not fields[0].isdigit():
            raise GpuError(f"nvidia-smi printed a line that is not index, name, memory, "
                           f"uuid: {line.strip()!r}")
        memory = fields[2].split()[0] if fields[2] else ""
        gpus.append(Gpu(int(fields[0]), fields[1],
                        int(memory) if memory.isdigit() else 0, fields[3]))
    return tuple(sorted(gpus, key=lambda g: g.index))


def driver_libraries(run: Runner = _run) -> tuple[Path, ...]:
    """The driver's libnvidia-ml and libcuda as ``ldconfig -p`` lists them, and the
    files their links point to (empty when ldconfig cannot be run)."""
    try:
        text = run(["ldconfig", "-p"])
    except GpuError as exc:
        _say_once(f"the NVIDIA driver's libraries are not known: {exc}")
        return ()
    found: list[Path] = []
    for line in text.splitlines():
        name, arrow, target = line.strip().partition(" => ")
        if arrow and DRIVER_LIBRARY.match(name.split()[0] if name.split() else ""):
            found.append(Path(target.strip()))
    return _with_targets(found)


def _with_targets(paths: Iterable[Path]) -> tuple[Path, ...]:
    out: list[Path] = []
    for path in paths:
        for p in (path, path.resolve()):
            if p not in out and p.exists():
                out.append(p)
    return tuple(out)


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.warning("%s", message)


def detect(nvidia_smi: str = "nvidia-smi", device_root: Path = Path("/dev"),
           gpu_paths: Sequence[str] | None = None, run: Runner = _run) -> GpuHost:
    """The GPUs ``nvidia_smi`` lists, with their device files and host paths;
    ``GpuHost()`` (none) when it is missing or fails (logged once).
    ``gpu_paths``: the host paths to give nodes instead of nvidia-smi and the
    libraries ldconfig lists."""
    program = shutil.which(nvidia_smi)
    if program is None:
        _say_once(f"no GPUs: {nvidia_smi} is not found")
        return GpuHost(device_root=device_root)
    try:
        gpus = parse_gpus(run([program, *QUERY]))
    except GpuError as exc:
        _say_once(f"no GPUs: {exc}")
        return GpuHost(device_root=device_root)
    if not gpus:
        _say_once(f"no GPUs: {program} lists none")
        return GpuHost(device_root=device_root)
    shared = tuple(device_root / n for n in SHARED_DEVICES if (device_root / n).exists())
    if gpu_paths is not None:
        paths = _with_targets(Path(p) for p in gpu_paths)
    else:
        paths = _with_targets([Path(program)]) + driver_libraries(run)
    paths += tuple(Path(p) for p in SYS_PATHS if Path(p).exists())
    missing = [g.index for g in gpus if not (device_root / f"nvidia{g.index}").exists()]
    if missing:
        _say_once(f"GPU(s) {', '.join(map(str, missing))}: no device file in {device_root}")
    return GpuHost(gpus, device_root, shared, tuple(dict.fromkeys(paths)))
