"""What a node request asks for, node by node: a label by name, or GPUs (a
zuulish extension of Zuul's nodesets: ``{name: trainer, gpus: 2, gpu-model:
A100}``), matched to the labels a provider offers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zuulish.model.nodeset import NodeSpec
from zuulish.nodepool.cloud import LabelOffer

Want = str | dict[str, Any]


def want_of(node: NodeSpec) -> Want:
    """A nodeset node as its request asks for it."""
    if node.label:
        return node.label
    return {"gpus": node.gpus, "gpu-model": node.gpu_model}


def describe(want: Want) -> str:
    if isinstance(want, str):
        return want
    model = f" {want['gpu-model']}" if want.get("gpu-model") else ""
    return f"{want.get('gpus', 0)}{model} GPU(s)"


def describe_all(wants: Iterable[Want]) -> str:
    return ", ".join(describe(w) for w in wants)


def gpu_want(want: Want) -> bool:
    return not isinstance(want, str) and int(want.get("gpus") or 0) > 0


def resolve(offers: Mapping[str, LabelOffer], wants: Iterable[Want]) -> list[str] | None:
    """The label to boot for each want (None when one cannot be met): a label as
    named; for GPUs, the offer with enough of them (of the model asked for, matched
    case-insensitively within the offer's model name) that has the fewest, then
    the fewest cores and RAM: the smallest machine that fits."""
    labels = []
    for want in wants:
        if isinstance(want, str):
            if want not in offers:
                return None
            labels.append(want)
            continue
        count = int(want.get("gpus") or 0)
        model = str(want.get("gpu-model") or "").lower()
        fits = [o for o in offers.values() if o.error is None and
                o.resources.gpus >= count > 0 and
                (not model or model in (o.gpu_model or "").lower())]
        if not fits:
            return None
        best = min(fits, key=lambda o: (o.resources.gpus, o.resources.cores,
                                        o.resources.ram_mb, o.label))
        labels.append(best.label)
    return labels


def label_errors(offers: Mapping[str, LabelOffer], labels: Iterable[str]) -> list[str]:
    """Why some of ``labels`` cannot be booted by the provider of ``offers``."""
    return [offers[label].error or "" for label in labels
            if label in offers and offers[label].error]
