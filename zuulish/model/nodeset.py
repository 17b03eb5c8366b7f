"""Node sets: the nodes (by label) a job needs, and their groups."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NodeSpec:
    name: str
    label: str


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
            "nodes": [{"name": n.name, "label": n.label} for n in self.nodes],
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
            nodes=tuple(NodeSpec(n["name"], n["label"]) for n in data.get("nodes", [])),
            groups={k: tuple(v) for k, v in data.get("groups", {}).items()},
            alternatives=tuple(cls.from_dict(a) if isinstance(a, dict) else a
                               for a in data.get("alternatives", [])),
        )
