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

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "nodes": [{"name": n.name, "label": n.label} for n in self.nodes],
            "groups": {k: list(v) for k, v in self.groups.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> NodeSet:
        return cls(
            name=data.get("name"),
            nodes=tuple(NodeSpec(n["name"], n["label"]) for n in data.get("nodes", [])),
            groups={k: tuple(v) for k, v in data.get("groups", {}).items()},
        )
