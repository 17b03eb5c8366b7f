"""The deployment files (Dockerfile, config-examples/distributed/: compose, systemd,
Kubernetes) parse, run only real ``zuulish`` commands, and their zuulish.yaml files
are ones the server accepts."""

from __future__ import annotations

import configparser
import contextlib
import copy
import functools
import importlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from zuulish.cli import build_parser
from zuulish.server_config import load_server_config

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "config-examples" / "distributed"
KUBE = DIST / "kubernetes"
UNITS = DIST / "systemd"

# The components, each a command of its own; `run` is all of them in one process.
COMPONENTS = ("scheduler", "executor", "merger", "launcher", "web")
COMMANDS = (*[[c] for c in COMPONENTS], ["run"], ["db", "upgrade"])
STATE_DIR = "/var/lib/zuulish"
IMAGE_PACKAGES = ("bubblewrap", "passt", "rsync", "git", "openssh-client", "python3")
# what the compose file's ${...} need; the test's own values
COMPOSE_ENV = {"ZUULISH_DB_PASSWORD": "test-password", "ZUULISH_S3_ACCESS_KEY": "test-key",
               "ZUULISH_S3_SECRET_KEY": "test-secret"}


def is_command(argv: list[str]) -> str | None:
    """None when ``zuulish ARGV`` parses with the real command line, else argparse's
    complaint."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:
            if exc.code != 0:
                return err.getvalue().strip().splitlines()[-1]
    return None


@functools.cache
def compose() -> dict[str, Any]:
    """The compose file as parsed (shared: copy it before changing it)."""
    return yaml.safe_load((DIST / "compose.yaml").read_text())


def zuulish_services(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compose services that run the zuulish image."""
    return {name: svc for name, svc in data["services"].items()
            if "zuulish" in str(svc.get("image", ""))}


@functools.cache
def kube_documents() -> tuple[tuple[str, dict[str, Any]], ...]:
    """Every manifest document with its file's name (shared: never changed)."""
    docs = []
    for path in sorted(KUBE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return tuple(docs)


def kube_workloads() -> list[tuple[str, dict[str, Any]]]:
    return [(name, doc) for name, doc in kube_documents()
            if doc["kind"] in ("Deployment", "StatefulSet", "Job")]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(), source=str(path))
    return parser


def exec_argv(parser: configparser.ConfigParser) -> list[str]:
    argv = shlex.split(parser["Service"]["ExecStart"])
    assert Path(argv[0]).name == "zuulish", argv
    return argv[1:]


def commands_in_files() -> list[tuple[str, list[str]]]:
    """Every zuulish command line that a deployment file runs, with where."""
    found: list[tuple[str, list[str]]] = []
    for name, svc in zuulish_services(compose()).items():
        found.append((f"compose.yaml: {name}", list(svc["command"])))
    for name, doc in kube_workloads():
        for container in pod_spec(doc)["containers"]:
            if container["image"] == "zuulish":
                found.append((f"kubernetes/{name}: {container['name']}", container["args"]))
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                command = container.get(probe, {}).get("exec", {}).get("command")
                if command:
                    assert Path(command[0]).name == "zuulish", (name, command)
                    found.append((f"kubernetes/{name}: {probe}", command[1:]))
    for path in sorted(UNITS.glob("*.service")):
        found.append((f"systemd/{path.name}", exec_argv(unit(path))))
    return found


# -- every file parses, and runs what exists ------------------------------------------

def test_every_yaml_file_of_the_deployment_parses() -> None:
    paths = sorted(DIST.rglob("*.yaml"))
    assert {p.name for p in paths} >= {"compose.yaml", "zuulish.yaml", "main.yaml",
                                       "kustomization.yaml", "executor.yaml"}
    for path in paths:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs, f"{path} is empty"
        assert all(isinstance(d, dict | list) for d in docs), path


def test_every_component_is_a_command_of_zuulish() -> None:
    """The names the deployment files use; until a component's command lands on main,
    this fails and names it."""
    missing = {" ".join(argv): why for argv in COMMANDS if (why := is_command(argv))}
    assert missing == {}


def test_every_command_a_deployment_file_runs_is_a_real_zuulish_command() -> None:
    found = commands_in_files()
    assert len(found) >= 20
    wrong = {where: f"zuulish {' '.join(argv)}: {why}"
             for where, argv in found if (why := is_command(argv))}
    assert wrong == {}


def test_the_command_check_refuses_a_command_that_does_not_exist() -> None:
    assert is_command(["component", "check"]) is not None
    assert is_command(["db", "upgrade"]) is None


@pytest.mark.parametrize("where", ["compose", "kubernetes", "systemd"])
def test_each_way_of_deploying_runs_every_component(where: str) -> None:
    commands = {tuple(argv) for place, argv in commands_in_files()
                if place.startswith(where)}
    assert commands >= {(c,) for c in COMPONENTS}, where
    if where != "systemd":
        assert ("db", "upgrade") in commands


# -- the example zuulish.yaml files ---------------------------------------------------

def configmap() -> dict[str, str]:
    (doc,) = [d for name, d in kube_documents() if name == "configmap.yaml"]
    return doc["data"]


def server_configs(tmp_path: Path) -> dict[str, Path]:
    """Every zuulish.yaml of the deployment, with its tenant file beside it."""
    found = {f"distributed/{p.name}": p for p in sorted(DIST.glob("zuulish*.yaml"))}
    kube = tmp_path / "kubernetes"
    kube.mkdir()
    for key, text in configmap().items():
        (kube / key).write_text(text)
        if key.startswith("zuulish"):
            found[f"kubernetes/configmap.yaml: {key}"] = kube / key
    return found


def check_forge_settings(options: dict[str, Any], path: Path) -> None:
    """The forge's own check of its options, where this version of zuulish has one."""
    try:
        settings = importlib.import_module("zuulish.drivers.git.settings")
    except ModuleNotFoundError:
        return
    settings.read_forge_settings("forge", options, path)


def test_every_example_zuulish_yaml_is_accepted_by_the_server(tmp_path: Path) -> None:
    """Each key must be one zuulish/server_config.py knows; until the scale-out
    settings (logs, executor.zone, executor.console_*) land on main, this fails with
    the first key refused."""
    configs = server_configs(tmp_path)
    assert len(configs) == 4
    refused = {}
    for where, path in configs.items():
        try:
            config = load_server_config(path)
        except Exception as exc:  # noqa: BLE001 - the message is the finding
            refused[where] = str(exc)
            continue
        assert str(config.state_dir) == STATE_DIR
        assert config.database.startswith("postgresql+psycopg://")
        assert ":" not in config.database.split("//", 1)[1].split("@")[0], \
            "no password in the database URL: it comes from $PGPASSWORD"
        forge = config.connection("forge").options
        assert forge["url"].endswith("/git")
        # the components' credential goes to a plain http:// URL only when told to
        assert forge["url"].startswith("https://") or forge["plain_http"] is True
        check_forge_settings(forge, path)
        assert (config.listen_host, config.listen_port) == ("0.0.0.0", 9000)
    assert refused == {}


def test_the_zoned_executors_file_differs_only_in_its_executor_section(
        tmp_path: Path) -> None:
    pairs = [(DIST / "zuulish.yaml", DIST / "zuulish-zone-gpu.yaml")]
    data = configmap()
    pairs_text = [(p.read_text(), q.read_text()) for p, q in pairs]
    pairs_text.append((data["zuulish.yaml"], data["zuulish-zone-gpu.yaml"]))
    for plain_text, zoned_text in pairs_text:
        plain, zoned = yaml.safe_load(plain_text), yaml.safe_load(zoned_text)
        assert zoned["executor"]["zone"] == "gpu-lab"
        assert "zone" not in plain["executor"]
        plain.pop("executor")
        zoned.pop("executor")
        assert plain == zoned


def keys_of(data: Any, prefix: str = "") -> list[str]:
    if isinstance(data, dict):
        return [k for key, value in data.items()
                for k in (f"{prefix}{key}", *keys_of(value, f"{prefix}{key}."))]
    if isinstance(data, list):
        return [k for item in data for k in keys_of(item, prefix)]
    return []


def test_no_example_zuulish_yaml_holds_a_secret() -> None:
    """Passwords and keys come from the environment and secrets.key, never the YAML."""
    texts = [p.read_text() for p in DIST.glob("zuulish*.yaml")]
    texts += [text for key, text in configmap().items() if key.startswith("zuulish")]
    assert len(texts) == 4
    for text in texts:
        keys = keys_of(yaml.safe_load(text))
        assert "logs.bucket" in keys
        assert [k for k in keys if re.search(r"password|secret|token|access", k)] == []


# -- compose --------------------------------------------------------------------------

def test_compose_has_every_component_twice_where_the_issue_asks() -> None:
    services = zuulish_services(compose())
    by_command: dict[str, list[str]] = {}
    for name, svc in services.items():
        by_command.setdefault(" ".join(svc["command"]), []).append(name)
    assert {k: len(v) for k, v in by_command.items()} == {
        "db upgrade": 1, "scheduler": 2, "executor": 2, "merger": 2, "launcher": 1, "web": 2}
    assert "postgres" in compose()["services"]


def test_every_compose_component_waits_for_the_schema_upgrade() -> None:
    data = compose()
    for name, svc in zuulish_services(data).items():
        if svc["command"] == ["db", "upgrade"]:
            assert svc["restart"] == "no"
            assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
            continue
        assert svc["depends_on"] == {
            "db-upgrade": {"condition": "service_completed_successfully"}}, name
        assert svc["stop_signal"] == "SIGTERM"


def volume_mounts(svc: dict[str, Any]) -> dict[str, str]:
    """Container path -> source of each of the service's volumes."""
    mounts = {}
    for entry in svc.get("volumes", []):
        source, target, *_ = entry.split(":")
        mounts[target] = source
    return mounts


def test_compose_state_volumes_are_shared_where_the_forge_lives_and_own_elsewhere() -> None:
    services = zuulish_services(compose())
    states: dict[str, str] = {}
    for name, svc in services.items():
        if svc["command"] == ["db", "upgrade"]:
            continue
        mounts = volume_mounts(svc)
        states[name] = mounts[STATE_DIR]
        assert mounts[f"{STATE_DIR}/secrets.key"] == "./secrets.key", name
        config = svc["environment"]["ZUULISH_CONFIG"]
        assert (DIST / mounts[config]).is_file(), (name, config)
        assert (DIST / mounts["/etc/zuulish/main.yaml"]).is_file()
    shared = {states[n] for n in states if n.startswith(("scheduler", "web"))}
    assert shared == {"shared-state"}
    own = [states[n] for n in states if not n.startswith(("scheduler", "web"))]
    assert len(own) == len(set(own)) == 5
    assert set(states.values()) <= set(compose()["volumes"])


def test_compose_executors_run_as_root_with_the_privileges_of_their_sandboxes() -> None:
    for name, svc in zuulish_services(compose()).items():
        if svc["command"] == ["executor"]:
            assert (svc["user"], svc["privileged"]) == ("0", True)
            assert svc["hostname"] == name
            minutes = int(re.fullmatch(r"(\d+)m", svc["stop_grace_period"]).group(1))
            assert minutes >= 5
        else:
            assert "privileged" not in svc and "user" not in svc, name


def compose_tool() -> list[str] | None:
    """A command that validates compose files: docker compose v2, docker-compose (v1,
    Debian's), or podman-compose."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 ).returncode == 0:
        return [docker, "compose"]
    for name in ("docker-compose", "podman-compose"):
        if shutil.which(name):
            return [name]
    return None


def run_compose_config(tool: list[str], path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **COMPOSE_ENV}
    return subprocess.run([*tool, "-f", str(path), "config"], capture_output=True,
                          text=True, env=env, cwd=path.parent, timeout=120)


def test_compose_config_accepts_the_compose_file(tmp_path: Path) -> None:
    tool = compose_tool()
    if tool is None:
        pytest.skip("no docker compose, docker-compose or podman-compose here "
                    "(apt-get install docker-compose)")
    result = run_compose_config(tool, DIST / "compose.yaml")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == set(compose()["services"])
    assert resolved["services"]["scheduler-1"]["environment"]["PGPASSWORD"] == \
        COMPOSE_ENV["ZUULISH_DB_PASSWORD"]
    # and the same tool refuses a compose file with a key that does not exist
    broken = copy.deepcopy(compose())
    broken["services"]["web-1"]["restart_policy_typo"] = "always"
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(broken))
    if tool[-1] != "podman-compose":  # podman-compose does not validate keys
        assert run_compose_config(tool, tmp_path / "compose.yaml").returncode != 0


def test_compose_refuses_to_start_without_the_database_password() -> None:
    tool = compose_tool()
    if tool is None or tool[-1] == "podman-compose":
        pytest.skip("no compose tool that interpolates ${VAR:?} here")
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_ENV}
    result = subprocess.run([*tool, "-f", str(DIST / "compose.yaml"), "config"],
                            capture_output=True, text=True, env=env, cwd=DIST, timeout=120)
    assert result.returncode != 0
    assert "ZUULISH_DB_PASSWORD" in result.stderr


# -- systemd --------------------------------------------------------------------------

def test_there_is_a_unit_per_component_that_stops_gracefully_and_restarts() -> None:
    names = {p.name for p in UNITS.glob("*.service")}
    assert names == {f"zuulish-{c}.service" for c in (*COMPONENTS, "db-upgrade")}
    for component in COMPONENTS:
        parsed = unit(UNITS / f"zuulish-{component}.service")
        service = parsed["Service"]
        assert exec_argv(parsed) == [component]
        assert service["KillSignal"] == "SIGTERM"
        assert service["KillMode"] == "mixed"  # the signal to zuulish, not its builds
        assert service["Restart"] == "always"
        assert parsed["Unit"]["StartLimitIntervalSec"] == "0"
        assert parsed["Install"]["WantedBy"] == "zuulish.target"
        assert parsed["Unit"]["PartOf"] == "zuulish.target"
        assert service["Environment"] == "ZUULISH_CONFIG=/etc/zuulish/zuulish.yaml"
    upgrade = unit(UNITS / "zuulish-db-upgrade.service")
    assert upgrade["Service"]["Type"] == "oneshot"
    assert exec_argv(upgrade) == ["db", "upgrade"]
    assert "Install" not in upgrade  # run by hand, once, with everything stopped


def seconds(value: str) -> int:
    total = 0
    for number, suffix in re.findall(r"(\d+)\s*(h|min|s|)", value):
        total += int(number) * {"h": 3600, "min": 60, "s": 1, "": 1}[suffix]
    return total


# settings that break bubblewrap (namespaces, mounts, /proc), pasta (/dev/net/tun),
# GPU devices or the nodes' cgroups
BREAKS_SANDBOXES = ("RestrictNamespaces", "PrivateDevices", "DeviceAllow", "ProtectClock",
                    "ProtectKernelTunables", "ProtectControlGroups", "ProtectProc",
                    "PrivateUsers", "CapabilityBoundingSet", "SystemCallFilter",
                    "MemoryDenyWriteExecute")


def test_the_executor_unit_waits_for_builds_and_leaves_bubblewrap_working() -> None:
    service = unit(UNITS / "zuulish-executor.service")["Service"]
    assert seconds(service["TimeoutStopSec"]) >= 300
    assert service["User"] == "root"
    assert service["Delegate"] == "yes"
    assert [key for key in BREAKS_SANDBOXES if key in service] == []
    for other in ("scheduler", "merger", "web"):
        hardened = unit(UNITS / f"zuulish-{other}.service")["Service"]
        assert hardened["User"] == "zuulish"
        assert hardened["NoNewPrivileges"] == "yes"
        assert hardened["ProtectSystem"] == "strict"
        assert hardened["ReadWritePaths"] == STATE_DIR
        assert hardened["CapabilityBoundingSet"] == ""


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    zuulish = Path(sys.executable).parent / "zuulish"
    if not zuulish.exists():
        pytest.skip(f"no zuulish command beside {sys.executable}")
    for path in UNITS.iterdir():
        text = path.read_text().replace("/opt/zuulish/venv/bin/zuulish", str(zuulish))
        (tmp_path / path.name).write_text(text)
    units = sorted(str(p) for p in tmp_path.iterdir())
    result = subprocess.run([analyze, "verify", *units], capture_output=True, text=True,
                            timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    # it does complain about what is wrong
    (tmp_path / "zuulish-web.service").write_text(
        (tmp_path / "zuulish-web.service").read_text().replace("KillMode=mixed",
                                                               "KillMode=mixd"))
    result = subprocess.run([analyze, "verify", str(tmp_path / "zuulish-web.service")],
                            capture_output=True, text=True, timeout=60)
    assert "mixd" in result.stderr


# -- Kubernetes -----------------------------------------------------------------------

def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    files = {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    assert [i["name"] for i in kustomization["images"]] == ["zuulish"]


def test_every_manifest_is_a_kubernetes_object_with_matching_labels() -> None:
    docs = kube_documents()
    for name, doc in docs:
        if doc.get("kind") == "Kustomization":
            continue
        assert {"apiVersion", "kind", "metadata"} <= set(doc), name
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])
    for name, doc in kube_workloads():
        labels = doc["spec"]["template"]["metadata"]["labels"]
        if doc["kind"] != "Job":
            assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
    pods = [doc["spec"]["template"]["metadata"]["labels"] for _, doc in kube_workloads()]
    for name, doc in docs:
        if doc["kind"] == "Service":
            selector = doc["spec"]["selector"].items()
            assert any(selector <= labels.items() for labels in pods), name


def test_kubernetes_secrets_and_config_that_pods_use_exist() -> None:
    docs = kube_documents()
    (secret,) = [d for _, d in docs if d["kind"] == "Secret"]
    keys = set(secret["stringData"])
    assert keys == {"secrets.key", "PGPASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    data = configmap()
    for name, doc in kube_workloads():
        spec = pod_spec(doc)
        for container in spec["containers"]:
            env = {e["name"]: e for e in container.get("env", [])}
            config = Path(env["ZUULISH_CONFIG"]["value"])
            assert config.parent == Path("/etc/zuulish") and config.name in data, name
            for entry in env.values():
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert (ref["name"], ref["key"] in keys) == ("zuulish", True), name
            mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
            if doc["kind"] != "Job":
                key = mounts[f"{STATE_DIR}/secrets.key"]
                assert (key["subPath"], key["readOnly"]) == ("secrets.key", True), name
                assert STATE_DIR in mounts, name


def test_kubernetes_probes_and_sizes_fit_each_component() -> None:
    workloads = {doc["metadata"]["name"]: doc for _, doc in kube_workloads()}
    web = pod_spec(workloads["web"])["containers"][0]
    for probe in ("readinessProbe", "livenessProbe"):
        assert web[probe]["httpGet"]["path"] == "/health"
    assert '"/health"' in (ROOT / "zuulish" / "web" / "core_routes.py").read_text()
    for name in ("executor", "executor-gpu"):
        executor = workloads[name]
        assert executor["kind"] == "StatefulSet"
        assert [c["metadata"]["name"] for c in executor["spec"]["volumeClaimTemplates"]] \
            == ["state"]
        spec = pod_spec(executor)
        assert spec["terminationGracePeriodSeconds"] >= 300
        assert spec["setHostnameAsFQDN"] is True
        # the FQDN is the hostname: Kubernetes refuses one longer than 64 characters
        fqdn = f"{name}-99.{executor['spec']['serviceName']}.zuulish.svc.cluster.local"
        assert len(fqdn) <= 64
        assert spec["containers"][0]["securityContext"]["privileged"] is True
    for name in ("scheduler", "web", "merger", "launcher"):
        spec = pod_spec(workloads[name])
        assert spec["securityContext"]["runAsUser"] == 10001
        assert spec["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False
    shared = [v["persistentVolumeClaim"]["claimName"] for n in ("scheduler", "web")
              for v in pod_spec(workloads[n])["volumes"] if "persistentVolumeClaim" in v]
    assert shared == ["shared-state", "shared-state"]
    (claim,) = [d for _, d in kube_documents() if d["kind"] == "PersistentVolumeClaim"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


# -- the Dockerfile -------------------------------------------------------------------

def test_the_dockerfile_runs_any_component_from_a_bookworm_base() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE=docker\.io/library/debian:bookworm-slim$", text, re.M)
    assert re.search(r"^FROM \$\{BASE\}$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["zuulish"\]$', text, re.M)
    assert re.search(r"^USER zuulish$", text, re.M)
    install = re.search(r"apt-get install[^&]*", text).group(0).split()
    assert set(IMAGE_PACKAGES) <= set(install)
    for source in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for item in source.split():
            assert (ROOT / item).exists(), item


def test_the_dockerignore_keeps_state_and_caches_out_of_the_image() -> None:
    lines = (ROOT / ".dockerignore").read_text().split()
    assert lines[lines.index("*")] == "*"  # everything out, then what the image needs
    assert {"!zuulish/", "!web/", "!jobs/", "!pyproject.toml"} <= set(lines)
    assert "**/__pycache__" in lines
