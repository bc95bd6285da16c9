"""The system node group of `Cluster` (components/cluster.py), Pulumi-free: the stack spec's
`cluster.system_nodes` IS `SystemNodes`, and `Cluster` checks its flat system_node_* fields through it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from . import Section, ValidationError, min_max


class SystemNodes(Section):
    """The system node group (CoreDNS, the controllers, Prometheus).

    Fields:
        instance_type (str, default "t3.large"): its instance type.
        count (int, default 2): desired size, at least 1 (2 for redundancy).
        min (int, default 2): minimum size, at least 1: the node autoscaler itself runs on these nodes;
            null: count.
        max (int, default 3): maximum size; min <= count <= max; null: count + 1.
        disk_gib (int, default 50): root volume (gp3, encrypted) in GiB, 20 (the EKS AMI's size)..16384.
        scaled_by ("stack" | "cluster-autoscaler", default "stack"): who owns the desired size: "stack"
            (`up` sets it to count; cluster-autoscaler cannot see the group) or "cluster-autoscaler"
            (it scales the group between min and max and `up` ignores its desired size).
    """

    instance_type: str = "t3.large"
    count: int = Field(2, ge=1)
    min: int = Field(2, ge=1)
    max: int = Field(3, ge=1)
    disk_gib: int = Field(50, ge=20, le=16384)
    scaled_by: Literal["stack", "cluster-autoscaler"] = "stack"

    @model_validator(mode="before")
    @classmethod
    def _unset_bounds(cls, data: Any) -> Any:
        """min: null is count, max: null is count + 1 (ClusterArgs' system_node_min/max None)."""
        if isinstance(data, dict):
            count = data.get("count", 2)
            if isinstance(count, int) and not isinstance(count, bool):
                if "min" in data and data["min"] is None:
                    data = {**data, "min": count}
                if "max" in data and data["max"] is None:
                    data = {**data, "max": count + 1}
        return data

    @model_validator(mode="after")
    def _bounds(self) -> SystemNodes:
        min_max(self.min, self.max, "system_nodes")
        if not self.min <= self.count <= self.max:
            raise ValidationError(
                "",
                f"count ({self.count}) must be between min ({self.min}) and max ({self.max})",
                "make min <= count <= max",
            )
        return self
