"""The cloud providers a launcher serves, and which tenants may use each."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from zuulish.nodepool.cloud import CloudProvider, ProviderSpec
from zuulish.nodepool.drivers import driver

log = logging.getLogger(__name__)


class CloudSet:
    """A fixed set of providers (by name, in order), each for the tenants that list
    it in ``tenants`` (a tenant not in ``tenants``, or a request without a tenant,
    may use them all)."""

    def __init__(self, providers: Sequence[CloudProvider] = (),
                 tenants: Mapping[str, Sequence[str]] | None = None):
        self._providers = {p.name: p for p in providers}
        self._tenants = {t: list(names) for t, names in (tenants or {}).items()}
        self._retired: dict[str, CloudProvider] = {}

    def providers(self) -> Mapping[str, CloudProvider]:
        return self._providers

    def retired(self) -> Mapping[str, CloudProvider]:
        """Providers that left the configuration and may still hold nodes: the
        launcher deletes those, and boots nothing there."""
        return self._retired

    def retire(self, name: str) -> None:
        """Take provider ``name`` out of the configuration."""
        self._retired[name] = self._providers.pop(name)

    def for_tenant(self, tenant: str | None) -> list[str]:
        if tenant is None or tenant not in self._tenants:
            return list(self._providers)
        return [n for n in self._tenants[tenant] if n in self._providers]


class LayoutClouds(CloudSet):
    """The providers the tenants' running layouts define (Zuul's ``provider``
    objects), built by their drivers and rebuilt when a layout changes them.

    A provider is known by its name across tenants: tenants that define the same
    provider share it (its quota, its nodes). Two different definitions under one
    name: the first tenant's is used, and the clash logged."""

    def __init__(self, specs: Callable[[], Mapping[str, Sequence[ProviderSpec]]],
                 system_id: Callable[[], str],
                 make: Callable[[ProviderSpec, str], CloudProvider] | None = None):
        super().__init__()
        self._specs = specs
        self._system_id = system_id
        self._make = make or (lambda spec, sid: driver(spec.driver).make(spec, sid))
        self._built: dict[str, tuple[ProviderSpec, CloudProvider]] = {}
        self._failed: dict[str, ProviderSpec] = {}
        self._clashes: set[str] = set()

    def providers(self) -> Mapping[str, CloudProvider]:
        self._update()
        return self._providers

    def for_tenant(self, tenant: str | None) -> list[str]:
        self._update()
        return super().for_tenant(tenant)

    def retired(self) -> Mapping[str, CloudProvider]:
        return dict(self._retired)

    def _update(self) -> None:
        wanted: dict[str, ProviderSpec] = {}
        tenants: dict[str, list[str]] = {}
        for tenant, specs in self._specs().items():
            tenants[tenant] = []
            for spec in specs:
                tenants[tenant].append(spec.name)
                known = wanted.setdefault(spec.name, spec)
                if known != spec and spec.name not in self._clashes:
                    self._clashes.add(spec.name)
                    log.error("provider %r is defined differently by two tenants; "
                              "using the first definition", spec.name)
        providers: dict[str, CloudProvider] = {}
        for name, spec in wanted.items():
            built = self._built.get(name)
            if built is not None and built[0] == spec:
                providers[name] = built[1]
                continue
            if self._failed.get(name) == spec:
                continue
            try:
                provider = self._make(spec, self._system_id())
            except Exception as exc:  # its configuration was checked; the cloud's client
                log.error("provider %r cannot be built: %s", name, exc)
                self._failed[name] = spec
                continue
            self._built[name] = (spec, provider)
            providers[name] = provider
        for name in set(self._built) - set(wanted):
            # gone from every layout: kept to delete its nodes (until zuulish stops)
            self._retired[name] = self._built.pop(name)[1]
        for name in providers:
            self._retired.pop(name, None)
        self._providers = providers
        self._tenants = tenants
