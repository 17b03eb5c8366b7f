"""The local node's parts that need no sandbox: its agent's protocol, its bwrap
arguments, its passwd, its cgroups, the disk limit, and the host paths rule."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from zuulish.executor import disk_limit, node_agent, node_cgroup
from zuulish.executor.local_node import bwrap_args, passwd, refused_host_path


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[str]:
    """The agent serving on a socket in ``tmp_path`` (in this process, unsandboxed)."""
    path = str(tmp_path / "agent.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    threading.Thread(target=node_agent.serve, args=(listener,), daemon=True).start()
    yield path
    listener.close()


def test_the_agent_runs_commands_with_input_in_a_directory(agent: str, tmp_path: Path) -> None:
    rc, out, err = node_agent.run(agent, "cat; pwd; echo oops >&2; exit 3", b"in\n",
                                  str(tmp_path))
    assert (rc, out, err) == (3, f"in\n{tmp_path}\n".encode(), b"oops\n")


def test_the_agent_puts_and_fetches_files(agent: str, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    node_agent.request(agent, {"op": "put", "path": str(tmp_path / "f")}, data)
    assert (tmp_path / "f").read_bytes() == data
    assert node_agent.request(agent, {"op": "fetch", "path": str(tmp_path / "f")})[1] == data
    with pytest.raises(node_agent.AgentError, match="No such file"):
        node_agent.request(agent, {"op": "fetch", "path": str(tmp_path / "missing")})
    with pytest.raises(node_agent.AgentError, match="unknown request"):
        node_agent.request(agent, {"op": "format-disk"})


def test_header_only_requests_are_answered_every_time(agent: str) -> None:
    for _ in range(200):  # the agent answers and closes before the client is done sending
        assert node_agent.request(agent, {"op": "ping"})[0]["ok"] is True


def test_a_command_whose_client_goes_away_is_killed(agent: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran-to-the-end"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(agent)
    node_agent.send(sock, {"op": "exec", "cmd": f"sleep 2; touch {marker}", "cwd": None})
    time.sleep(0.3)
    sock.close()  # a canceled task
    time.sleep(2.5)
    assert not marker.exists()


def test_an_unreachable_agent_is_an_agent_error(tmp_path: Path) -> None:
    with pytest.raises(node_agent.AgentError, match="did not answer"):
        node_agent.request(str(tmp_path / "none.sock"), {"op": "ping"})


def test_long_socket_paths_are_reached_through_the_directory(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = str(deep / "agent.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with node_agent.short_path(path) as address:
        assert len(address) < 100
        listener.bind(address)
    listener.listen(1)
    threading.Thread(target=node_agent.serve, args=(listener,), daemon=True).start()
    assert node_agent.request(path, {"op": "ping"})[0]["ok"] is True
    listener.close()


def test_the_node_sees_neither_the_state_dir_nor_root_and_has_no_capabilities(
        tmp_path: Path) -> None:
    work = tmp_path / "state" / "builds" / "b1" / "work"
    tools = tmp_path / "tools"
    tools.mkdir()
    args = bwrap_args(work, (tools,), "private", 250, tmp_path / "passwd")
    text = " ".join(args)
    assert ["--bind", str(work), str(work)] == args[args.index("--bind"):][:3]
    assert f"--ro-bind {tools} {tools}" in text
    assert f"--ro-bind {tmp_path / 'passwd'} /etc/passwd" in text
    assert "--cap-drop ALL" in text and "--unshare-net" in text and "--unshare-pid" in text
    assert f"--size {250 * 1024 * 1024} --tmpfs /tmp" in text
    assert "--clearenv" in text
    bound = [args[i + 1] for i, a in enumerate(args) if a in ("--bind", "--ro-bind")]
    assert not any(p in ("/", "/root", "/home", "/etc", "/var", "/run", str(tmp_path / "state"))
                   for p in bound)
    assert "--unshare-net" not in bwrap_args(work, (), "host", 250)


def test_the_node_passwd_makes_its_work_dir_home(tmp_path: Path) -> None:
    source = tmp_path / "passwd"
    source.write_text(f"me:x:{os.getuid()}:0:me:/root:/bin/sh\n"
                      "other:x:12345:12345::/home/other:/bin/sh\n")
    lines = passwd(tmp_path / "work", source).splitlines()
    assert lines == [f"me:x:{os.getuid()}:0:me:{tmp_path / 'work'}:/bin/sh",
                     "other:x:12345:12345::/home/other:/bin/sh"]


@pytest.mark.parametrize("path", ["state", "state/keys", ".", "/"])
def test_host_paths_may_not_show_the_state_dir(tmp_path: Path, path: str) -> None:
    given = Path(path) if path == "/" else tmp_path / path
    assert refused_host_path(given, tmp_path / "state") is not None


def test_other_host_paths_are_allowed(tmp_path: Path) -> None:
    assert refused_host_path(tmp_path / "tools", tmp_path / "state") is None
    assert "not an absolute path" in str(refused_host_path(Path("tools"), tmp_path))


def test_disk_usage_counts_blocks_once_and_follows_no_link(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 1_000_000)
    os.link(tmp_path / "a", tmp_path / "b")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "big").write_bytes(b"y" * 3_000_000)
    work = tmp_path / "work"
    work.mkdir()
    os.rename(tmp_path / "a", work / "a")
    os.rename(tmp_path / "b", work / "b")
    (work / "link").symlink_to(tmp_path / "outside")
    used = disk_limit.usage(work)
    assert 1_000_000 <= used < 1_200_000


def test_the_disk_watch_calls_once_past_the_limit(tmp_path: Path) -> None:
    called = threading.Event()
    watch = disk_limit.DiskWatch(tmp_path, 1, called.set, interval=0.05).start()
    time.sleep(0.2)
    assert not called.is_set()
    (tmp_path / "big").write_bytes(b"z" * 2 * 1024 * 1024)
    assert called.wait(5)
    assert watch.exceeded
    watch.stop()
    assert disk_limit.message(250) == ("the build's work directory exceeded the disk "
                                       "limit of 250 MB")


def test_a_node_cgroup_limits_processes_and_is_removed(tmp_path: Path) -> None:
    group = node_cgroup.create(f"unit-{os.getpid()}", 7, 64)
    try:
        if "pids" in group.missing:
            pytest.skip("no writable pids cgroup here")
        pids = next(d for d in group.directories if (d / "pids.max").exists())
        assert (pids / "pids.max").read_text().strip() == "7"
    finally:
        group.kill()
        group.remove()
    assert not any(d.exists() for d in group.directories)


def test_a_node_without_pasta_does_not_start_and_says_why(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from zuulish.executor import local_node, sandbox

    monkeypatch.setattr(sandbox, "find_pasta", lambda: None)
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: "/usr/bin/bwrap")
    node = local_node.LocalNode(tmp_path / "build", "no-pasta")
    with pytest.raises(local_node.NodeError, match="local nodes cannot run with "
                       "executor.sandbox_network: private"):
        node.start()
    assert not node.running


def test_empty_node_cgroups_left_behind_are_removed() -> None:
    group = node_cgroup.create(f"stale-{os.getpid()}", 7, 64)
    if not group.directories:
        pytest.skip("no writable cgroup here")
    assert node_cgroup.remove_stale(older_than=3600) == 0 or all(
        d.exists() for d in group.directories)
    node_cgroup.remove_stale(older_than=0)
    assert not any(d.exists() for d in group.directories)
