"""Small helpers every component shares: tags, child options, IAM documents."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from .args import ValidationError as ValidationError  # defined with the Args models (Pulumi-free)

# Re-exported only for components/gpu_node_pool.py, which branch `bounds` is turning into a package that
# imports them from .conventions; drop these once that lands. Everything else imports .conventions.
from .conventions import AUTOSCALED_TAG as AUTOSCALED_TAG
from .conventions import GPU_LABEL as GPU_LABEL
from .conventions import GPU_NODE_AFFINITY as GPU_NODE_AFFINITY
from .conventions import GPU_TAINT as GPU_TAINT
from .conventions import GPU_TOLERATION as GPU_TOLERATION
from .conventions import MANAGED_BY, PART_OF
from .conventions import POOL_LABEL as POOL_LABEL
from .conventions import SYSTEM_NODE_SELECTOR as SYSTEM_NODE_SELECTOR
from .conventions import SYSTEM_POOL as SYSTEM_POOL


def tags(name: str, extra: Mapping[str, str] | None = None, **more: str) -> dict[str, str]:
    """The tags every AWS resource gets: ownership (the orphan sweep finds leftovers by it) + user's."""
    out = {"mlplatform:managed-by": MANAGED_BY, "mlplatform:component": name}
    out.update(extra or {})
    out.update(more)
    return out


def child(parent: pulumi.Resource, **kwargs: Any) -> pulumi.ResourceOptions:
    """Options for a component's child: parented to it, plus any extra option."""
    return pulumi.ResourceOptions(parent=parent, **kwargs)


def policy_json(statements: Sequence[Mapping[str, Any]]) -> str:
    """An IAM policy document as JSON (statements are plain dicts)."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def assume_role_service(*services: str) -> str:
    """Trust policy letting AWS services (for example `ec2.amazonaws.com`) assume a role."""
    return policy_json(
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": list(services) if len(services) > 1 else services[0]},
                "Action": "sts:AssumeRole",
            }
        ]
    )


def irsa_trust_policy(oidc_provider_arn: str, oidc_issuer_url: str, namespace: str, service_account: str) -> str:
    """Trust policy for IAM Roles for Service Accounts, pinned to one service account.

    `sub` and `aud` sit in ONE `StringEquals` block: two blocks with the same key would silently keep
    only one of them.
    """
    host = oidc_issuer_url.removeprefix("https://")
    return policy_json(
        [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{host}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ]
    )


def kms_key(
    parent: pulumi.Resource,
    resource_name: str,
    alias: str,
    description: str,
    resource_tags: Mapping[str, str],
    protect: bool,
    **extra: Any,
) -> Any:
    """A customer-managed KMS key (rotation on, 30-day deletion window, protected) and its alias."""
    import pulumi_aws as aws

    key = aws.kms.Key(
        resource_name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        tags=dict(resource_tags),
        opts=child(parent, protect=protect),
        **extra,
    )
    aws.kms.Alias(resource_name, name=f"alias/{alias}", target_key_id=key.key_id, opts=child(parent))
    return key


def secure_bucket(
    parent: pulumi.Resource,
    resource_name: str,
    bucket: Any,
    key_arn: pulumi.Input[str],
) -> Any:
    """The settings every mlplatform bucket gets, as `bucket`'s children named `resource_name`: public
    access blocked, owner-enforced object ownership (no ACLs), versioning on, SSE-KMS by default with
    the customer-managed key `key_arn` and a bucket key (SSE-C refused), and a bucket policy denying
    any request not made over TLS. The policy waits for the public access block (S3 answers
    OperationAborted to a policy while the block is being applied).

    Returns the BucketVersioning (what needs a versioned bucket, object lock, depends on it).
    """
    import pulumi_aws as aws

    public_access = aws.s3.BucketPublicAccessBlock(
        resource_name,
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child(parent),
    )
    aws.s3.BucketOwnershipControls(
        resource_name,
        bucket=bucket.id,
        rule={"object_ownership": "BucketOwnerEnforced"},
        opts=child(parent),
    )
    versioning = aws.s3.BucketVersioning(
        resource_name,
        bucket=bucket.id,
        versioning_configuration={"status": "Enabled"},
        opts=child(parent),
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        resource_name,
        bucket=bucket.id,
        rules=[
            {
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": "aws:kms",
                    "kms_master_key_id": key_arn,
                },
                "bucket_key_enabled": True,
                "blocked_encryption_types": ["SSE-C"],
            }
        ],
        opts=child(parent),
    )
    aws.s3.BucketPolicy(
        resource_name,
        bucket=bucket.id,
        policy=bucket.arn.apply(
            lambda arn: policy_json(
                [
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [arn, f"{arn}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ]
            )
        ),
        opts=child(parent, depends_on=[public_access]),
    )
    return versioning


def namespace(
    parent: pulumi.Resource,
    resource_name: str,
    name: str,
    provider: pulumi.ProviderResource | None,
    enforce: str,
    audit: str | None = None,
    warn: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> Any:
    """A Namespace labelled as mlplatform's, with its Pod Security Admission levels."""
    import pulumi_kubernetes as k8s

    psa = {
        f"pod-security.kubernetes.io/{mode}": level
        for mode, level in (("enforce", enforce), ("audit", audit), ("warn", warn))
        if level
    }
    return k8s.core.v1.Namespace(
        resource_name,
        metadata={"name": name, "labels": {**PART_OF, **(labels or {}), **psa}},
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )


def helm_release(
    parent: pulumi.Resource,
    name: str,
    chart: str,
    namespace: str,
    values: Any,
    provider: pulumi.ProviderResource | None,
    create_namespace: bool = True,
    depends_on: Sequence[pulumi.Resource] = (),
) -> Any:
    """A Helm release of a chart pinned in versions.HELM_CHARTS (version and repository from there)."""
    import pulumi_kubernetes as k8s

    from .versions import HELM_CHARTS

    version, repo = HELM_CHARTS[chart]
    oci = repo.startswith("oci://")
    return k8s.helm.v3.Release(
        name,
        name=name[:53],
        chart=f"{repo}/{chart}" if oci else chart,
        version=version,
        repository_opts=None if oci else k8s.helm.v3.RepositoryOptsArgs(repo=repo),
        namespace=namespace,
        create_namespace=create_namespace,
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        timeout=900,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on)),
    )
