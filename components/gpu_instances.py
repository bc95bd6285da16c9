"""NVIDIA GPU instance types mlplatform knows, and the regions that offer them (data, not a component).

`GpuNodePool` validates pools against these tables before it creates anything: a type missing from
`GPU_INSTANCE_TYPES` is not an NVIDIA GPU type the EKS NVIDIA AMI (`versions.AMI_TYPE_GPU`, x86_64)
runs; a type missing from a region's `REGION_GPU_OFFERINGS` entry is not offered there.

Sources: GPU counts and models from the EC2 accelerated-computing instance type pages. Offerings are
copied from the price snapshot `shared/pricing/aws-prices.json` (2026-09-20): per region, the GPU
types with a price in its `ec2` map (`ec2_all` for us-east-1, which lists every type). A type with no
price in a region is not offered there (the snapshot's own rule). Regions without an entry are not
checked (EC2 answers at deploy time); to add one, copy its GPU types from a newer snapshot.
"""

from __future__ import annotations

# type -> (GPUs per instance, GPU model). The model is the `k8s.amazonaws.com/accelerator` label value
# in cluster-autoscaler's naming (nvidia-tesla-t4, nvidia-a10g, ...).
GPU_INSTANCE_TYPES: dict[str, tuple[int, str]] = {
    **{f"g4dn.{s}": (1, "nvidia-tesla-t4") for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    "g4dn.12xlarge": (4, "nvidia-tesla-t4"),
    "g4dn.metal": (8, "nvidia-tesla-t4"),
    **{f"g5.{s}": (1, "nvidia-a10g") for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    "g5.12xlarge": (4, "nvidia-a10g"),
    "g5.24xlarge": (4, "nvidia-a10g"),
    "g5.48xlarge": (8, "nvidia-a10g"),
    **{f"g6.{s}": (1, "nvidia-l4") for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    "g6.12xlarge": (4, "nvidia-l4"),
    "g6.24xlarge": (4, "nvidia-l4"),
    "g6.48xlarge": (8, "nvidia-l4"),
    "gr6.4xlarge": (1, "nvidia-l4"),
    "gr6.8xlarge": (1, "nvidia-l4"),
    **{f"g6e.{s}": (1, "nvidia-l40s") for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    "g6e.12xlarge": (4, "nvidia-l40s"),
    "g6e.24xlarge": (4, "nvidia-l40s"),
    "g6e.48xlarge": (8, "nvidia-l40s"),
    "p4d.24xlarge": (8, "nvidia-tesla-a100"),
    "p4de.24xlarge": (8, "nvidia-a100-80gb"),
    "p5.4xlarge": (1, "nvidia-h100"),
    "p5.48xlarge": (8, "nvidia-h100"),
    "p5en.48xlarge": (8, "nvidia-h200"),
    "p6-b200.48xlarge": (8, "nvidia-b200"),
}

# Families of instance types that are not NVIDIA GPU machines the NVIDIA AMI runs, with the reason
# (for the error message).
OTHER_ACCELERATORS: dict[str, str] = {
    "g4ad": "has AMD GPUs",
    "g5g": "is Arm (Graviton) with NVIDIA T4G; the NVIDIA AMI pinned is x86_64",
    "inf1": "has AWS Inferentia chips",
    "inf2": "has AWS Inferentia chips",
    "trn1": "has AWS Trainium chips",
    "trn1n": "has AWS Trainium chips",
    "trn2": "has AWS Trainium chips",
    "dl1": "has Habana Gaudi chips",
    "f1": "has FPGAs",
    "f2": "has FPGAs",
    "vt1": "has Xilinx video accelerators",
}

REGION_GPU_OFFERINGS: dict[str, frozenset[str]] = {
    "us-east-1": frozenset(
        {
            "g4dn.xlarge",
            "g4dn.2xlarge",
            "g4dn.4xlarge",
            "g4dn.8xlarge",
            "g4dn.12xlarge",
            "g4dn.16xlarge",
            "g4dn.metal",
            "g5.xlarge",
            "g5.2xlarge",
            "g5.4xlarge",
            "g5.8xlarge",
            "g5.12xlarge",
            "g5.16xlarge",
            "g5.24xlarge",
            "g5.48xlarge",
            "g6.xlarge",
            "g6.2xlarge",
            "g6.4xlarge",
            "g6.8xlarge",
            "g6.12xlarge",
            "g6.16xlarge",
            "g6.24xlarge",
            "g6.48xlarge",
            "g6e.xlarge",
            "g6e.2xlarge",
            "g6e.4xlarge",
            "g6e.8xlarge",
            "g6e.12xlarge",
            "g6e.16xlarge",
            "g6e.24xlarge",
            "g6e.48xlarge",
            "gr6.4xlarge",
            "gr6.8xlarge",
            "p4d.24xlarge",
            "p4de.24xlarge",
            "p5.4xlarge",
            "p5.48xlarge",
            "p5en.48xlarge",
            "p6-b200.48xlarge",
        }
    ),
    "us-west-2": frozenset(
        {
            "g4dn.xlarge",
            "g5.xlarge",
            "g5.2xlarge",
            "g5.12xlarge",
            "g6.xlarge",
            "g6.2xlarge",
            "g6e.xlarge",
            "g6e.12xlarge",
            "p4d.24xlarge",
            "p5.48xlarge",
        }
    ),
    "eu-west-1": frozenset(
        {
            "g4dn.xlarge",
            "g5.xlarge",
            "g5.2xlarge",
            "g5.12xlarge",
            "p4d.24xlarge",
        }
    ),
    "eu-central-1": frozenset(
        {
            "g4dn.xlarge",
            "g5.xlarge",
            "g5.2xlarge",
            "g5.12xlarge",
            "g6.xlarge",
            "g6.2xlarge",
            "g6e.xlarge",
            "g6e.12xlarge",
            "p4d.24xlarge",
        }
    ),
}


def gpu_count(instance_type: str) -> int:
    """GPUs per instance of a known GPU type."""
    return GPU_INSTANCE_TYPES[instance_type][0]


def gpu_model(instance_type: str) -> str:
    """The GPU model of a known GPU type (cluster-autoscaler's accelerator naming)."""
    return GPU_INSTANCE_TYPES[instance_type][1]


def family(instance_type: str) -> str:
    """`g6e.12xlarge` -> `g6e` (Karpenter's `karpenter.k8s.aws/instance-family`)."""
    return instance_type.split(".", 1)[0]


def offered_in(region: str, instance_types: list[str]) -> list[str] | None:
    """The given types the region offers, in order; None when mlplatform has no list for the region."""
    offered = REGION_GPU_OFFERINGS.get(region)
    return None if offered is None else [t for t in instance_types if t in offered]
