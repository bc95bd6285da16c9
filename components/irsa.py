"""One IAM role for service accounts (IRSA), the way every component makes it.

`irsa_role(...)` creates the role trusted by the cluster's OIDC provider for exactly the given
service account(s) (`sub` and `aud` pinned, `_common.irsa_trust_policy`), its inline policies and its
managed-policy attachments. It returns the role and those policy resources: put `policies` in the
`depends_on` of whatever runs under the role (Helm release, EKS add-on), so the pods never start
without their permissions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from ._common import ValidationError, child, irsa_trust_policy, policy_json


@dataclass
class IrsaRole:
    role: aws.iam.Role
    policies: list[pulumi.Resource] = field(default_factory=list)

    @property
    def arn(self) -> pulumi.Output[str]:
        return self.role.arn


def trust_policy(oidc_provider_arn: str, oidc_issuer_url: str, subjects: Sequence[tuple[str, str]]) -> str:
    """The trust policy of an IRSA role for one or more (namespace, service account) subjects."""
    if len(subjects) == 1:
        return irsa_trust_policy(oidc_provider_arn, oidc_issuer_url, *subjects[0])
    return policy_json(
        [
            json.loads(irsa_trust_policy(oidc_provider_arn, oidc_issuer_url, ns, sa))["Statement"][0]
            for ns, sa in subjects
        ]
    )


def irsa_role(
    parent: pulumi.Resource,
    resource_name: str,
    oidc_provider_arn: pulumi.Input[str] | None,
    oidc_issuer_url: pulumi.Input[str] | None,
    subjects: Sequence[tuple[str, str]],
    *,
    policies: Mapping[str, pulumi.Input[str]] | None = None,
    managed_policy_arns: Mapping[str, pulumi.Input[str]] | None = None,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    **role_args: Any,
) -> IrsaRole:
    """The IRSA role `resource_name` for `subjects` [(namespace, service account)], with inline
    `policies` {resource name: policy JSON} and `managed_policy_arns` {resource name: policy ARN}.
    The OIDC provider and issuer are required (components check them before any child; a cluster
    without them cannot host IRSA roles)."""
    if oidc_provider_arn is None or oidc_issuer_url is None:
        missing = "oidc_provider_arn" if oidc_provider_arn is None else "oidc_issuer_url"
        raise ValidationError(missing, "required for an IRSA role", "pass cluster=<the Cluster> (it has both)")
    subjects = list(subjects)
    role = aws.iam.Role(
        resource_name,
        description=description,
        assume_role_policy=pulumi.Output.all(oidc_provider_arn, oidc_issuer_url).apply(
            lambda v: trust_policy(v[0], v[1], subjects)
        ),
        tags=dict(tags) if tags is not None else None,
        opts=child(parent),
        **role_args,
    )
    out = IrsaRole(role)
    for policy_name, policy in (policies or {}).items():
        out.policies.append(aws.iam.RolePolicy(policy_name, role=role.id, policy=policy, opts=child(parent)))
    for attachment_name, arn in (managed_policy_arns or {}).items():
        out.policies.append(
            aws.iam.RolePolicyAttachment(attachment_name, role=role.name, policy_arn=arn, opts=child(parent))
        )
    return out
