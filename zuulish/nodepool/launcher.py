"""The launcher: fulfils node requests from the providers that offer their labels.

Two kinds of providers serve requests:

- pools of machines that are always there (``local``, ``static``: the
  ``Provider`` protocol): a node is handed out in the transaction that serves
  the request, and given back when its build is done;
- clouds that boot nodes on demand (``openstack``, ``aws``, ``podman``: the
  ``CloudProvider`` protocol). Every node goes through its lifecycle in the store
  (``NodeState``): requested -> building -> ready -> in-use -> used -> deleting ->
  deleted, or failed -> deleting when its boot fails, or held by an autohold. The
  launcher keeps no state of its own that matters: a launcher stopped at any
  moment, even by SIGKILL, and started again carries on from the store (and
  adopts or deletes what the cloud made that the store did not record).

Cloud calls never happen inside a store transaction: each pass applies the
results of the calls that ended (``calls``), decides in short transactions, and
submits new calls. Requests are served in the order of ``capacity.serving_order``,
each by the first provider (of the tenant's, in order) that offers all its labels
and has room under its limits, the cloud's quota and the tenant's limits; one
that failed the request is tried again only when no other can serve it. A boot
that fails, times out or never answers SSH is deleted and the request tried
again, up to the provider's ``launch-attempts``; then the nodeset's next
alternative is tried, and after the last the request fails with the cloud's
reason. Ready nodes are kept warm per label (``min-ready``).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from zuulish.clock import Clock
from zuulish.metrics import ProcessMetrics
from zuulish.model.node import NodeState
from zuulish.model.node_request import NodeRequestState as RS
from zuulish.nodepool.calls import Done, InlineCalls
from zuulish.nodepool.capacity import Usage, load_usage, serving_order
from zuulish.nodepool.cloud import (
    TAG_NODE,
    TAG_PROVIDER,
    TAG_REQUEST,
    TAG_SYSTEM,
    CloudProvider,
    ErrorKind,
    Instance,
    InstanceState,
    ProviderError,
)
from zuulish.nodepool.cloud_set import CloudSet
from zuulish.nodepool.holds import expired_holds
from zuulish.nodepool.leaks import NodeRecord, plan_sweep
from zuulish.nodepool.provider import LaunchedNode, Provider
from zuulish.nodepool.resources import Limits, Resources
from zuulish.nodepool.ssh_check import check_ssh
from zuulish.nodepool.wants import Want, describe_all, gpu_want, label_errors, resolve
from zuulish.store import NodeRequestRow, NodeRow, SettingRow, Store
from zuulish.store import notify as channels
from zuulish.store.database import after_commit

log = logging.getLogger(__name__)

HOLD_CHECK_SECONDS = 10.0  # how often expired autoholds are looked for
NODE_CALLS = ("create", "probe", "delete")  # calls about one node (key[1]: its id)

SshCheck = Callable[[str, int, float, bool], "list[str] | None"]


@dataclass
class LauncherSettings:
    """How the launcher paces itself, and the tenants' shares (``zuulish.yaml``
    ``nodepool.tenant-resource-limits`` and ``nodepool.tenant-weights``)."""

    tenant_limits: Mapping[str, Limits] = field(default_factory=dict)
    tenant_weights: Mapping[str, float] = field(default_factory=dict)
    poll_seconds: float = 1.0       # how often a booting node is looked at
    delete_seconds: float = 10.0    # how often a delete is asked for again
    sweep_seconds: float = 300.0    # how often leaks are looked for
    refresh_seconds: float = 600.0  # how often flavors and quotas are read again
    quota_wait_seconds: float = 30.0  # a provider over quota is left alone this long
    idle_seconds: float = 60.0      # a ready node nobody needs is deleted after this
    ssh_timeout: float = 5.0        # one SSH check of a booted node


def system_id(store: Store) -> str:
    """This installation's id (tags its cloud instances), made on first use."""
    with store.session() as s:
        row = s.get(SettingRow, "system-id")
        if row is None:
            row = SettingRow(key="system-id", value=uuid.uuid4().hex[:16])
            s.add(row)
        return row.value


class Launcher:
    def __init__(self, store: Store, providers: list[Provider], clock: Clock,
                 clouds: CloudSet | None = None, calls: InlineCalls | None = None,
                 settings: LauncherSettings | None = None, ssh_check: SshCheck = check_ssh,
                 metrics: ProcessMetrics | None = None):
        self.store = store
        self.metrics = metrics or ProcessMetrics()
        self.providers = providers
        self.clock = clock
        self.clouds = clouds or CloudSet()
        self.calls = calls or InlineCalls()
        self.settings = settings or LauncherSettings()
        self.ssh_check = ssh_check
        self._system_id: str | None = None
        self._next: dict[tuple, float] = {}           # call key -> not before
        self._swept: set[str] = set()                 # providers swept since start
        self._quota: dict[str, Limits] = {}
        self._broken: dict[str, str] = {}             # provider -> why it cannot serve
        self._quota_until: dict[str, float] = {}      # provider -> left alone until
        self._idle_since: dict[int, float] = {}
        self._looked: set[str] = set()  # providers whose cloud was read (or tried) once
        self._built: dict[str, CloudProvider] = {}  # the provider object last read
        self._ready_backoff: dict[tuple[str, str], float] = {}  # min-ready boots paused
        self._adopted = False  # pool providers told of the nodes they handed out before

    @property
    def system_id(self) -> str:
        if self._system_id is None:
            self._system_id = system_id(self.store)
        return self._system_id

    # ------------------------------------------------------------ the loop
    def run_once(self) -> bool:
        if self.clouds.providers():
            _ = self.system_id  # read before any transaction (it may write it)
        busy = self._apply(self.calls.finished())
        self._adopt_pool_nodes()
        busy = self._expire_holds() or busy
        busy = self._release_used() > 0 or busy
        self._refresh_pools()
        self._schedule_provider_calls()
        busy = self._apply(self.calls.finished()) or busy
        busy = self._fulfil() > 0 or busy  # (and frees the nodes of canceled requests)
        busy = self._assign() > 0 or busy
        busy = self._fulfil() > 0 or busy
        self._keep_ready()
        self._schedule_node_calls()
        busy = self._apply(self.calls.finished()) or busy
        busy = self._fulfil() > 0 or busy
        return busy

    def close(self) -> None:
        self.calls.close()

    def _due(self, key: tuple, every: float) -> bool:
        """True (and the next time set) when ``key``'s call may be made now."""
        now = self.clock.now()
        if self.calls.busy(key) or self._next.get(key, float("-inf")) > now:
            return False
        self._next[key] = now + every
        return True

    # ------------------------------------------------------------ pools
    def _pool_for(self, wants: list[Want]) -> Provider | None:
        for provider in self.providers:
            if all(isinstance(w, str) and w in provider.labels for w in wants):
                return provider
        return None

    def _adopt_pool_nodes(self) -> None:
        """Once, at start: tell pool providers that keep what they hand out (the local
        provider's GPUs; an ``adopt`` method) which of their nodes are still live."""
        if self._adopted:
            return
        self._adopted = True
        adopting = {p.name: p for p in self.providers if hasattr(p, "adopt")}
        if not adopting:
            return
        with self.store.read() as s:
            rows = s.scalars(select(NodeRow).where(
                NodeRow.provider.in_(list(adopting)),
                NodeRow.state.in_((NodeState.READY, NodeState.IN_USE, NodeState.USED,
                                   NodeState.HELD)))).all()
            live = [(row.provider, dict(row.host_vars or {})) for row in rows]
        for name, provider in adopting.items():
            provider.adopt([hv for owner, hv in live if owner == name])

    def _refresh_pools(self) -> None:
        """Let pool providers look at their machines for the labels asked for,
        before the transaction that hands nodes out."""
        if not self.providers:
            return
        with self.store.read() as s:
            wanted = {label for labels in s.scalars(select(NodeRequestRow.labels).where(
                NodeRequestRow.state == RS.REQUESTED)) for label in labels
                if isinstance(label, str)}
        if wanted:
            for provider in self.providers:
                if wanted & set(provider.labels):
                    provider.refresh(wanted)

    @staticmethod
    def _launch_all(provider: Provider, labels: list[str],
                    busy: Counter[str]) -> list[LaunchedNode] | None:
        """One node per label, or None (and nothing taken) when one cannot be had."""
        taken: list[LaunchedNode] = []
        for label in labels:
            node = provider.launch(label, busy)
            if node is None:
                for node in taken:
                    provider.release(node.hostname, node.host_vars)
                return None
            busy[node.hostname] += 1
            taken.append(node)
        return taken

    def _serve_from_pool(self, s: Session, req: NodeRequestRow, provider: Provider
                         ) -> bool | None:
        """True: served; False: the provider is at its ``max_nodes``; None: it had
        room, but not the nodes (a static host busy, every GPU held)."""
        # A used node not yet released still holds its host: the executor may have
        # marked it used (its host lost) after this pass's release step.
        busy = Counter(s.scalars(select(NodeRow.hostname).where(
            NodeRow.provider == provider.name,
            NodeRow.state.in_((NodeState.READY, NodeState.IN_USE, NodeState.USED,
                               NodeState.HELD)))).all())
        if sum(busy.values()) + len(req.labels) > provider.max_nodes:
            return False
        launched = self._launch_all(provider, list(req.labels), busy)
        if launched is None:
            return None
        now = self.clock.now()
        node_ids = []
        for label, node in zip(req.labels, launched, strict=True):
            row = NodeRow(provider=provider.name, label=label, state=NodeState.IN_USE,
                          zone=getattr(provider, "zone", None), hostname=node.hostname,
                          host_vars=node.host_vars,
                          host_keys=list(node.host_keys), request_id=req.id,
                          tenant=req.tenant, created_at=now, state_at=now,
                          resources={"instances": 1,
                                     **({"gpus": g} if (g := _pool_gpus(provider, [label]))
                                        else {})})
            s.add(row)
            s.flush()
            node_ids.append(row.id)
        req.node_ids, req.state, req.fulfilled_at = node_ids, RS.FULFILLED, now
        after_commit(s, self.metrics.node_request_fulfilled, provider.name, req.created_at,
                     now)
        return True

    # ------------------------------------------------------------ assignment
    def _offers_all(self, provider: CloudProvider, wants: Iterable[Want]) -> bool:
        return resolve(provider.offers, wants) is not None

    def _cost(self, provider: CloudProvider, label: str) -> Resources:
        return provider.offers[label].resources

    def _limits(self, provider: CloudProvider) -> Limits:
        return provider.limits.tightest(self._quota.get(provider.name, Limits()))

    def _assign(self) -> int:
        """Serve waiting requests (see the module); the number answered or started."""
        handled = 0
        clouds = self.clouds.providers()
        scarce_labels = {label for p in clouds.values() for label, offer in p.offers.items()
                         if offer.resources.gpus > 0 or offer.baremetal}
        now = self.clock.now()
        with self.store.session() as s:
            requests = s.scalars(select(NodeRequestRow)
                                 .options(defer(NodeRequestRow.node_ids),  # rarely read:
                                          defer(NodeRequestRow.alternatives))  # not loaded
                                 .where(NodeRequestRow.state == RS.REQUESTED)
                                 .order_by(NodeRequestRow.priority, NodeRequestRow.id)
                                 .with_for_update(skip_locked=True)).all()
            if not requests:
                return 0
            usage = load_usage(s, scarce_labels)
            full: set[str] = set()  # providers that made a request wait: keep the order
            everyone = {p.name for p in self.providers} | set(self.clouds.providers())
            for req in serving_order(requests, lambda r: _scarce(r.labels, scarce_labels), usage,
                                     self.settings.tenant_weights):
                handled += self._serve(s, req, usage, full, scarce_labels, now)
                if everyone <= full:
                    break  # no provider has room: the rest wait (and none is declined)
        if handled:
            self.store.notifier.notify(channels.SCHEDULER)
        return handled

    def _serve(self, s: Session, req: NodeRequestRow, usage: Usage, full: set[str],
               scarce_labels: set[str], now: float) -> int:
        """1 when ``req`` was answered or its nodes were started; 0 when it waits."""
        labels = list(req.labels)
        pool = self._pool_for(labels)
        if pool is not None:
            # a request for a pool's GPUs that must wait holds back the requests for
            # its GPUs after it, not those for its other labels (``_pool_gpus``)
            gpu_key = f"{pool.name} gpus"
            wants_gpus = _pool_gpus(pool, labels) > 0
            if pool.name in full or (wants_gpus and gpu_key in full):
                return 0
            served = self._serve_from_pool(s, req, pool)
            if served is True:
                return 1
            full.add(gpu_key if wants_gpus and served is None else pool.name)
            return 0
        clouds = self.clouds.providers()
        names = [n for n in self.clouds.for_tenant(req.tenant)
                 if self._offers_all(clouds[n], labels)]
        if not names:
            if any(gpu_want(w) for w in labels) and any(
                    n not in self._looked for n in self.clouds.for_tenant(req.tenant)):
                return 0  # offers' GPUs are known once their clouds were read: soon
            return self._no_provider(s, req, labels)
        problems = {n: self._broken.get(n) or "; ".join(label_errors(
            clouds[n].offers, resolve(clouds[n].offers, labels) or [])) for n in names}
        usable = [n for n in names if not problems[n]]
        if not usable:
            reasons = "; ".join(f"{n}: {problems[n]}" for n in names)
            return self._give_up(s, req, f"no provider can serve "
                                         f"{describe_all(labels)}: {reasons}")
        tried = set(req.tried or ())
        ordered = [n for n in usable if n not in tried] + [n for n in usable if n in tried]
        for name in ordered:
            if name in full or self._quota_until.get(name, float("-inf")) > now \
                    or name not in self._looked:
                continue  # (its flavors and quota not read yet: soon)
            provider = clouds[name]
            refused = self._start_request(s, req, provider, usage, scarce_labels, now)
            if refused is None:
                return 1
            if refused == "tenant":
                return 0  # the tenant's limit: its other requests wait, others' do not
            full.add(name)
        return 0

    def _no_provider(self, s: Session, req: NodeRequestRow, labels: list[str]) -> int:
        offered = sorted({label for p in self.providers for label in p.labels} |
                         {label for n in self.clouds.for_tenant(req.tenant)
                          for label in self.clouds.providers()[n].offers})
        error = (f"no node provider offers label(s) {describe_all(labels)}; "
                 f"labels offered: {', '.join(offered) or 'none'}")
        if self._next_alternative(req, error):
            return 1
        req.state, req.error = RS.DECLINED, error  # as nodepool says: none can serve it
        return 1

    def _give_up(self, s: Session, req: NodeRequestRow, error: str) -> int:
        if self._next_alternative(req, error):
            return 1
        req.state, req.error = RS.FAILED, error
        self._detach(s, req)
        return 1

    @staticmethod
    def _next_alternative(req: NodeRequestRow, error: str) -> bool:
        """Move ``req`` to its nodeset's next alternative; False when none is left."""
        options = list(req.alternatives or ())
        if req.alternative + 1 >= len(options):
            return False
        log.info("node request %s: %s; trying the nodeset's next alternative", req.id, error)
        req.alternative += 1
        req.labels = list(options[req.alternative])
        req.state, req.provider, req.failures, req.tried = RS.REQUESTED, None, 0, []
        return True

    def _start_request(self, s: Session, req: NodeRequestRow, provider: CloudProvider,
                       usage: Usage, scarce_labels: set[str], now: float) -> str | None:
        """Give ``req`` the provider's spare nodes of its labels and boot the rest;
        which has no room for them ("provider" or "tenant"), and nothing changed, when
        one has not; None when done."""
        labels = resolve(provider.offers, req.labels) or []
        spare: dict[str, list[NodeRow]] = defaultdict(list)
        for node in s.scalars(select(NodeRow).where(
                NodeRow.provider == provider.name, NodeRow.request_id.is_(None),
                NodeRow.label.in_(set(labels)),
                NodeRow.state.in_((NodeState.READY, NodeState.BUILDING,
                                   NodeState.REQUESTED))).order_by(NodeRow.id)):
            spare[node.label].append(node)
        order = {NodeState.READY: 0, NodeState.BUILDING: 1, NodeState.REQUESTED: 2}
        for nodes in spare.values():
            nodes.sort(key=lambda n: order[NodeState(n.state)])
        taken: list[NodeRow] = []
        new_labels: list[str] = []
        for label in labels:
            if spare[label]:
                taken.append(spare[label].pop(0))
            else:
                new_labels.append(label)
        cost = Resources.total(self._cost(provider, label) for label in new_labels)
        taken_cost = Resources.total(Resources.from_dict(n.resources) for n in taken)
        if self._limits(provider).exceeded_by(usage.provider(provider.name) + cost):
            return "provider"
        tenant_limits = self.settings.tenant_limits.get(req.tenant or "")
        if tenant_limits is not None and tenant_limits.exceeded_by(
                usage.tenant(req.tenant) + cost + taken_cost):
            return "tenant"
        for node in taken:
            node.request_id, node.tenant = req.id, req.tenant
            self._idle_since.pop(node.id, None)
        for label in new_labels:
            one = self._cost(provider, label)
            s.add(NodeRow(provider=provider.name, label=label, state=NodeState.REQUESTED,
                          hostname="", host_vars={}, host_keys=[], request_id=req.id,
                          tenant=req.tenant, created_at=now, state_at=now,
                          resources=one.to_dict()))
            usage.add(provider.name, req.tenant, one, label in scarce_labels)
        req.state, req.provider = RS.PENDING, provider.name
        return None

    def _detach(self, s: Session, req: NodeRequestRow) -> None:
        """The request's nodes not yet handed out serve other requests (or go)."""
        for node in s.scalars(select(NodeRow).where(
                NodeRow.request_id == req.id,
                NodeRow.state.in_((NodeState.REQUESTED, NodeState.BUILDING,
                                   NodeState.READY)))):
            node.request_id, node.tenant = None, None

    # ------------------------------------------------------------ fulfilment
    def _fulfil(self) -> int:
        """Hand pending requests their nodes once all are ready; detach the nodes
        of requests canceled while they booted."""
        done = 0
        with self.store.read() as s:
            ready = s.scalars(select(NodeRow.request_id).where(
                NodeRow.state.in_((NodeState.REQUESTED, NodeState.BUILDING,
                                   NodeState.READY)),
                NodeRow.request_id.is_not(None)).limit(1)).first()
            if ready is None:
                return 0
        now = self.clock.now()
        with self.store.session() as s:
            rows = s.execute(select(NodeRequestRow, NodeRow).join(
                NodeRow, NodeRow.request_id == NodeRequestRow.id).where(
                NodeRow.state.in_((NodeState.REQUESTED, NodeState.BUILDING,
                                   NodeState.READY)))).all()
            by_request: dict[int, tuple[NodeRequestRow, list[NodeRow]]] = {}
            for req, node in rows:
                by_request.setdefault(req.id, (req, []))[1].append(node)
            for req, nodes in by_request.values():
                if req.state != RS.PENDING:
                    for node in nodes:  # canceled (or answered) meanwhile
                        node.request_id, node.tenant = None, None
                    continue
                if len(nodes) < len(req.labels) or \
                        any(n.state != NodeState.READY for n in nodes):
                    continue
                provider = self.clouds.providers().get(req.provider or "")
                labels = resolve(provider.offers, req.labels) if provider else None
                pool: dict[str, list[NodeRow]] = defaultdict(list)
                for node in sorted(nodes, key=lambda n: n.id):
                    pool[node.label].append(node)
                if labels is None or any(len(pool[label]) < labels.count(label)
                                         for label in set(labels)):
                    continue  # (its provider's offers changed: the nodes time out)
                ordered = [pool[label].pop(0) for label in labels]
                for node in ordered:
                    node.state, node.state_at = NodeState.IN_USE, now
                req.node_ids = [n.id for n in ordered]
                req.state, req.fulfilled_at = RS.FULFILLED, now
                after_commit(s, self.metrics.node_request_fulfilled, req.provider or "",
                             req.created_at, now)
                done += 1
        if done:
            self.store.notifier.notify(channels.SCHEDULER)
        return done

    # ------------------------------------------------------------ min-ready
    def _keep_ready(self) -> None:
        """Boot nodes for labels with ``min-ready`` whose spare nodes are fewer (when
        no request waits for the provider), and delete spare ready nodes nobody has
        needed for ``idle_seconds`` beyond that number."""
        clouds = self.clouds.providers()
        if not clouds:
            return
        now = self.clock.now()
        with self.store.session() as s:
            waiting = s.scalars(select(NodeRequestRow.id).where(
                NodeRequestRow.state == RS.REQUESTED).limit(1)).first()
            spare: dict[tuple[str, str], list[NodeRow]] = defaultdict(list)
            for node in s.scalars(select(NodeRow).where(
                    NodeRow.request_id.is_(None),
                    NodeRow.state.in_((NodeState.REQUESTED, NodeState.BUILDING,
                                       NodeState.READY)))):
                spare[(node.provider, node.label)].append(node)
            usage = None
            for name, provider in clouds.items():
                if name in self._broken:
                    continue
                for label, offer in provider.offers.items():
                    if offer.error or self._ready_backoff.get((name, label), 0.0) > now:
                        continue  # (a warm boot failed: not again at once)
                    have = spare.get((name, label), [])
                    if len(have) < offer.min_ready and waiting is None:
                        usage = usage or load_usage(s, set())
                        for _ in range(offer.min_ready - len(have)):
                            if self._limits(provider).exceeded_by(
                                    usage.provider(name) + offer.resources):
                                break
                            s.add(NodeRow(provider=name, label=label,
                                          state=NodeState.REQUESTED, hostname="",
                                          host_vars={}, host_keys=[], created_at=now,
                                          state_at=now, resources=offer.resources.to_dict()))
                            usage.add(name, None, offer.resources)
                    ready = [n for n in have if n.state == NodeState.READY]
                    surplus = len(have) - offer.min_ready
                    for node in sorted(ready, key=lambda n: n.id, reverse=True):
                        if surplus <= 0:
                            break
                        since = self._idle_since.setdefault(node.id, now)
                        if now - since >= self.settings.idle_seconds:
                            node.state, node.state_at = NodeState.DELETING, now
                            self._idle_since.pop(node.id, None)
                            surplus -= 1
            for (name, _label), nodes in spare.items():
                if name not in clouds:  # the provider left the configuration
                    for node in nodes:
                        if node.state == NodeState.READY or node.external_id is None:
                            node.state, node.state_at = NodeState.DELETING, now

    # ------------------------------------------------------------ releases
    def _expire_holds(self) -> bool:
        """Held nodes whose autohold expired become used (and so are deleted)."""
        if not self._due(("holds",), HOLD_CHECK_SECONDS):
            return False
        with self.store.session() as s:
            return bool(expired_holds(s, self.clock.now()))

    def _release_used(self) -> int:
        """Give back pool nodes whose builds are done; start deleting cloud ones."""
        clouds = self._all_clouds()
        now = self.clock.now()
        with self.store.session() as s:
            nodes = s.scalars(select(NodeRow).where(NodeRow.state == NodeState.USED)).all()
            for node in nodes:
                pool = next((p for p in self.providers if p.name == node.provider), None)
                if pool is not None:
                    pool.release(node.hostname, node.host_vars)
                    node.state = NodeState.DELETED
                elif node.provider in clouds or node.external_id:
                    node.state = NodeState.DELETING
                else:
                    node.state = NodeState.DELETED
                node.state_at = now
        return len(nodes)

    # ------------------------------------------------------------ provider calls
    def _schedule_provider_calls(self) -> None:
        """Read each cloud's flavors and quota now and then; sweep for leaks at
        start and on a schedule."""
        for name, provider in self.clouds.retired().items():
            if self._due(("sweep", name), self.settings.sweep_seconds):
                listed_at = self.clock.now()
                self.calls.submit(("sweep", name, listed_at), provider.instances)
        for name, provider in self.clouds.providers().items():
            if self._built.get(name) is not provider:  # new, or rebuilt by a config change
                self._built[name] = provider
                self._next.pop(("refresh", name), None)
                self._looked.discard(name)
                self._broken.pop(name, None)
            if self._due(("refresh", name), self.settings.refresh_seconds):
                self.calls.submit(("refresh", name), lambda p=provider: _refresh(p))
            if self._due(("sweep", name), self.settings.sweep_seconds):
                listed_at = self.clock.now()
                self.calls.submit(("sweep", name, listed_at), provider.instances)

    def _schedule_node_calls(self) -> None:
        clouds = self._all_clouds()
        if not clouds:
            return
        retired = self.clouds.retired()
        now = self.clock.now()
        with self.store.read() as s:
            nodes = s.scalars(select(NodeRow).where(
                NodeRow.provider.in_(list(clouds)),
                NodeRow.state.in_((NodeState.REQUESTED, NodeState.BUILDING,
                                   NodeState.DELETING, NodeState.FAILED)))).all()
        nothing_to_delete = []
        for node in nodes:
            provider = clouds[node.provider]
            if node.external_id is None and ("create", node.id) not in self._next and (
                    node.state in (NodeState.DELETING, NodeState.FAILED)
                    or node.provider in retired):
                # never asked of the cloud by this launcher (one asked before a crash
                # is found by the sweep: a deleted node's instance is a leak)
                nothing_to_delete.append(node.id)
            elif node.provider in retired and node.external_id and node.state in (
                    NodeState.REQUESTED, NodeState.BUILDING):
                self._retire(node.id)
            elif node.state == NodeState.REQUESTED and node.external_id is None:
                # once: a create that ended waits in calls.finished() (no longer busy)
                # until the next _apply, and another would boot a second instance
                if node.provider in self._swept and ("create", node.id) not in self._next:
                    tags = {TAG_SYSTEM: self.system_id, TAG_PROVIDER: provider.name,
                            TAG_NODE: str(node.id), TAG_REQUEST: str(node.request_id or "")}
                    self._next[("create", node.id)] = now
                    self.calls.submit(("create", node.id),
                                      lambda p=provider, n=node, t=tags: p.create(n.label, t))
            elif node.state in (NodeState.REQUESTED, NodeState.BUILDING):
                if self._timed_out(node, provider, now):
                    continue
                if self._due(("probe", node.id), self.settings.poll_seconds):
                    self.calls.submit(("probe", node.id), lambda p=provider, n=node: _probe(
                        p, n.external_id, self.ssh_check, self.settings.ssh_timeout))
            elif node.external_id and self._due(("delete", node.id),
                                                self.settings.delete_seconds):
                self.calls.submit(("delete", node.id),
                                  lambda p=provider, n=node: _delete(p, n.external_id))
        if nothing_to_delete:
            with self.store.session() as s:
                for row in s.scalars(select(NodeRow).where(
                        NodeRow.id.in_(nothing_to_delete), NodeRow.external_id.is_(None))):
                    row.state, row.state_at = NodeState.DELETED, now
                    if row.request_id is not None and row.error is None:
                        row.error = "its provider left the configuration"

    def _retire(self, node_id: int) -> None:
        """A node still booting on a provider that left the configuration: delete it
        (its request, if any, is tried again elsewhere)."""
        with self.store.session() as s:
            row = s.get(NodeRow, node_id)
            if row is not None and row.state in (NodeState.REQUESTED, NodeState.BUILDING):
                self._boot_failed(s, row, "its provider left the configuration",
                                  ErrorKind.PERMANENT)

    def _all_clouds(self) -> Mapping[str, CloudProvider]:
        """The configured cloud providers and those that left the configuration but
        may still hold nodes (to be deleted; never to boot)."""
        return {**self.clouds.retired(), **self.clouds.providers()}

    def _timed_out(self, node: NodeRow, provider: CloudProvider, now: float) -> bool:
        """Fail a boot past its ``launch-timeout`` or ``boot-timeout``."""
        if node.ready_at is not None and now - node.ready_at > provider.boot_timeout:
            reason = f"the node did not answer SSH within {provider.boot_timeout:g} s " \
                     "of booting"
        elif node.ready_at is None and now - (node.state_at or node.created_at) > \
                provider.launch_timeout:
            reason = f"the node did not become ready within {provider.launch_timeout:g} s"
        else:
            return False
        with self.store.session() as s:
            row = s.get(NodeRow, node.id)
            if row is not None and row.state in (NodeState.REQUESTED, NodeState.BUILDING):
                self._boot_failed(s, row, reason, ErrorKind.TRANSIENT)
        return True

    # ------------------------------------------------------------ results
    def _apply(self, results: list[Done]) -> bool:
        if not results:
            return False
        changed = False
        with self.store.session() as s:
            # the results' nodes in one query: each s.get below then finds its node
            # in the session instead of flushing and selecting it alone
            ids = [done.key[1] for done in results if done.key[0] in NODE_CALLS]
            loaded = s.scalars(select(NodeRow).where(NodeRow.id.in_(ids))).all() if ids else []
            for done in results:
                changed = self._apply_one(s, done) or changed
            del loaded
        return changed

    def _apply_one(self, s: Session, done: Done) -> bool:
        kind = done.key[0]
        if kind == "refresh":
            return self._refreshed(done.key[1], done)
        if kind == "sweep":
            return self._swept_result(s, done.key[1], done.key[2], done)
        if kind == "leak":  # (key: provider, instance; no node) the next sweep sees it
            if done.error is not None:
                log.warning("provider %s: deleting leaked instance %s failed: %s",
                            done.key[1], done.key[2], done.error)
            return False
        node = s.get(NodeRow, done.key[1])
        if node is None:
            return False
        now = self.clock.now()
        if kind == "create":
            if done.error is not None:
                reason, error_kind = _reason(done.error)
                self._boot_failed(s, node, f"the cloud refused the node: {reason}", error_kind,
                                  created=False)
                return True
            node.external_id = str(done.value)
            if node.state == NodeState.REQUESTED:
                node.state, node.state_at = NodeState.BUILDING, now
            return True
        if kind == "probe":
            return self._probed(s, node, done, now)
        if kind == "delete":
            if done.error is not None:
                log.warning("deleting node %s (%s) on %s failed: %s; asking again",
                            node.id, node.external_id, node.provider, done.error)
                return False
            if done.value == InstanceState.GONE and node.state in (
                    NodeState.DELETING, NodeState.FAILED):
                node.state, node.state_at = NodeState.DELETED, now
                if node.error is None:
                    node.released_at = node.released_at or now
                return True
        return False

    def _probed(self, s: Session, node: NodeRow, done: Done, now: float) -> bool:
        if node.state not in (NodeState.REQUESTED, NodeState.BUILDING):
            return False
        if done.error is not None:
            reason, kind = _reason(done.error)
            log.warning("looking at node %s on %s failed: %s", node.id, node.provider, reason)
            if kind == ErrorKind.PERMANENT:
                self._boot_failed(s, node, reason, kind)
                return True
            return False
        instance, keys = done.value
        if instance.state == InstanceState.FAILED:  # (a quota fault hands the request on)
            self._boot_failed(s, node, instance.reason or "the cloud failed to boot it",
                              instance.error_kind or ErrorKind.TRANSIENT)
            return True
        if instance.state == InstanceState.GONE:
            self._boot_failed(s, node, "the instance vanished while it booted",
                              ErrorKind.TRANSIENT)
            return True
        if instance.state != InstanceState.READY:
            return False
        if node.ready_at is None:
            node.ready_at = now
        if keys is None:
            return False  # booted; SSH not answering yet (boot-timeout runs)
        node.hostname = instance.hostname
        node.host_vars = {"ansible_host": instance.hostname, "ansible_port": instance.port,
                          **dict(instance.host_vars)}
        node.host_keys = list(instance.host_keys) or list(keys)
        node.state, node.state_at = NodeState.READY, now
        return True

    def _boot_failed(self, s: Session, node: NodeRow, reason: str, kind: ErrorKind,
                     created: bool = True) -> None:
        """The node's boot failed: delete it, and try its request again (or fail it
        with ``reason`` when its attempts are spent)."""
        now = self.clock.now()
        log.warning("node %s (%s) on %s failed: %s", node.id, node.label, node.provider,
                    reason)
        node.error = reason
        gone = node.external_id is None and not created
        node.state, node.state_at = (NodeState.DELETED if gone else NodeState.FAILED), now
        request_id, node.request_id = node.request_id, None
        req = s.get(NodeRequestRow, request_id) if request_id is not None else None
        if request_id is None:  # a warm (min-ready) node: wait before booting another
            self._ready_backoff[(node.provider, node.label)] = \
                now + self.settings.quota_wait_seconds
        if req is None or req.state != RS.PENDING:
            return
        provider = self._all_clouds().get(node.provider)
        attempts = provider.launch_attempts if provider is not None else 1
        if kind == ErrorKind.QUOTA:
            self._quota_until[node.provider] = now + self.settings.quota_wait_seconds
        else:
            req.failures += 1
        others = [n for n in self.clouds.for_tenant(req.tenant)
                  if n != node.provider and n not in self._broken and
                  self._offers_all(self.clouds.providers()[n], req.labels)]
        spent = req.failures >= attempts or (kind == ErrorKind.PERMANENT and not others)
        self._detach(s, req)
        if spent:
            self._give_up(s, req, f"node {node.label!r} failed on provider {node.provider!r} "
                                  f"({req.failures} of {attempts} attempts): {reason}")
            return
        req.state, req.provider = RS.REQUESTED, None
        if node.provider not in (req.tried or []):
            req.tried = [*(req.tried or []), node.provider]
        if kind == ErrorKind.PERMANENT:
            req.failures = 0  # the next provider gets its own attempts

    def _refreshed(self, name: str, done: Done) -> bool:
        self._looked.add(name)
        if done.error is None:
            self._quota[name] = done.value
            self._broken.pop(name, None)
            return False
        reason, kind = _reason(done.error)
        log.warning("provider %s: reading the cloud failed: %s", name, reason)
        if kind == ErrorKind.PERMANENT:
            self._broken[name] = reason
            return True
        self._next[("refresh", name)] = self.clock.now() + self.settings.poll_seconds * 10
        return False

    def _swept_result(self, s: Session, name: str, listed_at: float, done: Done) -> bool:
        if done.error is not None:
            log.warning("provider %s: listing its instances failed: %s", name, done.error)
            self._next[("sweep", name)] = self.clock.now() + self.settings.poll_seconds * 10
            return False
        provider = self._all_clouds().get(name)
        if provider is None:
            return False
        records = {row.id: NodeRecord(row.id, row.state, row.external_id,
                                      row.state_at or row.created_at)
                   for row in s.scalars(select(NodeRow).where(
                       NodeRow.provider == name, NodeRow.state != NodeState.DELETED))}
        tagged_ids = {int(i.tags[TAG_NODE]) for i in done.value
                      if i.tags.get(TAG_NODE, "").isdigit()}
        for row in s.scalars(select(NodeRow).where(NodeRow.id.in_(tagged_ids),
                                                   NodeRow.state == NodeState.DELETED)):
            records[row.id] = NodeRecord(row.id, row.state, row.external_id, row.state_at or 0)
        creating = {n for n in records if self.calls.busy(("create", n))}
        plan = plan_sweep(self.system_id, name, done.value, records, creating, listed_at)
        now = self.clock.now()
        for node_id, external_id in plan.adopt.items():
            row = s.get(NodeRow, node_id)
            if row is not None:
                row.external_id, row.state, row.state_at = external_id, NodeState.BUILDING, now
        for external_id in plan.delete:
            log.warning("provider %s: deleting leaked instance %s", name, external_id)
            self.calls.submit(("leak", name, external_id),
                              lambda p=provider, e=external_id: p.delete(e))
        for node_id in plan.vanished:
            row = s.get(NodeRow, node_id)
            if row is None:
                continue
            if row.state in (NodeState.BUILDING, NodeState.READY) and row.request_id:
                self._boot_failed(s, row, "the cloud no longer has the instance",
                                  ErrorKind.TRANSIENT)
                row.state = NodeState.DELETED
            elif row.state != NodeState.IN_USE:
                log.warning("provider %s: node %s (%s) is gone from the cloud", name,
                            row.id, row.external_id)
                row.state, row.state_at = NodeState.DELETED, now
        self._swept.add(name)
        return bool(plan.adopt or plan.vanished)


def _pool_gpus(provider: Provider, labels: Iterable[str]) -> int:
    """The GPUs a pool provider's nodes of ``labels`` hold (its ``offers``, where
    it has them: the local provider's)."""
    offers = getattr(provider, "offers", None) or {}
    return sum(offers[label].resources.gpus for label in labels if label in offers)


def _scarce(wants: Iterable[Want], scarce_labels: set[str]) -> bool:
    """Whether a request asks for GPUs, or for a label some provider makes with GPUs
    or on bare metal (``scarce_labels``)."""
    return any(gpu_want(w) or (isinstance(w, str) and w in scarce_labels) for w in wants)


def _refresh(provider: CloudProvider) -> Limits:
    provider.refresh()
    return provider.quota()


def _probe(provider: CloudProvider, external_id: str | None, ssh_check: SshCheck,
           timeout: float) -> tuple[Instance, list[str] | None]:
    """The instance's state and, once the cloud says it runs, its SSH host keys
    (None while SSH does not answer)."""
    if external_id is None:
        return Instance("", InstanceState.BUILDING), None
    instance = provider.status(external_id)
    if instance.state != InstanceState.READY:
        return instance, None
    return instance, ssh_check(instance.hostname, instance.port, timeout,
                               provider.host_key_checking and not instance.host_keys)


def _delete(provider: CloudProvider, external_id: str | None) -> InstanceState:
    """Ask for the deletion, then whether the instance is gone."""
    if external_id is None:
        return InstanceState.GONE
    provider.delete(external_id)
    return provider.status(external_id).state


def _reason(error: BaseException) -> tuple[str, ErrorKind]:
    if isinstance(error, ProviderError):
        return str(error), error.kind
    return f"{type(error).__name__}: {error}", ErrorKind.TRANSIENT
