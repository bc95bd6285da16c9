"""ModelServing: the Argo Rollouts controller, the canary analysis templates and the serving namespaces.

`mlplatform:serving:ModelServing`. Per model objects (Rollout, Services, Ingress, PodMonitor, PDB) are
not Pulumi resources: `mlplatform serve render` writes them from `models/<name>/release.yaml` and
`serving.models.<name>`, and the publish workflow applies them (stacks/project/serving.py).
"""

from .args import ExistingRollouts, ModelServingArgs, ServedModel, ServingSettings
from .component import ModelServing

__all__ = ["ExistingRollouts", "ModelServing", "ModelServingArgs", "ServedModel", "ServingSettings"]
