"""The inputs of `TeamSpace` (components/team_space.py), Pulumi-free: each of the stack spec's `teams:`
entries is built from `TeamQuotas`."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from . import Args, Section

MLFLOW_POD_PORT = 5000


class TeamQuotas(Section):
    """A team's ResourceQuota: the fields `TeamSpaceArgs` and a stack's `teams:` entry share.

    Fields:
        gpu_quota (int, default 0): most GPUs (`requests.nvidia.com/gpu`) the team's pods request at once.
        cpu_quota (int, default 8): most CPU cores the team's pods request at once.
        memory_quota_gib (int, default 32): most memory (GiB) the team's pods request at once.
        pvc_quota (int, default 10): most PersistentVolumeClaims in the namespace.
        storage_quota_gib (int, default 500): most storage (GiB) all the team's PVCs request together.
    All are whole numbers >= 0.
    """

    gpu_quota: int = Field(0, ge=0)
    cpu_quota: int = Field(8, ge=0)
    memory_quota_gib: int = Field(32, ge=0)
    pvc_quota: int = Field(10, ge=0)
    storage_quota_gib: int = Field(500, ge=0)


class TeamSpaceArgs(TeamQuotas, Args):
    """Inputs of `TeamSpace`: `TeamQuotas` plus the fields below.

    Fields:
        team (str, required): the team's name, a DNS-1123 label (lowercase letters, digits, '-'); it is
            the namespace, the Kubernetes group `mlplatform:team:<team>` and the S3/ECR prefix. Not one
            of RESERVED_NAMESPACES nor `kube-*`.
        registry (ArtifactRegistry, required): the stack's registry; the IRSA role reaches its bucket
            under `teams/<team>/` only.
        ecr_repository_prefix (str, required): the registry's repository prefix (the
            `ArtifactRegistryArgs.repository_prefix` it was made with, e.g. "mlplatform/dev"); the role
            may push and pull `<prefix>/teams/<team>/*`.
        cluster_name (Input[str] | None, default None): EKS cluster the access entries go into; required
            when `principals` is not empty.
        cluster (Cluster | ClusterRef | None, default None): the cluster; its name, OIDC provider, issuer
            and Kubernetes provider fill cluster_name, oidc_provider_arn, oidc_issuer_url and k8s_provider
            (those loose fields are kept for existing programs).
        oidc_provider_arn (Input[str] | None, default None): the cluster's IAM OIDC provider
            (`Cluster.oidc_provider_arn`); required without `cluster`.
        oidc_issuer_url (Input[str] | None, default None): its issuer URL (`Cluster.oidc_issuer_url`);
            required without `cluster`.
        k8s_provider (pulumi.ProviderResource | None, default None): the cluster's Kubernetes provider
            (`Cluster.provider`); None: the ambient kubeconfig.
        principals (list[str], default []): IAM role/user ARNs (`arn:aws:iam::<account>:role/<name>`) of
            the team's members, each mapped to the team's group through an EKS access entry. An IAM
            principal can have only one access entry per cluster: list it in one team only.
        mlflow_namespace (str, default "mlflow"): namespace of the MLflow server the team's pods may reach.
        mlflow_port (int, default 5000): MLflow's pod (container) port.
        monitoring_namespace (str, default "monitoring"): namespace of the Prometheus that scrapes
            served models (pods labelled `mlplatform.io/model-metrics: "true"`, port `metrics`).
        runners (TeamRunners | None, default None): the team's own runner scale sets; None: none.
        tags (dict[str, str], default {}): extra tags on every AWS resource.
    """

    team: str
    registry: Any
    ecr_repository_prefix: str
    oidc_provider_arn: Any = None
    oidc_issuer_url: Any = None
    cluster_name: Any = None
    k8s_provider: Any = None
    principals: list[str] = []
    mlflow_namespace: str = "mlflow"
    mlflow_port: int = MLFLOW_POD_PORT
    monitoring_namespace: str = "monitoring"
    runners: Any = None  # team_space.TeamRunners (it holds the CiRunners component)
    tags: dict[str, str] = {}
    cluster: Any = None
