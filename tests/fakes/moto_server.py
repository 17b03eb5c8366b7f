"""AWS for tests: moto's server on 127.0.0.1 (the simulator Zuul's own AWS tests
use), driven by the real boto3, and a proxy in front of it for what moto does
not do.

``MotoServer`` runs moto in this process (``ThreadedMotoServer``) with its
checks of AMI ids, instance types and key pairs on, so RunInstances refuses
what AWS refuses. Being in-process, a test can also do what only AWS itself
does to an instance (``set_state``: stuck pending, terminated for lack of
capacity, a spot instance taken back).

``FaultProxy`` forwards every request to moto except those it was told to
answer itself: an AWS error for an action (``fail``: InsufficientInstanceCapacity,
a 503, AuthFailure), an action that never answers (``hang``), and the EC2 vCPU
quotas of Service Quotas (``quotas``), which moto knows only for VPC.

``silent_endpoint`` is a port that accepts connections and never answers;
``closed_port`` one where nothing listens.

The ``moto_server`` fixture (session-scoped) gives a running ``MotoServer``;
``fault_proxy`` a fresh proxy in front of it for one test.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

ACCOUNT_ID = "123456789012"  # moto's default account
ACCESS_KEY = "AKIAZUULISHTEST00000"
SECRET_KEY = "zuulish-test-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """moto's server in this process, on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        from moto import settings
        from moto.server import ThreadedMotoServer

        # refuse unknown AMIs, instance types and key pairs at RunInstances, as AWS does
        settings.ENABLE_AMI_VALIDATION = True
        settings.EC2_ENABLE_INSTANCE_TYPE_VALIDATION = True
        settings.ENABLE_KEYPAIR_VALIDATION = True
        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port,
                                          verbose=False)
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def client(self, service: str, region: str = "us-east-1", url: str | None = None) -> Any:
        """A boto3 client of this server (or of ``url``, a proxy in front of it)."""
        import boto3

        key = (service, region, url or self.url)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = boto3.client(
                    service, region_name=region, endpoint_url=url or self.url,
                    aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
            return self._clients[key]

    def connection(self, url: str | None = None, region: str = "us-east-1") -> dict[str, Any]:
        """The options of a zuulish.yaml ``aws`` connection to this server."""
        return {"driver": "aws", "region-name": region, "endpoint-url": url or self.url,
                "access-key-id": ACCESS_KEY, "secret-access-key": SECRET_KEY,
                "connect-timeout": 2, "read-timeout": 5}

    def set_state(self, instance_id: str, state: str, region: str = "us-east-1",
                  reason_code: str = "", reason_message: str = "") -> None:
        """Put an instance in ``state`` (``pending``, ``terminated``...) as AWS
        would, with its state reason."""
        from moto.ec2.models import ec2_backends
        from moto.ec2.models.instances import InstanceState, StateReason

        codes = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48,
                 "stopping": 64, "stopped": 80}
        instance = ec2_backends[ACCOUNT_ID][region].get_instance(instance_id)
        instance._state = InstanceState(state, codes[state])
        instance.state_reason = StateReason(reason_message, reason_code)

    def living(self, system_id: str, region: str = "us-east-1") -> list[str]:
        """The ids of the instances tagged for ``system_id`` that are not terminated."""
        answer = self.client("ec2", region).describe_instances(Filters=[
            {"Name": "tag:zuulish-system", "Values": [system_id]},
            {"Name": "instance-state-name",
             "Values": ["pending", "running", "stopping", "stopped"]}])
        return [instance["InstanceId"] for reservation in answer["Reservations"]
                for instance in reservation["Instances"]]


@dataclass
class _Fault:
    status: int
    code: str
    message: str
    times: int | None  # None: every time


class FaultProxy:
    """An HTTP proxy in front of moto that answers some requests itself (see the
    module)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._faults: dict[str, _Fault] = {}
        self._hangs: set[str] = set()
        self._quotas: dict[str, float] = {}
        self._default_quotas: dict[str, float] = {}
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.calls: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                proxy._handle(self)

            def do_GET(self) -> None:
                proxy._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def fail(self, action: str, code: str, message: str = "", status: int = 400,
             times: int | None = None) -> None:
        """Answer ``action`` (``RunInstances``, ``GetServiceQuota``...) with an AWS
        error ``code``."""
        with self._lock:
            self._faults[action] = _Fault(status, code, message or code, times)

    def hang(self, action: str) -> None:
        """Never answer ``action`` (until the proxy closes)."""
        with self._lock:
            self._hangs.add(action)

    def quotas(self, **values: float) -> None:
        """Answer GetServiceQuota for these EC2 quota codes (``L_1216C47A=32``)."""
        with self._lock:
            self._quotas.update({code.replace("_", "-"): value
                                 for code, value in values.items()})

    def default_quotas(self, **values: float) -> None:
        """Answer GetAWSDefaultServiceQuota for these EC2 quota codes (moto does not
        implement it); GetServiceQuota then answers NoSuchResourceException for them
        (no applied value), as AWS does."""
        with self._lock:
            self._default_quotas.update({code.replace("_", "-"): value
                                         for code, value in values.items()})

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._hangs.clear()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        target = request.headers.get("X-Amz-Target") or ""
        json_protocol = bool(target)
        if target:
            action = target.rsplit(".", 1)[-1]
        else:
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            action = (form.get("Action") or [""])[0]
        with self._lock:
            self.calls.append(action)
            fault = self._faults.get(action)
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self._faults[action]
            hanging = action in self._hangs
            quota = None
            if action in ("GetServiceQuota", "GetAWSDefaultServiceQuota"):
                asked = json.loads(body or b"{}")
                table = self._quotas if action == "GetServiceQuota" else self._default_quotas
                if asked.get("ServiceCode") == "ec2" and asked.get("QuotaCode") in table:
                    quota = (asked["QuotaCode"], table[asked["QuotaCode"]])
        if hanging:
            self._released.wait(60)
            return
        if fault is not None:
            self._error(request, fault, json_protocol)
        elif quota is not None:
            self._send(request, 200, "application/x-amz-json-1.1", json.dumps({"Quota": {
                "ServiceCode": "ec2", "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
                "QuotaCode": quota[0], "QuotaName": f"vCPUs ({quota[0]})",
                "QuotaArn": f"arn:aws:servicequotas:us-east-1:{ACCOUNT_ID}:ec2/{quota[0]}",
                "Value": float(quota[1]), "Unit": "None", "Adjustable": True,
                "GlobalQuota": False}}).encode())
        else:
            self._forward(request, body)

    def _error(self, request: BaseHTTPRequestHandler, fault: _Fault,
               json_protocol: bool) -> None:
        if json_protocol:
            self._send(request, fault.status, "application/x-amz-json-1.1",
                       json.dumps({"__type": fault.code, "message": fault.message}).encode())
            return
        xml = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>"
               f"<Code>{fault.code}</Code><Message>{fault.message}</Message></Error></Errors>"
               f"<RequestID>fault-proxy</RequestID></Response>")
        self._send(request, fault.status, "text/xml", xml.encode())

    def _send(self, request: BaseHTTPRequestHandler, status: int, content_type: str,
              body: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def _forward(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        upstream = http.client.HTTPConnection("127.0.0.1", self.target_port, timeout=30)
        try:
            headers = {key: value for key, value in request.headers.items()
                       if key.lower() not in ("connection", "keep-alive")}
            upstream.request(request.command, request.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
            request.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("content-length", "connection", "transfer-encoding",
                                       "server", "date"):
                    request.send_header(key, value)
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        finally:
            upstream.close()


@contextlib.contextmanager
def silent_endpoint() -> Iterator[str]:
    """The URL of a port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        sock.close()


def closed_port_url() -> str:
    """The URL of a port of 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@contextlib.contextmanager
def moto_with_auth() -> Iterator[str]:
    """moto's server as its own process, checking every request's credentials
    against its IAM (``INITIAL_NO_AUTH_ACTION_COUNT=0``): any key is refused."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fault_proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_server.port)
    try:
        yield proxy
    finally:
        proxy.close()
