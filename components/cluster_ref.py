"""The cluster as ONE object, as pulumi-eks passes `cluster`.

Every component that runs on the cluster takes `cluster: ClusterLike | None` (a `Cluster`, or a
`ClusterRef` for a cluster made elsewhere) and reads what it needs from it: the name, the IAM OIDC
provider and issuer (IRSA), the Kubernetes provider and the cluster security group. The loose fields
those components took before (`cluster_name`, `oidc_provider_arn`, `oidc_issuer_url`, `k8s_provider`,
`cluster_security_group_id`) keep working; giving one of them AND a `cluster` that has it is refused,
except a component's own client security group, which may differ from the cluster's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pulumi

from ._common import ValidationError


class ClusterLike(Protocol):
    """What a component reads of a cluster; `Cluster` and `ClusterRef` both have it."""

    cluster_name: Any
    oidc_provider_arn: Any
    oidc_issuer_url: Any
    provider: Any
    cluster_security_group_id: Any


@dataclass(frozen=True)
class ClusterRef:
    """A cluster mlplatform did not create, described by its outputs.

    Fields:
        cluster_name (Input[str], required): the EKS cluster's name.
        oidc_provider_arn (Input[str] | None, default None): its IAM OIDC provider (IRSA roles).
        oidc_issuer_url (Input[str] | None, default None): its OIDC issuer URL.
        provider (ProviderResource | None, default None): its Kubernetes provider; None: the ambient kubeconfig.
        cluster_security_group_id (Input[str] | None, default None): the EKS cluster security group.
    """

    cluster_name: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str] | None = None
    oidc_issuer_url: pulumi.Input[str] | None = None
    provider: pulumi.ProviderResource | None = None
    cluster_security_group_id: pulumi.Input[str] | None = None


# Args field -> the cluster attribute it is read from.
FROM_CLUSTER = {
    "cluster_name": "cluster_name",
    "oidc_provider_arn": "oidc_provider_arn",
    "oidc_issuer_url": "oidc_issuer_url",
    "k8s_provider": "provider",
    "cluster_security_group_id": "cluster_security_group_id",
    "client_security_group_id": "cluster_security_group_id",
}
OVERRIDABLE = frozenset({"client_security_group_id"})  # a component's own choice, the cluster's by default

A = TypeVar("A")


def resolve_cluster(args: A) -> A:
    """`args` with its loose cluster fields read from `args.cluster` (a copy; `args` is unchanged)."""
    cluster = getattr(args, "cluster", None)
    if cluster is None:
        return args
    needed = ("cluster_name", "oidc_provider_arn", "oidc_issuer_url", "provider")
    missing = [a for a in needed if not hasattr(cluster, a)]
    if missing:
        raise ValidationError(
            "cluster",
            f"{type(cluster).__name__} has no {', '.join(missing)}",
            "pass the stack's Cluster, or a ClusterRef(cluster_name=..., oidc_provider_arn=...)",
        )
    model_fields = getattr(type(args), "model_fields", None)  # an Args pydantic model, or a dataclass
    names = set(model_fields) if model_fields is not None else {f.name for f in dataclasses.fields(args)}  # type: ignore[arg-type]
    filled: dict[str, Any] = {}
    for field_name, attr in FROM_CLUSTER.items():
        if field_name not in names:
            continue
        given, value = getattr(args, field_name), getattr(cluster, attr, None)
        if value is None or given is value:  # the cluster does not know it (an adopted cluster's security group)
            continue
        if given is not None:
            if field_name in OVERRIDABLE:
                continue
            raise ValidationError(
                field_name,
                "is given together with cluster",
                f"pass cluster alone (its {attr} is used), or drop cluster",
            )
        filled[field_name] = value
    if model_fields is not None:
        return args.model_copy(update=filled)  # type: ignore[attr-defined]
    return dataclasses.replace(args, **filled)  # type: ignore[type-var]  # a dataclass instance
