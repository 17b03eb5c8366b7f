"""Run components of a distributed deployment: one command per component.

``zuulish scheduler``, ``executor``, ``merger`` and ``launcher`` run that component
(:class:`zuulish.app.Components` with one kind) until SIGTERM or SIGINT, which stop
it cleanly: an executor hands its running builds back (they run again on another
executor), a scheduler hands its lease to a standby. SIGHUP makes a scheduler read
the tenant file again. ``zuulish web`` (``web/standalone.py``) serves the dashboard,
the API, the webhooks and the forge. None of them upgrades the schema: each refuses
to start against a schema other than its own (``zuulish db upgrade`` moves it).
"""

from __future__ import annotations

import logging
import signal
import threading

from zuulish.app import Components
from zuulish.server_config import ServerConfig

log = logging.getLogger(__name__)


def run_component(config: ServerConfig, kind: str) -> None:
    """Run the component ``kind`` until told to stop. Start-up problems raise."""
    components = Components(config, (kind,), embedded=False)
    hup = threading.Event()
    stop = threading.Event()
    signal.signal(signal.SIGHUP, lambda *_: hup.set())
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    components.start()
    ids = ", ".join(reg.id for reg in components.registries.values())
    print(f"zuulish {kind} is running as {ids} (SIGTERM to stop)", flush=True)
    try:
        while not stop.wait(0.5):
            if hup.is_set():
                hup.clear()
                if kind == "scheduler":
                    from zuulish.runner import request_reconfigure

                    request_reconfigure(components, "SIGHUP")
    finally:
        log.warning("%s: stopping", kind)
        components.stop()
