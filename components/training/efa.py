"""The NVIDIA GPU instance types that have EFA (Elastic Fabric Adapter), as the pinned EFA device
plugin lists them (aws/eks-charts stable/aws-efa-k8s-device-plugin/values.yaml
`supportedInstanceLabels.values` at 5239609242f3, the commit of versions.EFA_DEVICE_PLUGIN_IMAGE),
restricted to types mlplatform knows (components/gpu_instances.py). Data, not a component.
"""

from __future__ import annotations

from ..gpu_instances import GPU_INSTANCE_TYPES

# The plugin's list, GPU types only.
_LISTED = frozenset(
    {
        "g4dn.8xlarge",
        "g4dn.12xlarge",
        "g4dn.16xlarge",
        "g4dn.metal",
        "g5.8xlarge",
        "g5.12xlarge",
        "g5.16xlarge",
        "g5.24xlarge",
        "g5.48xlarge",
        "g6.8xlarge",
        "g6.12xlarge",
        "g6.16xlarge",
        "g6.24xlarge",
        "g6.48xlarge",
        "g6e.8xlarge",
        "g6e.12xlarge",
        "g6e.16xlarge",
        "g6e.24xlarge",
        "g6e.48xlarge",
        "gr6.8xlarge",
        "p4d.24xlarge",
        "p4de.24xlarge",
        "p5.4xlarge",
        "p5.48xlarge",
        "p5e.48xlarge",
        "p5en.48xlarge",
    }
)
EFA_GPU_INSTANCE_TYPES = frozenset(_LISTED & GPU_INSTANCE_TYPES.keys())


def efa_types(instance_types: list[str]) -> list[str]:
    """The types of a pool that have EFA, in the pool's order."""
    return [t for t in instance_types if t in EFA_GPU_INSTANCE_TYPES]
