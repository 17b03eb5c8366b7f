"""Node sets: the nodes (by label, or by GPUs) a job needs, and their groups."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NodeSpec:
    """One node of a nodeset: a ``label``, or (a zuulish extension) a number of
    ``gpus``, of ``gpu_model`` if given, from any provider that has them; or both
    (a node of that label with that many GPUs)."""

    name: str
    label: str | None = None
    gpus: int = 0
    gpu_model: str | None = None

    def to_dict(self) -> dict:
        out: dict = {"name": self.name, "label": self.label}
        if self.gpus:
            out["gpus"] = self.gpus
        if self.gpu_model is not None:
            out["gpu-model"] = self.gpu_model
        return out

    @classmethod
    def from_dict(cls, data: dict) -> NodeSpec:
        return cls(data["name"], data.get("label"), int(data.get("gpus", 0)),
                   data.get("gpu-model"))


@dataclass(frozen=True)
class NodeSet:
    name: str | None = None
    nodes: tuple[NodeSpec, ...] = ()
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    # Zuul's ``alternatives``: node sets to request in this order, each a name (as
    # configured) or a NodeSet (once frozen, resolved; nodes/groups are the first's).
    alternatives: tuple[NodeSet | str, ...] = field(default=(), hash=False)

    def to_dict(self) -> dict:
        out: dict = {
            "name": self.name,
            "nodes": [n.to_dict() for n in self.nodes],
            "groups": {k: list(v) for k, v in self.groups.items()},
        }
        if self.alternatives:
            out["alternatives"] = [a.to_dict() if isinstance(a, NodeSet) else a
                                   for a in self.alternatives]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> NodeSet:
        return cls(
            name=data.get("name"),
            nodes=tuple(NodeSpec.from_dict(n) for n in data.get("nodes", [])),
            groups={k: tuple(v) for k, v in data.get("groups", {}).items()},
            alternatives=tuple(cls.from_dict(a) if isinstance(a, dict) else a
                               for a in data.get("alternatives", [])),
        )
