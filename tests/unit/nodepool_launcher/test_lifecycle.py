"""The launcher with a cloud provider: each node through its lifecycle in the
store, boots that fail or hang retried and then failed with the cloud's reason,
quotas and limits, min-ready, and nothing left behind in the cloud."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from tests.fakes.memory_cloud import Boot, MemoryCloud
from zuulish.clock import SimulatedClock
from zuulish.nodepool.calls import Done, InlineCalls
from zuulish.nodepool.cloud import (
    TAG_NODE,
    TAG_PROVIDER,
    TAG_REQUEST,
    TAG_SYSTEM,
    ErrorKind,
    LabelOffer,
    ProviderError,
)
from zuulish.nodepool.cloud_set import CloudSet
from zuulish.nodepool.launcher import Launcher, LauncherSettings
from zuulish.nodepool.resources import Limits, Resources
from zuulish.store import NodeRequestRow, NodeRow, Store

# the launcher keeps each node's lifecycle in the store: run on PostgreSQL too (CI)
pytestmark = pytest.mark.store

KEYS = ["ssh-ed25519 AAAAnodekey"]


class Ssh:
    """Answers SSH checks: with host keys, or not at all for hosts in ``silent``."""

    def __init__(self) -> None:
        self.silent: set[str] = set()
        self.checked: list[tuple[str, bool]] = []

    def __call__(self, host: str, port: int, timeout: float, scan: bool) -> list[str] | None:
        self.checked.append((host, scan))
        return None if host in self.silent else (list(KEYS) if scan else [])


class World:
    def __init__(self, store: Store, *clouds: MemoryCloud,
                 settings: LauncherSettings | None = None,
                 tenants: dict[str, list[str]] | None = None):
        self.store = store
        self.clock = SimulatedClock(start=1000.0)
        self.clouds = list(clouds)
        self.ssh = Ssh()
        self.settings = settings or LauncherSettings(idle_seconds=30.0)
        self.tenants = tenants
        self.launcher = self.new_launcher()

    def new_launcher(self) -> Launcher:
        """A launcher as a freshly started process makes it (nothing in memory)."""
        return Launcher(self.store, [], self.clock, clouds=CloudSet(self.clouds, self.tenants),
                        settings=self.settings, ssh_check=self.ssh)

    def request(self, labels: list[str], tenant: str | None = "t1", priority: int = 100,
                alternatives: list[list[str]] | None = None) -> int:
        with self.store.session() as s:
            req = NodeRequestRow(build_id=f"b{self.clock.now()}", labels=labels,
                                 priority=priority, created_at=self.clock.now(),
                                 tenant=tenant, alternatives=alternatives or [])
            s.add(req)
            s.flush()
            return req.id

    def run(self, passes: int = 6, seconds: float = 1.0) -> None:
        for _ in range(passes):
            self.launcher.run_once()
            self.clock.advance(seconds)

    def until(self, done: Callable[[], bool], passes: int = 60, seconds: float = 1.0) -> None:
        for _ in range(passes):
            if done():
                return
            self.launcher.run_once()
            self.clock.advance(seconds)
        assert done(), self.describe()

    def request_row(self, request_id: int) -> NodeRequestRow:
        with self.store.read() as s:
            req = s.get(NodeRequestRow, request_id)
            assert req is not None
            return req

    def state(self, request_id: int) -> str:
        return self.request_row(request_id).state

    def nodes(self) -> list[NodeRow]:
        with self.store.read() as s:
            return list(s.scalars(select(NodeRow).order_by(NodeRow.id)))

    def finish(self, request_id: int) -> None:
        """What the executor does when the build is over: its nodes are used."""
        with self.store.session() as s:
            for node in s.scalars(select(NodeRow).where(NodeRow.request_id == request_id,
                                                        NodeRow.state == "in-use")):
                node.state = "used"

    def describe(self) -> str:
        return "\n".join(f"node {n.id} {n.label} {n.state} req={n.request_id} "
                         f"ext={n.external_id} err={n.error}" for n in self.nodes())


def small(name: str = "memory", **kw: object) -> MemoryCloud:
    return MemoryCloud(name=name, **kw)  # type: ignore[arg-type]


def test_a_node_goes_through_its_whole_lifecycle_and_is_deleted(store: Store) -> None:
    cloud = small()
    cloud.default = Boot(looks=3)
    world = World(store, cloud)
    req = world.request(["small"])
    seen: list[str] = []
    for _ in range(8):
        world.launcher.run_once()
        world.clock.advance(1.0)
        nodes = world.nodes()
        if nodes and (not seen or seen[-1] != nodes[0].state):
            seen.append(nodes[0].state)
    assert world.state(req) == "fulfilled"
    assert seen[0] in ("requested", "building") and seen[-1] == "in-use"
    assert "building" in seen
    node = world.nodes()[0]
    assert node.external_id and node.hostname.startswith("10.0.0.")
    assert node.host_keys == KEYS
    assert node.host_vars["ansible_host"] == node.hostname
    assert node.host_vars["ansible_user"] == "zuul"
    assert node.resources == {"instances": 1, "cores": 2, "ram_mb": 2048, "gpus": 0}
    [instance] = cloud.alive()
    assert instance.tags[TAG_SYSTEM] == world.launcher.system_id
    assert instance.tags[TAG_PROVIDER] == "memory"
    assert instance.tags[TAG_NODE] == str(node.id)
    assert instance.tags[TAG_REQUEST] == str(req)
    world.finish(req)
    world.until(lambda: world.nodes()[0].state == "deleted")
    assert cloud.alive() == []


class HeldCalls(InlineCalls):
    """Calls that ended but whose results the launcher has not taken yet (with
    ``Calls``, a call that ends during a pass): while ``hold``, none come back."""

    hold = False

    def finished(self) -> list[Done]:
        return [] if self.hold else super().finished()


def test_a_node_is_created_once_while_its_create_result_waits(store: Store) -> None:
    cloud = small()
    world = World(store, cloud)
    world.launcher.calls = calls = HeldCalls()
    world.run(1)  # the cloud read and swept
    calls.hold = True
    req = world.request(["small"])
    world.run(3)
    assert [c for c in cloud.calls if c[0] == "create"] == [("create", "small")]
    calls.hold = False
    world.until(lambda: world.state(req) == "fulfilled")
    assert len(cloud.alive()) == 1


def test_a_failed_boot_is_deleted_and_tried_again(store: Store) -> None:
    cloud = small()
    cloud.plans = [Boot(outcome="error", reason="No valid host was found.")]
    world = World(store, cloud)
    req = world.request(["small"])
    world.until(lambda: world.state(req) == "fulfilled")
    states = [n.state for n in world.nodes()]
    assert states == ["deleted", "in-use"]
    assert world.nodes()[0].error == "No valid host was found."
    assert len(cloud.alive()) == 1


def test_boots_failing_every_time_fail_the_request_with_the_clouds_reason(
        store: Store) -> None:
    cloud = small(launch_attempts=2)
    cloud.default = Boot(outcome="error", reason="No valid host was found. There are not "
                                                 "enough hosts available.")
    world = World(store, cloud)
    req = world.request(["small"])
    world.until(lambda: world.state(req) == "failed")
    error = world.request_row(req).error or ""
    assert "No valid host was found" in error and "2 of 2 attempts" in error
    world.until(lambda: not cloud.alive())
    assert {n.state for n in world.nodes()} == {"deleted"}


def test_a_boot_stuck_past_launch_timeout_is_deleted_and_retried(store: Store) -> None:
    cloud = small(launch_timeout=10.0)
    cloud.plans = [Boot(outcome="stuck")]
    world = World(store, cloud)
    req = world.request(["small"])
    world.until(lambda: world.state(req) == "fulfilled", seconds=2.0)
    first = world.nodes()[0]
    assert "did not become ready within 10 s" in (first.error or "")
    world.until(lambda: len(cloud.alive()) == 1)


def test_a_node_that_never_answers_ssh_is_deleted_after_boot_timeout(store: Store) -> None:
    cloud = small(boot_timeout=5.0, launch_attempts=1)
    world = World(store, cloud)
    world.ssh.silent = {"10.0.0.2"}  # the first instance's address
    req = world.request(["small"])
    world.until(lambda: world.state(req) == "failed")
    assert "did not answer SSH within 5 s" in (world.request_row(req).error or "")
    world.until(lambda: not cloud.alive())


def test_without_host_key_checking_ssh_is_only_checked_to_answer(store: Store) -> None:
    cloud = small(host_key_checking=False)
    world = World(store, cloud)
    req = world.request(["small"])
    world.until(lambda: world.state(req) == "fulfilled")
    assert world.ssh.checked and not any(scan for _, scan in world.ssh.checked)
    assert world.nodes()[0].host_keys == []


def test_the_provider_limit_makes_requests_wait_in_priority_order(store: Store) -> None:
    cloud = small(limits=Limits(instances=1))
    world = World(store, cloud)
    low = world.request(["small"], priority=300)
    high = world.request(["small"], priority=100)
    world.until(lambda: world.state(high) == "fulfilled")
    world.run(3)
    assert world.state(low) == "requested"
    world.finish(high)
    world.until(lambda: world.state(low) == "fulfilled")
    assert len(cloud.alive()) == 1


def test_the_clouds_own_quota_counts_cores(store: Store) -> None:
    cloud = small()
    cloud.cloud_quota = Limits(cores=4)  # two nodes of 2 cores
    world = World(store, cloud)
    reqs = [world.request(["small"]) for _ in range(3)]
    world.run(8)
    assert [world.state(r) for r in reqs] == ["fulfilled", "fulfilled", "requested"]


def test_a_provider_over_quota_hands_the_request_to_the_next(store: Store) -> None:
    first, second = small("first"), small("second")
    first.refuse = [ProviderError("Quota exceeded for instances: Requested 1, but already "
                                  "used 10 of 10 instances", ErrorKind.QUOTA)]
    world = World(store, first, second)
    req = world.request(["small"])
    world.until(lambda: world.state(req) == "fulfilled")
    node = [n for n in world.nodes() if n.state == "in-use"][0]
    assert node.provider == "second"
    assert "Quota exceeded" in (world.nodes()[0].error or "")
    assert world.request_row(req).failures == 0  # quota is not a failed attempt


def test_an_unknown_flavor_fails_the_request_at_once_with_the_reason(store: Store) -> None:
    cloud = small()
    cloud.refuse = [ProviderError("Flavor gpu-huge could not be found.", ErrorKind.PERMANENT)]
    world = World(store, cloud)
    req = world.request(["small"])
    world.until(lambda: world.state(req) == "failed")
    assert "Flavor gpu-huge could not be found." in (world.request_row(req).error or "")
    assert [c for c in cloud.calls if c[0] == "create"] == [("create", "small")]


def test_a_cloud_that_answers_500_to_create_is_retried(store: Store) -> None:
    cloud = small()
    cloud.refuse = [ProviderError("500 Internal Server Error", ErrorKind.TRANSIENT)]
    world = World(store, cloud)
    req = world.request(["small"])
    world.until(lambda: world.state(req) == "fulfilled")
    assert world.request_row(req).failures == 1


def test_other_requests_are_served_while_one_provider_fails(store: Store) -> None:
    broken = MemoryCloud(name="broken", labels={"gpu": LabelOffer(
        "gpu", Resources(instances=1, gpus=1), "A100")}, launch_attempts=1)
    broken.default = Boot(outcome="error", reason="PCI device not available")
    fine = small("fine")
    world = World(store, broken, fine)
    gpu = world.request(["gpu"])
    plain = world.request(["small"])
    world.until(lambda: world.state(gpu) == "failed" and world.state(plain) == "fulfilled")
    assert "PCI device not available" in (world.request_row(gpu).error or "")


def test_min_ready_keeps_nodes_warm_and_hands_them_out_at_once(store: Store) -> None:
    cloud = MemoryCloud(labels={"small": LabelOffer("small", Resources(instances=1),
                                                    min_ready=2)})
    world = World(store, cloud)
    world.until(lambda: sum(n.state == "ready" for n in world.nodes()) == 2)
    req = world.request(["small"])
    world.launcher.run_once()
    assert world.state(req) == "fulfilled"  # a warm node, no boot to wait for
    world.until(lambda: sum(n.state == "ready" for n in world.nodes()) == 2)
    assert len(cloud.alive()) == 3


def test_nodes_of_a_canceled_request_serve_others_then_go(store: Store) -> None:
    cloud = small()
    cloud.default = Boot(looks=4)
    world = World(store, cloud)
    req = world.request(["small"])
    world.run(2)
    with store.session() as s:
        s.get(NodeRequestRow, req).state = "canceled"  # type: ignore[union-attr]
    other = world.request(["small"])
    world.until(lambda: world.state(other) == "fulfilled")
    assert len(cloud.alive()) == 1  # the canceled request's node served the other one
    with store.session() as s:
        s.get(NodeRequestRow, other).state = "canceled"  # type: ignore[union-attr]
    world.finish(other)
    world.until(lambda: not cloud.alive(), passes=80)


def test_a_spare_node_nobody_needs_is_deleted_after_a_while(store: Store) -> None:
    cloud = small()
    world = World(store, cloud)
    req = world.request(["small"])
    world.run(1)
    with store.session() as s:
        s.get(NodeRequestRow, req).state = "canceled"  # type: ignore[union-attr]
    world.run(5)
    assert len(cloud.alive()) == 1  # kept a while in case a request wants it
    world.until(lambda: not cloud.alive(), passes=60)


def test_leaked_instances_are_deleted_and_others_left_alone(store: Store) -> None:
    cloud = small()
    world = World(store, cloud)
    sid = world.launcher.system_id
    leaked = cloud.plant("small", {TAG_SYSTEM: sid, TAG_PROVIDER: "memory", TAG_NODE: "999"})
    foreign = cloud.plant("small", {TAG_SYSTEM: "another-zuulish", TAG_PROVIDER: "memory",
                                    TAG_NODE: "1"})
    other_provider = cloud.plant("small", {TAG_SYSTEM: sid, TAG_PROVIDER: "elsewhere",
                                           TAG_NODE: "1"})
    world.run(2)
    alive = {i.id for i in cloud.alive()}
    assert leaked not in alive
    assert {foreign, other_provider} <= alive


def test_records_of_instances_the_cloud_lost_are_closed(store: Store) -> None:
    cloud = small()
    world = World(store, cloud, settings=LauncherSettings(sweep_seconds=100.0))
    req = world.request(["small"])
    world.until(lambda: world.state(req) == "fulfilled")
    world.finish(req)
    node = world.nodes()[0]
    cloud.instances_by_id[node.external_id].deleted = True  # type: ignore[index]
    cloud.down = ProviderError("503 Service Unavailable")  # delete calls fail...
    world.run(3)
    assert world.nodes()[0].state == "deleting"
    cloud.down = None
    world.until(lambda: world.nodes()[0].state == "deleted", passes=200)


def test_a_launcher_started_again_adopts_what_it_created_before_it_died(
        store: Store) -> None:
    cloud = small()
    world = World(store, cloud)
    with store.session() as s:
        req = NodeRequestRow(build_id="b", labels=["small"], priority=100, created_at=0.0,
                             tenant="t1", state="pending", provider="memory")
        s.add(req)
        s.flush()
        node = NodeRow(provider="memory", label="small", state="requested", hostname="",
                       request_id=req.id, created_at=world.clock.now(),
                       state_at=world.clock.now(), resources={"instances": 1})
        s.add(node)
        s.flush()
        req_id, node_id = req.id, node.id
    # the old launcher asked the cloud, then was killed before it wrote the answer
    made = cloud.plant("small", {TAG_SYSTEM: world.launcher.system_id,
                                 TAG_PROVIDER: "memory", TAG_NODE: str(node_id)})
    world.launcher = world.new_launcher()
    world.until(lambda: world.state(req_id) == "fulfilled")
    assert [i.id for i in cloud.alive()] == [made]
    assert world.nodes()[0].external_id == made


def test_a_launcher_started_again_finishes_boots_and_deletes(store: Store) -> None:
    cloud = small()
    cloud.default = Boot(looks=5)
    world = World(store, cloud)
    first = world.request(["small"])
    second = world.request(["small"])
    world.run(2)
    assert {n.state for n in world.nodes()} == {"building"}
    world.launcher = world.new_launcher()  # killed and started again
    world.until(lambda: world.state(first) == "fulfilled" == world.state(second))
    world.finish(first)
    world.run(2)
    world.launcher = world.new_launcher()
    world.until(lambda: len(cloud.alive()) == 1)
    assert len(cloud.instances_by_id) == 2  # nothing booted twice


def test_alternatives_are_tried_in_order(store: Store) -> None:
    cloud = small(launch_attempts=1)
    cloud.plans = [Boot(outcome="error", reason="no capacity for this flavor")]
    cloud.offers["large"] = LabelOffer("large", Resources(instances=1, cores=8))
    world = World(store, cloud)
    req = world.request(["large"], alternatives=[["large"], ["small"]])
    world.until(lambda: world.state(req) == "fulfilled")
    row = world.request_row(req)
    assert row.alternative == 1 and row.labels == ["small"]
    unknown = world.request(["nope"], alternatives=[["nope"], ["small"]])
    world.until(lambda: world.state(unknown) == "fulfilled")


def test_a_label_no_provider_offers_is_declined(store: Store) -> None:
    world = World(store, small())
    req = world.request(["gpu"])
    world.run(1)
    row = world.request_row(req)
    assert row.state == "declined" and "labels offered: small" in (row.error or "")


def test_scarce_gpu_nodes_are_shared_between_tenants_by_weight(store: Store) -> None:
    gpu = MemoryCloud(name="gpus", labels={"gpu": LabelOffer(
        "gpu", Resources(instances=1, gpus=1), "H200")}, limits=Limits(instances=2))
    world = World(store, gpu)
    flood = [world.request(["gpu"], tenant="big", priority=100) for _ in range(6)]
    small_tenant = world.request(["gpu"], tenant="small", priority=200)
    world.until(lambda: sum(world.state(r) == "fulfilled" for r in flood) >= 1)
    world.run(3)
    # one of the two GPUs went to the small tenant, though its request came last
    # and its pipeline's precedence is lower
    assert world.state(small_tenant) == "fulfilled"
    assert sum(world.state(r) == "fulfilled" for r in flood) == 1


def test_tenant_resource_limits(store: Store) -> None:
    settings = LauncherSettings(tenant_limits={"t1": Limits(cores=2)})
    world = World(store, small(), settings=settings)
    a = world.request(["small"], tenant="t1")
    b = world.request(["small"], tenant="t1")
    c = world.request(["small"], tenant="t2")
    world.run(6)
    assert [world.state(r) for r in (a, b, c)] == ["fulfilled", "requested", "fulfilled"]


def test_a_tenant_only_uses_its_own_providers(store: Store) -> None:
    world = World(store, small("shared"), small("private"),
                  tenants={"t1": ["private"], "t2": ["shared"]})
    a = world.request(["small"], tenant="t1")
    b = world.request(["small"], tenant="t2")
    world.until(lambda: world.state(a) == "fulfilled" == world.state(b))
    by_request = {n.request_id: n.provider for n in world.nodes()}
    assert by_request == {a: "private", b: "shared"}


@pytest.mark.parametrize("error", [
    ProviderError("The request you have made requires authentication.", ErrorKind.PERMANENT),
])
def test_a_provider_that_cannot_read_its_cloud_fails_requests_with_the_reason(
        store: Store, error: ProviderError) -> None:
    cloud = small()
    cloud.down = error
    world = World(store, cloud)
    req = world.request(["small"])
    world.until(lambda: world.state(req) == "failed")
    assert "requires authentication" in (world.request_row(req).error or "")


def test_a_node_asking_for_gpus_gets_the_smallest_label_that_has_them(store: Store) -> None:
    cloud = MemoryCloud(name="gpus", labels={
        "cpu": LabelOffer("cpu", Resources(instances=1, cores=4)),
        "one-h200": LabelOffer("one-h200", Resources(instances=1, cores=16, gpus=1), "H200"),
        "two-a100": LabelOffer("two-a100", Resources(instances=1, cores=32, gpus=2),
                               "NVIDIA A100-SXM4-80GB"),
        "eight-a100": LabelOffer("eight-a100", Resources(instances=1, cores=96, gpus=8),
                                 "NVIDIA A100-SXM4-80GB")})
    world = World(store, cloud)
    two = world.request([{"gpus": 2, "gpu-model": None}])
    a100 = world.request([{"gpus": 1, "gpu-model": "a100"}])
    plain = world.request(["cpu"])
    too_many = world.request([{"gpus": 16, "gpu-model": None}])
    world.until(lambda: all(world.state(r) != "requested" for r in (two, a100, plain)))
    world.run(2)
    labels = {n.request_id: n.label for n in world.nodes()}
    assert labels[two] == "two-a100" and labels[a100] == "two-a100"
    assert labels[plain] == "cpu"  # a job that did not ask for a GPU never gets one
    row = world.request_row(too_many)
    assert row.state == "declined" and "16 GPU(s)" in (row.error or "")


def test_quota_exhausted_mid_boot_hands_the_request_to_the_next_provider(
        store: Store) -> None:
    first, second = small("first"), small("second")
    first.default = Boot(outcome="error", kind=ErrorKind.QUOTA,
                         reason="Quota exceeded for cores: Requested 2, but already used 8 "
                                "of 8 cores")
    world = World(store, first, second)
    req = world.request(["small"])
    world.until(lambda: world.state(req) == "fulfilled")
    assert [n.provider for n in world.nodes() if n.state == "in-use"] == ["second"]
    world.until(lambda: not first.alive())


class HeldRefresh(InlineCalls):
    """Inline calls, but the providers' refreshes wait until ``release``: the cloud
    answers the first read late, as a real one may."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[tuple, Callable[[], object]]] = []

    def submit(self, key: tuple, fn: Callable[[], object]) -> None:
        if key[0] == "refresh" and self.held is not None:
            self.held.append((key, fn))
            self._busy.add(key)
            return
        super().submit(key, fn)

    def release(self) -> None:
        held, self.held = self.held, None  # type: ignore[assignment]
        for key, fn in held:
            self._busy.discard(key)
            super().submit(key, fn)


class GpusKnownAfterRefresh(MemoryCloud):
    """Its label's GPUs are known once the cloud was read (as flavors' are)."""

    def refresh(self) -> None:
        super().refresh()
        self.offers = {"gpu": LabelOffer("gpu", Resources(instances=1, gpus=1), "A10")}


def test_a_gpu_request_waits_for_the_clouds_to_be_read_before_it_is_declined(
        store: Store) -> None:
    cloud = GpusKnownAfterRefresh(name="late", labels={"gpu": LabelOffer("gpu")})
    world = World(store, cloud)
    calls = HeldRefresh()
    world.launcher.calls = calls
    req = world.request([{"gpus": 1, "gpu-model": None}])
    world.run(3)
    assert world.state(req) == "requested", world.request_row(req).error
    calls.release()
    world.until(lambda: world.state(req) == "fulfilled")
    assert [n.label for n in world.nodes()] == ["gpu"]


def test_a_label_the_cloud_lacks_fails_while_the_providers_others_are_served(
        store: Store) -> None:
    from dataclasses import replace

    cloud = small()
    cloud.offers["gpu"] = LabelOffer("gpu", Resources(instances=1, gpus=1), "A100",
                                     error="provider 'memory', label 'gpu': flavor "
                                           "'g1.a100' does not exist in the cloud")
    cloud.offers["small"] = replace(cloud.offers["small"])
    world = World(store, cloud)
    bad = world.request(["gpu"])
    good = world.request(["small"])
    world.until(lambda: world.state(bad) == "failed" and world.state(good) == "fulfilled")
    assert "flavor 'g1.a100' does not exist in the cloud" in (
        world.request_row(bad).error or "")
    assert [c for c in cloud.calls if c == ("create", "gpu")] == []


def test_nodes_of_a_provider_that_left_the_configuration_are_still_deleted(
        store: Store) -> None:
    old, new = small("old"), small("new")
    old.default = Boot(looks=3)
    world = World(store, old, new)
    used = world.request(["small"])
    world.until(lambda: world.state(used) == "fulfilled")
    booting = world.request(["small"])
    world.run(1)
    assert {n.provider for n in world.nodes()} == {"old"}
    world.launcher.clouds.retire("old")  # a config change removed it
    world.until(lambda: world.state(booting) == "fulfilled")
    assert [n.provider for n in world.nodes() if n.request_id == booting] == ["new"]
    world.finish(used)
    world.until(lambda: not old.alive())
    assert [c for c in old.calls if c[0] == "create"] == [("create", "small")] * 2


def test_warm_boots_that_fail_are_not_tried_again_at_once(store: Store) -> None:
    cloud = MemoryCloud(labels={"small": LabelOffer("small", Resources(instances=1),
                                                    min_ready=1)})
    cloud.default = Boot(outcome="error", reason="image not known")
    world = World(store, cloud)
    world.run(20, seconds=1.0)  # 20 s: within the 30 s pause after a failed warm boot
    assert len(world.nodes()) == 1
    world.run(40, seconds=1.0)
    assert 2 <= len(world.nodes()) <= 3


def test_a_provider_rebuilt_by_a_config_change_is_read_again_at_once(store: Store) -> None:
    first = small("p")
    clouds = CloudSet([first])
    world = World(store, first)
    world.launcher.clouds = clouds
    world.run(2)
    assert first.refreshed == 1
    second = small("p")  # the same provider, as a changed configuration makes it
    clouds._providers["p"] = second
    world.run(1)
    assert second.refreshed == 1
