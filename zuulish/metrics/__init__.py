"""Prometheus metrics: counters recorded where things happen (``definitions``),
gauges read from the store at scrape time (``store_collector``), and how they are
served (``exposition``). Every metric is listed in ``docs/metrics.md``."""

from zuulish.metrics.definitions import ProcessMetrics
from zuulish.metrics.exposition import (
    ForwardedFamilies,
    MetricsServer,
    RegistryFamilies,
    Scrape,
    layout_pipelines,
    snapshot,
)
from zuulish.metrics.store_collector import StoreCollector

__all__ = ["ForwardedFamilies", "MetricsServer", "ProcessMetrics", "RegistryFamilies",
           "Scrape", "StoreCollector", "layout_pipelines", "snapshot"]
