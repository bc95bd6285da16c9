"""Your own Pulumi program, using two mlplatform components directly.

Not every team wants the whole platform: this one has its own EKS cluster elsewhere and wants only
a network for its training jobs and the artifact registry (images + model artifacts).

    pulumi stack init dev && pulumi config set aws:region eu-west-1 && pulumi preview
"""

import pulumi

from mlplatform.components.artifact_registry import ArtifactRegistry, ArtifactRegistryArgs
from mlplatform.components.network import Network, NetworkArgs

network = Network("training", NetworkArgs(az_count=2, nat_gateways="single", tags={"team": "vision"}))

registry = ArtifactRegistry("vision", ArtifactRegistryArgs(
    repositories=["trainer", "models"],
    repository_prefix="vision",
    keep_tagged_images=50,
    tags={"team": "vision"},
))

pulumi.export("vpc_id", network.vpc_id)
pulumi.export("private_subnet_ids", network.private_subnet_ids)
pulumi.export("artifact_bucket", registry.bucket_name)
pulumi.export("repository_urls", registry.repository_urls)
