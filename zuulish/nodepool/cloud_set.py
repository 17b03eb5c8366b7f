"""The cloud providers a launcher serves, and which tenants may use each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from zuulish.nodepool.cloud import CloudProvider


class CloudSet:
    """A fixed set of providers (by name, in order), each for the tenants that list
    it in ``tenants`` (a tenant not in ``tenants``, or a request without a tenant,
    may use them all)."""

    def __init__(self, providers: Sequence[CloudProvider] = (),
                 tenants: Mapping[str, Sequence[str]] | None = None):
        self._providers = {p.name: p for p in providers}
        self._tenants = {t: list(names) for t, names in (tenants or {}).items()}

    def providers(self) -> Mapping[str, CloudProvider]:
        return self._providers

    def for_tenant(self, tenant: str | None) -> list[str]:
        if tenant is None or tenant not in self._tenants:
            return list(self._providers)
        return [n for n in self._tenants[tenant] if n in self._providers]
